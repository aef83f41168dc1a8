//! Kafka into bronze, exactly once, against librdkafka's mock cluster (the real Kafka
//! protocol on loopback, in this process): every message lands once, at its offset, bad
//! messages included, across restarts, rebalances and offsets that no longer line up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use silt::ingest::{IngestError, IngestOptions, Progress, Quiet, Reset};

use crate::support::{fixture, load, query};

/// Ingests the fixture's Kafka sources: from the embedded cluster, or from `bootstrap`.
fn ingest(
    d: &std::path::Path,
    bootstrap: Option<&str>,
    opts: &IngestOptions,
) -> Result<Vec<Progress>, IngestError> {
    let loaded = load(d, None);
    let targets = silt::ingest::targets(&loaded.parsed, &loaded.graph, None);
    assert_eq!(targets.len(), 1);
    match bootstrap {
        None => silt::ingest::ingest_project(&loaded.parsed, &targets, opts, Arc::new(Quiet)),
        Some(b) => {
            let settings = loaded.parsed.project.settings.target.kafka.clone().expect("kafka settings");
            silt::ingest::run(&targets, &settings, b, opts, Arc::new(Quiet))
        }
    }
}

fn caught_up() -> IngestOptions {
    IngestOptions {
        until_caught_up: true,
        ..Default::default()
    }
}

/// (partition, offset) of every bronze row, sorted.
fn offsets(d: &std::path::Path) -> Vec<(i64, i64)> {
    let (_, rows) = query(d, "select partition, \"offset\" from bronze.events");
    let mut out: Vec<(i64, i64)> = rows
        .iter()
        .map(|r| (r[0].parse().unwrap(), r[1].parse().unwrap()))
        .collect();
    out.sort();
    out
}

/// Each offset of each partition once, from 0 up: nothing lost, nothing doubled.
fn assert_exactly_once(d: &std::path::Path, expected: usize) {
    let got = offsets(d);
    assert_eq!(got.len(), expected, "bronze rows");
    let mut by_partition: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
    for (p, o) in got {
        by_partition.entry(p).or_default().push(o);
    }
    for (p, offs) in by_partition {
        let want: Vec<i64> = (0..offs.len() as i64).collect();
        assert_eq!(offs, want, "partition {p}: offsets must be 0..n, each once");
    }
}

fn table_version(d: &std::path::Path) -> Option<u64> {
    let rt = silt::runtime::runtime(None).expect("runtime");
    rt.block_on(async {
        silt::exec::storage::open(&d.join("warehouse/bronze/events"))
            .await
            .ok()
            .and_then(|t| t.version())
    })
}

fn cluster(partitions: i32) -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    let c = MockCluster::new(1).expect("mock cluster");
    c.create_topic("chat-events", partitions, 1).expect("topic");
    c
}

fn producer(bootstrap: &str) -> BaseProducer {
    silt::ingest::produce::producer(bootstrap, &Default::default()).expect("producer")
}

fn synthetic(p: &BaseProducer, from: u64, to: u64) {
    let never = AtomicBool::new(false);
    silt::ingest::produce::synthetic(p, "chat-events", 5, from, to, silt::ingest::produce::Partitioning::Broker, None, &never).expect("produce");
}

#[test]
fn embedded_cluster_gives_every_message_once_and_a_second_run_finds_nothing() {
    let dir = fixture("kafka");
    let d = dir.path();
    let first = ingest(d, None, &caught_up()).expect("ingest");
    assert_eq!(first[0].messages, 3000);
    assert_eq!(first[0].rows_committed, 3000);
    assert_eq!(first[0].parse_errors, 0);
    assert!(first[0].commits >= 4, "flush at 700 messages: {} commits", first[0].commits);
    assert_exactly_once(d, 3000);
    let (_, ok) = query(d, "select count(*) from bronze.events where parse_status = 'OK' and payload is not null and ingest_date is not null");
    assert_eq!(ok, vec![vec!["3000".to_owned()]]);
    // The embedded cluster holds the same messages at the same offsets every run.
    let version = table_version(d);
    let second = ingest(d, None, &caught_up()).expect("ingest again");
    assert_eq!(second[0].messages, 0);
    assert_eq!(table_version(d), version, "nothing new: nothing written");
    // A longer sample extends the shorter one: only the new messages are read.
    let profiles = d.join("profiles.yml");
    let text = std::fs::read_to_string(&profiles).unwrap();
    std::fs::write(&profiles, text.replace("messages: 3000", "messages: 4000")).unwrap();
    let third = ingest(d, None, &caught_up()).expect("ingest more");
    assert_eq!(third[0].messages, 1000);
    assert_exactly_once(d, 4000);
}

