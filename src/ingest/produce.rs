//! Producing chat into Kafka: synthetic messages, or a replay of a file of raw IRC lines or
//! JSON lines, keyed by channel, optionally at a fixed rate.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::{IngestError, synthetic};

/// A producer for `bootstrap`, with the profile's librdkafka properties.
pub fn producer(
    bootstrap: &str,
    properties: &std::collections::BTreeMap<String, String>,
) -> Result<BaseProducer, IngestError> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set("enable.idempotence", "true");
    for (k, v) in properties {
        config.set(k, v);
    }
    config
        .create()
        .map_err(|source| IngestError::Client { what: "producer", source })
}

/// The partition a key goes to when Silt picks it (the embedded cluster): FNV-1a, so the
/// same chat lands at the same offsets every run.
pub fn partition_of(key: &str, partitions: i32) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in key.as_bytes() {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    (h % partitions.max(1) as u32) as i32
}

/// Paces sending at `rate` messages per second (none: as fast as possible).
struct Pace {
    rate: Option<f64>,
    start: Instant,
}

impl Pace {
    fn wait(&self, sent: u64) {
        if let Some(rate) = self.rate.filter(|r| *r > 0.0) {
            let due = self.start + Duration::from_secs_f64(sent as f64 / rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
    }
}

/// Sends one message, waiting for room in the producer's queue when it is full.
fn send(
    producer: &BaseProducer,
    topic: &str,
    key: &str,
    value: &[u8],
    partition: Option<i32>,
) -> Result<(), IngestError> {
    loop {
        let mut record = BaseRecord::to(topic).key(key).payload(value);
        if let Some(p) = partition {
            record = record.partition(p);
        }
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((rdkafka::error::KafkaError::MessageProduction(
                rdkafka::types::RDKafkaErrorCode::QueueFull,
            ), _)) => {
                producer.poll(Duration::from_millis(50));
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

/// Which partition each message goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioning {
    /// librdkafka's partitioner, by key.
    Broker,
    /// Silt's stable hash of the key over this many partitions (chat stays in order per
    /// channel, at the same offsets every time).
    ByKey(i32),
    /// Message `i` to partition `i % n`: even spread, for benchmarks.
    RoundRobin(i32),
}

/// Sends synthetic chat messages `from..to` of `seed` to `topic`.
#[allow(clippy::too_many_arguments)]
pub fn synthetic(
    producer: &BaseProducer,
    topic: &str,
    seed: u64,
    from: u64,
    to: u64,
    partitioning: Partitioning,
    rate: Option<f64>,
    stop: &AtomicBool,
) -> Result<u64, IngestError> {
    let pace = Pace {
        rate,
        start: Instant::now(),
    };
    let mut sent = 0;
    for i in from..to {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let m = synthetic::message(seed, i);
        let partition = match partitioning {
            Partitioning::Broker => None,
            Partitioning::ByKey(n) => Some(partition_of(&m.key, n)),
            Partitioning::RoundRobin(n) => Some((i % n.max(1) as u64) as i32),
        };
        send(producer, topic, &m.key, m.value.as_bytes(), partition)?;
        sent += 1;
        if sent % 1000 == 0 {
            producer.poll(Duration::ZERO);
        }
        pace.wait(sent);
    }
    flush(producer)?;
    Ok(sent)
}

/// Sends each line of `text` (raw IRC lines, turned into chat JSON, or JSON lines as they
/// are) to `topic`. Returns (messages sent, lines skipped and why).
pub fn replay(
    producer: &BaseProducer,
    topic: &str,
    text: &str,
    rate: Option<f64>,
    stop: &AtomicBool,
) -> Result<(u64, Vec<(usize, String)>), IngestError> {
    let pace = Pace {
        rate,
        start: Instant::now(),
    };
    let mut sent = 0;
    let mut skipped = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let (key, value) = if line.trim_start().starts_with('{') {
            // A JSON line: keyed by its channel when it has one.
            let key = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("channel").and_then(|c| c.as_str()).map(str::to_owned))
                .unwrap_or_default();
            (key, line.to_owned())
        } else {
            match super::irc::parse_line(line).and_then(|m| super::irc::chat_json(&m)) {
                Some((channel, json)) => (channel, json),
                None => {
                    skipped.push((n + 1, "not a PRIVMSG".to_owned()));
                    continue;
                }
            }
        };
        send(producer, topic, &key, value.as_bytes(), None)?;
        sent += 1;
        if sent % 1000 == 0 {
            producer.poll(Duration::ZERO);
        }
        pace.wait(sent);
    }
    flush(producer)?;
    Ok((sent, skipped))
}

/// Waits until every message sent is acknowledged.
pub fn flush(producer: &BaseProducer) -> Result<(), IngestError> {
    producer
        .flush(Duration::from_secs(60))
        .map_err(|e| IngestError::Broker(format!("messages were not delivered: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_stable() {
        assert_eq!(partition_of("xqc", 3), partition_of("xqc", 3));
        let spread: std::collections::HashSet<i32> = ["xqc", "shroud", "pokimane", "lirik", "summit1g"]
            .iter()
            .map(|k| partition_of(k, 3))
            .collect();
        assert!(spread.len() >= 2);
    }
}
