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

/// Peak resident memory of this process so far (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn raw_consume(bootstrap: &str, partitions: i32, n: u64) -> (f64, u64) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench-raw")
        .set("enable.auto.commit", "false")
        .set("queued.max.messages.kbytes", "65536")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(TOPIC, p, Offset::Beginning).unwrap();
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
    let n: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
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
        "produced {n} messages over {partitions} partitions in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    let source = Arc::new(silt::project::kafka::KafkaSource {
        topics: vec![TOPIC.to_owned()],
        format: silt::project::kafka::PayloadFormat::Json,
        contract: vec![
            silt::project::kafka::ContractField { name: "channel".into(), kind: silt::project::kafka::FieldType::String, required: true },
            silt::project::kafka::ContractField { name: "message".into(), kind: silt::project::kafka::FieldType::String, required: true },
            silt::project::kafka::ContractField { name: "sent_at".into(), kind: silt::project::kafka::FieldType::Timestamp, required: true },
        ],
    });
    let settings = silt::settings::kafka::KafkaSettings {
        bootstrap_servers: bootstrap.clone(),
        group_id: "bench".into(),
        properties: Default::default(),
        flush: Default::default(),
        embedded: Default::default(),
        max_value_bytes: 1024 * 1024,
    };
    for run in 1..=runs {
        let (raw_secs, bytes) = if std::env::var_os("BENCH_SKIP_RAW").is_some() {
            (f64::NAN, 0)
        } else {
            raw_consume(&bootstrap, partitions, n)
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
        let start = Instant::now();
        let progress = silt::ingest::run(&[target], &settings, &bootstrap, &opts, Arc::new(silt::ingest::Quiet))
            .expect("ingest");
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(progress[0].rows_committed, n, "every message in bronze");
        let mb = bytes as f64 / 1e6;
        println!(
            "run {run}: raw rdkafka {:.0} msg/s ({:.1} MB/s); silt ingest {:.0} msg/s ({:.1} MB/s), {} commits; silt/raw {:.2}; peak RSS so far {:.0} MiB",
            n as f64 / raw_secs,
            mb / raw_secs,
            n as f64 / secs,
            mb / secs,
            progress[0].commits,
            raw_secs / secs,
            peak_rss_mib()
        );
    }
}
