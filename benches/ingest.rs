//! Ingestion benchmark: N synthetic chat messages (default 1,000,000) in librdkafka's mock
//! cluster, consumed (a) raw with rdkafka, discarding each message, and
//! (b) by Silt into a bronze Delta table, exactly once. Prints messages/s, MB/s and peak
//! memory of each, side by side in one run.
//!
//!     cargo bench --bench ingest -- [N] [RUNS]
//!
//! (`bench/ingest/run.sh` runs it and is what BENCHMARKS.md quotes.)

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

const TOPIC: &str = "chat-events";

// As in the `silt` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A line of /proc/self/status, in MiB.
fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Runs `f` and returns its result with the peak memory it added to the process, in MiB:
/// the high-water mark is reset first (`clear_refs`), so the mock cluster's copy of the
/// messages, resident before and after, is not counted.
fn with_peak<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let base = status_mib("VmRSS:");
    let out = f();
    (out, status_mib("VmHWM:") - base)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn raw_consume(bootstrap: &str, partitions: i32, n: u64) -> (f64, u64) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench-raw")
        .set("enable.auto.commit", "false")
        // The prefetch settings Silt's consumer uses.
        .set("queued.max.messages.kbytes", "32768")
        .set("fetch.queue.backoff.ms", "20")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(TOPIC, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let start = Instant::now();
    let (mut count, mut bytes) = (0u64, 0u64);
    let mut last = Instant::now();
    while count < n {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            count += 1;
            bytes += m.payload().map_or(0, <[u8]>::len) as u64;
            last = Instant::now();
        }
        if last.elapsed() > Duration::from_secs(30) {
            let held: i64 = (0..partitions)
                .map(|p| {
                    consumer
                        .fetch_watermarks(TOPIC, p, Duration::from_secs(5))
                        .map_or(0, |(l, h)| h - l)
                })
                .sum();
            panic!("raw consumer stalled at {count} of {n}; the cluster holds {held} messages");
        }
    }
    (start.elapsed().as_secs_f64(), bytes)
}

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| !a.starts_with("--")).collect();
    let n: u64 = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    // The mock cluster keeps at most 5 MB (or 100,000 messages) per partition and drops
    // the oldest beyond that: spread the sample so that nothing is dropped before it is read.
    let partitions = (n.div_ceil(8_000) as i32).max(3);
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic(TOPIC, partitions, 1).expect("topic");
    let bootstrap = cluster.bootstrap_servers();
    let producer = silt::ingest::produce::producer(&bootstrap, &Default::default()).unwrap();
    let started = Instant::now();
    silt::ingest::produce::synthetic(
        &producer,
        TOPIC,
        7,
        0,
        n,
        silt::ingest::produce::Partitioning::RoundRobin(partitions),
        None,
        &AtomicBool::new(false),
    )
    .expect("produce");
    eprintln!(
        "produced {n} messages over {partitions} partitions in {:.1}s; the process (mock cluster included) holds {:.0} MiB",
        started.elapsed().as_secs_f64(),
        status_mib("VmRSS:")
    );

    let source = Arc::new(silt::project::kafka::KafkaSource {
        topics: vec![TOPIC.to_owned()],
        format: silt::project::kafka::PayloadFormat::Json,
        contract: vec![
            silt::project::kafka::ContractField {
                name: "channel".into(),
                kind: silt::project::kafka::FieldType::String,
                required: true,
            },
            silt::project::kafka::ContractField {
                name: "message".into(),
                kind: silt::project::kafka::FieldType::String,
                required: true,
            },
            silt::project::kafka::ContractField {
                name: "sent_at".into(),
                kind: silt::project::kafka::FieldType::Timestamp,
                required: true,
            },
        ],
    });
    let settings = silt::settings::kafka::KafkaSettings {
        bootstrap_servers: bootstrap.clone(),
        group_id: "bench".into(),
        properties: std::env::var("BENCH_PROPS")
            .unwrap_or_default()
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        // BENCH_FLUSH="messages,bytes" overrides the default batch limits.
        flush: match std::env::var("BENCH_FLUSH").ok().and_then(|v| {
            let (m, b) = v.split_once(',')?;
            Some((m.parse().ok()?, b.parse().ok()?))
        }) {
            Some((messages, bytes)) => silt::settings::kafka::FlushPolicy {
                messages,
                bytes,
                ..Default::default()
            },
            None => Default::default(),
        },
        embedded: Default::default(),
        max_value_bytes: 1024 * 1024,
    };
    let (mut raw_rates, mut silt_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut raw_mem, mut silt_mem) = (Vec::new(), Vec::new());
    let mut megabytes = 0.0;
    for run in 1..=runs {
        let ((raw_secs, bytes), raw_peak) = if std::env::var_os("BENCH_SKIP_RAW").is_some() {
            ((f64::NAN, 0), f64::NAN)
        } else {
            with_peak(|| raw_consume(&bootstrap, partitions, n))
        };
        let dir = tempfile::tempdir().unwrap();
        let target = silt::ingest::IngestTarget {
            name: "bench.chat".into(),
            unique_id: format!("source.bench.chat.run{run}"),
            dir: dir.path().join("bronze/chat"),
            source: source.clone(),
        };
        let opts = silt::ingest::IngestOptions {
            until_caught_up: true,
            exclusive: true,
            ..Default::default()
        };
        let ((progress, secs), silt_peak) = with_peak(|| {
            let start = Instant::now();
            let progress = silt::ingest::run(
                &[target],
                &settings,
                &bootstrap,
                &opts,
                Arc::new(silt::ingest::Quiet),
            )
            .expect("ingest");
            (progress, start.elapsed().as_secs_f64())
        });
        assert_eq!(progress[0].rows_committed, n, "every message in bronze");
        megabytes = progress[0].bytes as f64 / 1e6;
        if bytes > 0 {
            assert_eq!(bytes, progress[0].bytes, "both read the same values");
        }
        println!(
            "run {run}: raw rdkafka {:.0} msg/s ({:.1} MB/s, peak +{:.0} MiB); silt ingest {:.0} msg/s ({:.1} MB/s, peak +{:.0} MiB, {} commits); silt/raw {:.2}",
            n as f64 / raw_secs,
            megabytes / raw_secs,
            raw_peak,
            n as f64 / secs,
            megabytes / secs,
            silt_peak,
            progress[0].commits,
            raw_secs / secs,
        );
        raw_rates.push(n as f64 / raw_secs);
        silt_rates.push(n as f64 / secs);
        ratios.push(raw_secs / secs);
        raw_mem.push(raw_peak);
        silt_mem.push(silt_peak);
    }
    println!(
        "median of {runs}: raw rdkafka {:.0} msg/s ({:.1} MB/s), peak +{:.0} MiB; silt ingest {:.0} msg/s ({:.1} MB/s), peak +{:.0} MiB; silt/raw {:.2}",
        median(raw_rates.clone()),
        median(raw_rates) * megabytes / n as f64,
        median(raw_mem),
        median(silt_rates.clone()),
        median(silt_rates) * megabytes / n as f64,
        median(silt_mem),
        median(ratios)
    );
}
