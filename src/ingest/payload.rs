//! What a message's value becomes in bronze: the value itself (text, or raw bytes when it
//! is not UTF-8) and, when it does not hold what the source declares, why. Nothing is
//! dropped: a bad message is a row with `PARSE_ERROR` and its reason.

use crate::project::kafka::{ContractField, FieldType, KafkaSource, PayloadFormat};

/// The verdict on one value: `None` when it is valid, else the reason.
pub fn check(value: Option<&[u8]>, source: &KafkaSource, max_bytes: usize) -> Option<String> {
    let Some(bytes) = value else {
        return Some("null value (a tombstone or an empty message)".into());
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            return Some(format!(
                "value is not valid UTF-8 (at byte {})",
                e.valid_up_to()
            ));
        }
    };
    if bytes.len() > max_bytes {
        return Some(format!(
            "value is {} bytes, over max_value_bytes ({max_bytes}); kept unparsed",
            bytes.len()
        ));
    }
    match source.format {
        PayloadFormat::Text => None,
        PayloadFormat::Json => check_json(text, &source.contract),
    }
}

/// Checks a JSON object against the contract in one pass over the text, without building
/// the value: fields outside the contract are skipped, those in it are only classified.
/// (This is the hot path of ingestion: a few hundred thousand messages a second.)
fn check_json(text: &str, contract: &[ContractField]) -> Option<String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let found = match serde::de::DeserializeSeed::deserialize(TopLevel { contract }, &mut de)
        .and_then(|found| de.end().map(|()| found))
    {
        Ok(found) => found,
        Err(e) => return Some(format!("invalid JSON: {e}")),
    };
    let found = match found {
        Ok(f) => f,
        Err(kind) => return Some(format!("JSON {kind} where an object was expected")),
    };
    for (field, seen) in contract.iter().zip(found) {
        match seen {
            None | Some(Kind::Null) => {
                if field.required {
                    return Some(format!("field `{}` is required", field.name));
                }
            }
            Some(k) => {
                if let Some(why) = kind_problem(&k, field.kind) {
                    return Some(format!("field `{}` {why}", field.name));
                }
            }
        }
    }
    None
}

/// What a contract field's value is.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Null,
    Bool,
    Integer,
    Float,
    /// A string; its text is kept only when a timestamp is wanted (to check it).
    Str(Option<String>),
    Array,
    Object,
}

impl Kind {
    fn describe(&self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool => "a boolean",
            Kind::Integer => "an integer",
            Kind::Float => "a number",
            Kind::Str(_) => "a string",
            Kind::Array => "an array",
            Kind::Object => "an object",
        }
    }
}

fn kind_problem(k: &Kind, want: FieldType) -> Option<String> {
    let ok = match want {
        FieldType::Any => true,
        FieldType::String => matches!(k, Kind::Str(_)),
        FieldType::Integer => matches!(k, Kind::Integer),
        FieldType::Number => matches!(k, Kind::Integer | Kind::Float),
        FieldType::Boolean => matches!(k, Kind::Bool),
        FieldType::Object => matches!(k, Kind::Object),
        FieldType::Array => matches!(k, Kind::Array),
        FieldType::Timestamp => match k {
            Kind::Str(Some(s)) => {
                return (!is_timestamp(s)).then(|| {
                    format!("must be a timestamp (RFC 3339, such as 2024-03-01T20:00:08Z), not `{s}`")
                });
            }
            Kind::Integer => true,
            _ => false,
        },
    };
    (!ok).then(|| format!("must be {}, not {}", article(want), k.describe()))
}

/// The top level: an object whose contract fields are classified, or the kind of what
/// stands there instead.
struct TopLevel<'c> {
    contract: &'c [ContractField],
}