#[test]
fn bad_messages_are_rows_with_their_reasons() {
    let dir = fixture("kafka");
    let d = dir.path();
    let c = cluster(1);
    let b = c.bootstrap_servers();
    let p = producer(&b);
    let big = format!(
        r#"{{"channel":"a","message":"{}","sent_at":"2024-03-01T20:00:00Z"}}"#,
        "x".repeat(3000)
    );
    let corpus: Vec<(Option<&[u8]>, Option<&str>)> = vec![
        (Some(br#"{"channel":"a","message":"hi","sent_at":"2024-03-01T20:00:00Z"}"#), None),
        (Some(b"{\"channel\": \"a\", "), Some("invalid JSON: EOF while parsing a value at line 1 column 17")),
        (Some(b"[1, 2]"), Some("JSON an array where an object was expected")),
        (Some(br#"{"channel":"a","sent_at":"2024-03-01T20:00:00Z"}"#), Some("field `message` is required")),
        (Some(br#"{"channel":7,"message":"m","sent_at":"2024-03-01T20:00:00Z"}"#), Some("field `channel` must be a string, not an integer")),
        (Some(br#"{"channel":"a","message":"m","sent_at":"soon"}"#), Some("field `sent_at` must be a timestamp (RFC 3339, such as 2024-03-01T20:00:08Z), not `soon`")),
        (Some(br#"{"channel":"a","message":"m","sent_at":"2024-03-01T20:00:00Z","is_subscriber":"yes"}"#), Some("field `is_subscriber` must be a boolean, not a string")),
        (None, Some("null value (a tombstone or an empty message)")),
        (Some(b"\xc3\x28 not utf-8"), Some("value is not valid UTF-8 (at byte 0)")),
        (Some(big.as_bytes()), Some("value is 3061 bytes, over max_value_bytes (2000); kept unparsed")),
    ];
    for (value, _) in &corpus {
        let mut record: BaseRecord<str, [u8]> = BaseRecord::to("chat-events").key("k");
        if let Some(v) = value {
            record = record.payload(v);
        }
        p.send(record).map_err(|(e, _)| e).expect("send");
    }
    p.flush(Duration::from_secs(10)).expect("flush");
    let progress = ingest(d, Some(&b), &caught_up()).expect("ingest");
    assert_eq!(progress[0].messages, corpus.len() as u64);
    assert_eq!(progress[0].parse_errors, corpus.len() as u64 - 1);
    let (_, rows) = query(
        d,
        "select \"offset\", parse_status, coalesce(parse_error, ''), payload is null, payload_raw is null from bronze.events order by \"offset\"",
    );
    for (i, (value, want)) in corpus.iter().enumerate() {
        let row = &rows[i];
        assert_eq!(row[0], i.to_string());
        assert_eq!(row[1], if want.is_some() { "PARSE_ERROR" } else { "OK" }, "offset {i}");
        assert_eq!(row[2], want.unwrap_or(""), "offset {i}");
        // The value is kept: as text when it is UTF-8, as bytes when not, null when null.
        let utf8 = value.is_some_and(|v| std::str::from_utf8(v).is_ok());
        assert_eq!(row[3], (!utf8).to_string(), "payload of offset {i}");
        assert_eq!(row[4], (utf8 || value.is_none()).to_string(), "payload_raw of offset {i}");
    }
}

#[test]
fn an_interrupted_ingestion_resumes_where_bronze_says() {
    let dir = fixture("kafka");
    let d = dir.path();
    let c = cluster(3);
    let b = c.bootstrap_servers();
    let p = producer(&b);
    synthetic(&p, 0, 5000);
    let stopped = ingest(
        d,
        Some(&b),
        &IngestOptions {
            max_messages: Some(1234),
            ..Default::default()
        },
    )
    .expect("first part");
    assert_eq!(stopped[0].rows_committed, 1234);
    synthetic(&p, 5000, 6000);
    let rest = ingest(d, Some(&b), &caught_up()).expect("the rest");
    assert_eq!(rest[0].rows_committed, 6000 - 1234);
    assert_exactly_once(d, 6000);
}

#[test]
fn two_ingesters_in_one_group_split_the_partitions_through_a_rebalance() {
    let dir = fixture("kafka");
    let d = dir.path().to_path_buf();
    let c = cluster(6);
    let b = c.bootstrap_servers();
    let p = producer(&b);
    synthetic(&p, 0, 3000);
    let stop_a = Arc::new(AtomicBool::new(false));
    let stop_b = Arc::new(AtomicBool::new(false));
    let run = |stop: Arc<AtomicBool>| {
        let (d, b) = (d.clone(), b.clone());
        std::thread::spawn(move || {
            ingest(
                &d,
                Some(&b),
                &IngestOptions {
                    stop,
                    ..Default::default()
                },
            )
        })
    };
    let a = run(stop_a.clone());
    // The second ingester joins while the first is busy: the group rebalances.
    std::thread::sleep(Duration::from_millis(1500));
    let second = run(stop_b.clone());
    for chunk in 0..10 {
        synthetic(&p, 3000 + chunk * 1000, 4000 + chunk * 1000);
        std::thread::sleep(Duration::from_millis(200));
    }
    let total = 13_000;
    let deadline = Instant::now() + Duration::from_secs(120);
    while offsets(&d).len() < total && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    stop_a.store(true, Ordering::Relaxed);
    stop_b.store(true, Ordering::Relaxed);
    let pa = a.join().expect("a").expect("ingester a");
    let pb = second.join().expect("b").expect("ingester b");
    assert!(pa[0].rows_committed > 0 && pb[0].rows_committed > 0, "both ingested: {} and {}", pa[0].rows_committed, pb[0].rows_committed);
    assert_exactly_once(&d, total);
}

#[test]
fn offsets_that_no_longer_line_up_stop_ingestion_unless_reset() {
    let dir = fixture("kafka");
    let d = dir.path();
    {
        let c = cluster(1);
        let b = c.bootstrap_servers();
        synthetic(&producer(&b), 0, 2000);
        ingest(d, Some(&b), &caught_up()).expect("first cluster");
    }
    // The topic is recreated, shorter: bronze has read past its end.
    let c = cluster(1);
    let b = c.bootstrap_servers();
    synthetic(&producer(&b), 0, 500);
    let err = ingest(d, Some(&b), &caught_up()).expect_err("must stop");
    let msg = err.to_string();
    assert!(
        msg.contains("offsets of `chat-events` partition 0 no longer line up")
            && msg.contains("read up to offset 2000 (exclusive)")
            && msg.contains("offsets 0 to 500 (exclusive)")
            && msg.contains("--reset-offsets"),
        "{msg}"
    );
    assert_eq!(offsets(d).len(), 2000, "nothing written");
    // Told to go on from the end, it records the new position and reads what comes next.
    let reset = ingest(
        d,
        Some(&b),
        &IngestOptions {
            until_caught_up: true,
            reset_offsets: Some(Reset::Latest),
            ..Default::default()
        },
    )
    .expect("reset");
    assert_eq!(reset[0].messages, 0);
    synthetic(&producer(&b), 500, 600);
    let after = ingest(d, Some(&b), &caught_up()).expect("after reset");
    assert_eq!(after[0].messages, 100);
    assert_eq!(offsets(d).len(), 2100);
}

#[test]
fn messages_deleted_by_retention_before_they_were_read_stop_ingestion() {
    let dir = fixture("kafka");
    let d = dir.path();
    let c = cluster(1);
    let b = c.bootstrap_servers();
    let p = producer(&b);
    synthetic(&p, 0, 100);
    ingest(d, Some(&b), &caught_up()).expect("first 100");
    // The mock cluster keeps a few megabytes per partition: big messages push the
    // partition's start past what bronze has read.
    let big = "x".repeat(4000);
    for _ in 0..2500 {
        loop {
            match p.send(BaseRecord::<str, str>::to("chat-events").key("k").payload(&big)) {
                Ok(()) => break,
                Err(_) => {
                    p.poll(Duration::from_millis(20));
                }
            }
        }
    }
    p.flush(Duration::from_secs(30)).expect("flush");
    let err = ingest(d, Some(&b), &caught_up()).expect_err("must stop").to_string();
    assert!(err.contains("retention deleted messages that were never ingested"), "{err}");
    assert!(err.contains("read up to offset 100 (exclusive)"), "{err}");
    assert_eq!(offsets(d).len(), 100, "nothing written");
    // With --reset-offsets earliest it goes on from the oldest message still there.
    let reset = ingest(
        d,
        Some(&b),
        &IngestOptions {
            until_caught_up: true,
            reset_offsets: Some(Reset::Earliest),
            ..Default::default()
        },
    )
    .expect("reset");
    assert!(reset[0].messages > 0 && reset[0].messages < 2500, "{}", reset[0].messages);
    assert_eq!(offsets(d).len() as u64, 100 + reset[0].messages);
}
