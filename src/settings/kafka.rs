//! The `kafka:` section of a profile target: where the brokers are, the consumer group,
//! properties passed through to librdkafka, how batches flush, and what the embedded
//! cluster holds.
//!
//! ```yaml
//! kafka:
//!   bootstrap_servers: embedded      # or host:port,host:port
//!   group_id: silt
//!   properties: {security.protocol: SASL_SSL}
//!   flush: {messages: 50000, bytes: 16777216, interval_ms: 1000}
//!   embedded: {messages: 20000, seed: 7, partitions: 3}
//! ```

use std::collections::BTreeMap;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::yaml::{Node, YamlDoc};

/// Kafka connection and batching settings of a target.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaSettings {
    /// `embedded`, or a comma-separated list of `host:port`.
    pub bootstrap_servers: String,
    pub group_id: String,
    /// Passed to librdkafka as they are (security, SASL, timeouts...).
    pub properties: BTreeMap<String, String>,
    pub flush: FlushPolicy,
    pub embedded: EmbeddedSettings,
    /// Values larger than this are kept but not parsed (`PARSE_ERROR`).
    pub max_value_bytes: usize,
}

/// When a batch is committed: whichever limit is reached first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPolicy {
    pub messages: usize,
    pub bytes: usize,
    pub interval_ms: u64,
}

impl Default for FlushPolicy {
    fn default() -> Self {
        // Moderate batches: each is held twice (read, then written as Parquet) and a
        // commit costs milliseconds, so tens of thousands of messages a batch keep memory
        // small without commits dominating.
        FlushPolicy {
            messages: 50_000,
            bytes: 16 * 1024 * 1024,
            interval_ms: 1_000,
        }
    }
}

/// What the embedded cluster is fed: a synthetic chat sample, the same every time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedSettings {
    pub messages: u64,
    pub seed: u64,
    pub partitions: i32,
}

impl Default for EmbeddedSettings {
    fn default() -> Self {
        EmbeddedSettings {
            messages: 20_000,
            seed: 7,
            partitions: 3,
        }
    }
}

impl KafkaSettings {
    pub fn is_embedded(&self) -> bool {
        self.bootstrap_servers.trim() == "embedded"
    }
}

const KEYS: &[&str] = &[
    "bootstrap_servers",
    "group_id",
    "properties",
    "flush",
    "embedded",
    "max_value_bytes",
];

fn positive(doc: &YamlDoc, node: &Node, what: &str, diags: &mut Diagnostics) -> Option<u64> {
    match node
        .as_i64()
        .or_else(|| node.as_str().and_then(|s| s.trim().parse().ok()))
    {
        Some(n) if n >= 1 => Some(n as u64),
        _ => {
            diags.push(
                Diagnostic::error(format!("`{what}` must be a whole number of at least 1"))
                    .with_span(doc.span(node.id)),
            );
            None
        }
    }
}

fn unknown(doc: &YamlDoc, key: &str, id: crate::yaml::NodeId, known: &[&str], within: &str) -> Diagnostic {
    Diagnostic::error(format!("unknown key `{key}` in {within}"))
        .with_span(doc.span(id))
        .with_suggestion(key, known.iter().copied())
}

/// Reads a target's `kafka:` mapping (already rendered).
pub fn read(doc: &YamlDoc, node: &Node, diags: &mut Diagnostics) -> Option<KafkaSettings> {
    let Some(entries) = node.as_map() else {
        diags.push(
            Diagnostic::error(format!("`kafka` must be a mapping, not {}", node.kind()))
                .with_span(doc.span(node.id)),
        );
        return None;
    };
    let mut s = KafkaSettings {
        bootstrap_servers: String::new(),
        group_id: "silt".into(),
        properties: BTreeMap::new(),
        flush: FlushPolicy::default(),
        embedded: EmbeddedSettings::default(),
        max_value_bytes: 1024 * 1024,
    };
    let before = diags.len();
    for e in entries {
        let v = &e.value;
        match e.key.as_str() {
            "bootstrap_servers" => match v.scalar_text() {
                Some(t) if !t.trim().is_empty() => s.bootstrap_servers = t.trim().to_owned(),
                _ => diags.push(
                    Diagnostic::error("`bootstrap_servers` must be `embedded` or `host:port,host:port`")
                        .with_span(doc.span(v.id)),
                ),
            },
            "group_id" => match v.scalar_text() {
                Some(t) if !t.trim().is_empty() => s.group_id = t.trim().to_owned(),
                _ => diags.push(
                    Diagnostic::error("`group_id` must be a name").with_span(doc.span(v.id)),
                ),
            },
            "max_value_bytes" => {
                if let Some(n) = positive(doc, v, "max_value_bytes", diags) {
                    s.max_value_bytes = n as usize;
                }
            }
            "properties" => match v.as_map() {
                Some(props) => {
                    for p in props {
                        match p.value.scalar_text() {
                            Some(t) => {
                                s.properties.insert(p.key.clone(), t);
                            }
                            None => diags.push(
                                Diagnostic::error(format!(
                                    "librdkafka property `{}` must be a single value",
                                    p.key
                                ))
                                .with_span(doc.span(p.value.id)),
                            ),
                        }
                    }
                }
                None if v.is_null() => {}
                None => diags.push(
                    Diagnostic::error("`properties` must map librdkafka settings to values")
                        .with_span(doc.span(v.id)),
                ),
            },
            "flush" => {
                const FLUSH: &[&str] = &["messages", "bytes", "interval_ms"];
                for f in v.as_map().unwrap_or(&[]) {
                    let Some(n) = (FLUSH.contains(&f.key.as_str()))
                        .then(|| positive(doc, &f.value, &format!("flush.{}", f.key), diags))
                    else {
                        diags.push(unknown(doc, &f.key, f.key_id, FLUSH, "`kafka.flush`"));
                        continue;
                    };
                    let Some(n) = n else { continue };
                    match f.key.as_str() {
                        "messages" => s.flush.messages = n as usize,
                        "bytes" => s.flush.bytes = n as usize,
                        _ => s.flush.interval_ms = n,
                    }
                }
            }
            "embedded" => {
                const EMB: &[&str] = &["messages", "seed", "partitions"];
                for f in v.as_map().unwrap_or(&[]) {
                    match f.key.as_str() {
                        "seed" => match f.value.as_i64() {
                            Some(n) if n >= 0 => s.embedded.seed = n as u64,
                            _ => diags.push(
                                Diagnostic::error("`embedded.seed` must be a whole number")
                                    .with_span(doc.span(f.value.id)),
                            ),
                        },
                        "messages" => {
                            if let Some(n) = positive(doc, &f.value, "embedded.messages", diags) {
                                s.embedded.messages = n;
                            }
                        }
                        "partitions" => {
                            if let Some(n) = positive(doc, &f.value, "embedded.partitions", diags) {
                                s.embedded.partitions = n.min(1024) as i32;
                            }
                        }
                        other => diags.push(unknown(doc, other, f.key_id, EMB, "`kafka.embedded`")),
                    }
                }
            }
            other => diags.push(unknown(doc, other, e.key_id, KEYS, "`kafka`")),
        }
    }
    if s.bootstrap_servers.is_empty() {
        diags.push(
            Diagnostic::error("`kafka` needs `bootstrap_servers` (`embedded` runs an in-process cluster)")
                .with_span(doc.span(node.id)),
        );
    }
    (diags.len() == before).then_some(s)
}