impl<'de> serde::de::DeserializeSeed<'de> for TopLevel<'_> {
    type Value = Result<Vec<Option<Kind>>, &'static str>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for TopLevel<'_> {
    type Value = Result<Vec<Option<Kind>>, &'static str>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found: Vec<Option<Kind>> = vec![None; self.contract.len()];
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match self.contract.iter().position(|c| c.name == *key) {
                Some(i) => {
                    let keep_text = self.contract[i].kind == FieldType::Timestamp;
                    found[i] = Some(map.next_value_seed(Classify { keep_text })?);
                }
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(Ok(found))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Err("an array"))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Err("a string"))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Err("a boolean"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Err("an integer"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Err("an integer"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Err("a number"))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Err("null"))
    }
}

/// Classifies one value, skipping what it contains.
struct Classify {
    keep_text: bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for Classify {
    type Value = Kind;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Classify {
    type Value = Kind;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
        Ok(Kind::Object)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Kind::Array)
    }
    fn visit_str<E>(self, s: &str) -> Result<Kind, E> {
        Ok(Kind::Str(self.keep_text.then(|| s.to_owned())))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Kind, E> {
        Ok(Kind::Bool)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Kind, E> {
        Ok(Kind::Integer)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Kind, E> {
        Ok(Kind::Integer)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Kind, E> {
        Ok(Kind::Float)
    }
    fn visit_unit<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
}

fn article(t: FieldType) -> String {
    match t {
        FieldType::Integer | FieldType::Object | FieldType::Array => format!("an {}", t.as_str()),
        other => format!("a {}", other.as_str()),
    }
}

/// RFC 3339, or the `YYYY-MM-DD HH:MM:SS[.fff]` form warehouses print.
fn is_timestamp(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok()
        || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").is_ok()
        || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> KafkaSource {
        KafkaSource {
            topics: vec!["t".into()],
            format: PayloadFormat::Json,
            contract: vec![
                ContractField { name: "channel".into(), kind: FieldType::String, required: true },
                ContractField { name: "sent_at".into(), kind: FieldType::Timestamp, required: true },
                ContractField { name: "n".into(), kind: FieldType::Integer, required: false },
            ],
        }
    }

    fn verdict(v: &[u8]) -> Option<String> {
        check(Some(v), &source(), 100)
    }

    #[test]
    fn every_kind_of_bad_message_has_its_reason() {
        assert_eq!(verdict(br#"{"channel":"a","sent_at":"2024-03-01T20:00:08Z"}"#), None);
        assert_eq!(verdict(br#"{"channel":"a","sent_at":1709323208000,"n":3}"#), None);
        assert_eq!(check(None, &source(), 100).as_deref(), Some("null value (a tombstone or an empty message)"));
        assert_eq!(verdict(b"\xff\xfe{}").as_deref(), Some("value is not valid UTF-8 (at byte 0)"));
        assert!(verdict(b"{\"channel\": ").unwrap().starts_with("invalid JSON: EOF while parsing"));
        assert_eq!(verdict(b"[1,2]").as_deref(), Some("JSON an array where an object was expected"));
        assert_eq!(verdict(br#"{"sent_at":"2024-03-01T20:00:08Z"}"#).as_deref(), Some("field `channel` is required"));
        assert_eq!(verdict(br#"{"channel":null,"sent_at":"2024-03-01T20:00:08Z"}"#).as_deref(), Some("field `channel` is required"));
        assert_eq!(verdict(br#"{"channel":5,"sent_at":"2024-03-01T20:00:08Z"}"#).as_deref(), Some("field `channel` must be a string, not an integer"));
        assert_eq!(
            verdict(br#"{"channel":"a","sent_at":"yesterday"}"#).as_deref(),
            Some("field `sent_at` must be a timestamp (RFC 3339, such as 2024-03-01T20:00:08Z), not `yesterday`")
        );
        assert_eq!(verdict(br#"{"channel":"a","sent_at":"2024-03-01 20:00:08","n":1.5}"#).as_deref(), Some("field `n` must be an integer, not a number"));
        let big = format!("{{\"channel\":\"{}\",\"sent_at\":\"2024-03-01T20:00:08Z\"}}", "x".repeat(200));
        assert_eq!(
            verdict(big.as_bytes()).as_deref(),
            Some("value is 247 bytes, over max_value_bytes (100); kept unparsed")
        );
    }
}
