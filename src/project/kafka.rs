//! Kafka-fed source tables: the `kafka:` block of a source table in YAML, Silt's extension
//! for bronze ingestion.
//!
//! ```yaml
//! sources:
//!   - name: twitch
//!     schema: bronze
//!     tables:
//!       - name: chat_bronze
//!         kafka:
//!           topics: [twitch-chat]
//!           format: json              # or `text`: kept as it is, not parsed
//!           contract:                 # what a valid message holds
//!             - {name: channel, type: string, required: true}
//!             - {name: sent_at, type: timestamp, required: true}
//! ```

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::yaml::{Node, YamlDoc};

/// How a message's value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    /// A JSON object, checked against the contract.
    Json,
    /// UTF-8 text, not parsed.
    Text,
}

/// The JSON types a contract field can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    Integer,
    Number,
    Boolean,
    /// An RFC 3339 string (`2024-03-01T20:00:08Z`) or epoch milliseconds.
    Timestamp,
    Object,
    Array,
    /// Any JSON value.
    Any,
}

impl FieldType {
    const NAMES: &'static [&'static str] = &[
        "string", "integer", "number", "boolean", "timestamp", "object", "array", "any",
    ];

    fn parse(s: &str) -> Option<FieldType> {
        Some(match s.to_ascii_lowercase().as_str() {
            "string" | "text" | "varchar" => FieldType::String,
            "integer" | "int" | "bigint" | "long" => FieldType::Integer,
            "number" | "double" | "float" | "decimal" => FieldType::Number,
            "boolean" | "bool" => FieldType::Boolean,
            "timestamp" => FieldType::Timestamp,
            "object" | "map" | "struct" => FieldType::Object,
            "array" | "list" => FieldType::Array,
            "any" => FieldType::Any,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Timestamp => "timestamp",
            FieldType::Object => "object",
            FieldType::Array => "array",
            FieldType::Any => "any",
        }
    }
}

/// One field a valid message holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractField {
    pub name: String,
    pub kind: FieldType,
    pub required: bool,
}

/// A source table fed from Kafka topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSource {
    pub topics: Vec<String>,
    pub format: PayloadFormat,
    pub contract: Vec<ContractField>,
}

/// A Kafka topic name: letters, digits, `.`, `_`, `-`, at most 249 characters.
fn valid_topic(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 249
        && t != "."
        && t != ".."
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Reads a source table's `kafka:` block.
pub fn read(doc: &YamlDoc, node: &Node, diags: &mut Diagnostics) -> Option<KafkaSource> {
    const KEYS: &[&str] = &["topics", "format", "contract"];
    let Some(entries) = node.as_map() else {
        diags.push(
            Diagnostic::error(format!("`kafka` must be a mapping, not {}", node.kind()))
                .with_span(doc.span(node.id)),
        );
        return None;
    };
    let before = diags.len();
    let mut topics = Vec::new();
    let mut format = PayloadFormat::Json;
    let mut contract = Vec::new();
    for e in entries {
        let v = &e.value;
        match e.key.as_str() {
            "topics" => {
                let items: Vec<&Node> = match v.as_seq() {
                    Some(items) => items.iter().collect(),
                    None => vec![v],
                };
                for t in items {
                    match t.as_str() {
                        Some(name) if valid_topic(name) => topics.push(name.to_owned()),
                        _ => diags.push(
                            Diagnostic::error(
                                "a topic name is letters, digits, `.`, `_` and `-` (at most 249)",
                            )
                            .with_span(doc.span(t.id)),
                        ),
                    }
                }
            }
            "format" => match v.as_str() {
                Some("json") => format = PayloadFormat::Json,
                Some("text") => format = PayloadFormat::Text,
                _ => diags.push(
                    Diagnostic::error("`format` is `json` or `text`").with_span(doc.span(v.id)),
                ),
            },
            "contract" => {
                let Some(items) = v.as_seq() else {
                    diags.push(
                        Diagnostic::error("`contract` must be a list of fields")
                            .with_span(doc.span(v.id)),
                    );
                    continue;
                };
                for f in items {
                    const FIELD: &[&str] = &["name", "type", "required"];
                    for fe in f.as_map().unwrap_or(&[]) {
                        if !FIELD.contains(&fe.key.as_str()) {
                            diags.push(
                                Diagnostic::error(format!("unknown key `{}` in a contract field", fe.key))
                                    .with_span(doc.span(fe.key_id))
                                    .with_suggestion(&fe.key, FIELD.iter().copied()),
                            );
                        }
                    }
                    let Some(name) = f.get("name").and_then(Node::as_str) else {
                        diags.push(
                            Diagnostic::error("a contract field needs a `name`")
                                .with_span(doc.span(f.id)),
                        );
                        continue;
                    };
                    let kind = match f.get("type") {
                        None => FieldType::Any,
                        Some(t) => match t.as_str().and_then(FieldType::parse) {
                            Some(k) => k,
                            None => {
                                diags.push(
                                    Diagnostic::error(format!(
                                        "type of field `{name}` must be one of {}",
                                        FieldType::NAMES.join(", ")
                                    ))
                                    .with_span(doc.span(t.id))
                                    .with_suggestion(
                                        t.as_str().unwrap_or(""),
                                        FieldType::NAMES.iter().copied(),
                                    ),
                                );
                                continue;
                            }
                        },
                    };
                    let required = match f.get("required") {
                        None => false,
                        Some(r) => match r.as_bool() {
                            Some(b) => b,
                            None => {
                                diags.push(
                                    Diagnostic::error("`required` is true or false")
                                        .with_span(doc.span(r.id)),
                                );
                                false
                            }
                        },
                    };
                    if contract.iter().any(|c: &ContractField| c.name == name) {
                        diags.push(
                            Diagnostic::error(format!("field `{name}` is declared twice"))
                                .with_span(doc.span(f.id)),
                        );
                    }
                    contract.push(ContractField {
                        name: name.to_owned(),
                        kind,
                        required,
                    });
                }
            }
            other => diags.push(
                Diagnostic::error(format!("unknown key `{other}` in `kafka`"))
                    .with_span(doc.span(e.key_id))
                    .with_suggestion(other, KEYS.iter().copied()),
            ),
        }
    }
    if topics.is_empty() && diags.len() == before {
        diags.push(
            Diagnostic::error("a Kafka source needs `topics`").with_span(doc.span(node.id)),
        );
    }
    if format == PayloadFormat::Text && !contract.is_empty() {
        diags.push(
            Diagnostic::error("a `contract` checks JSON fields: it needs `format: json`")
                .with_span(doc.span(node.id)),
        );
    }
    (diags.len() == before).then_some(KafkaSource {
        topics,
        format,
        contract,
    })
}
