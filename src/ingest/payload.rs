//! What a message's value becomes in bronze: the value itself (text, or raw bytes when it
//! is not UTF-8) and, when it does not hold what the source declares, why. Nothing is
//! dropped: a bad message is a row with `PARSE_ERROR` and its reason.

use crate::project::kafka::{ContractField, FieldType, KafkaSource, PayloadFormat};
use serde_json::Value;

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

fn check_json(text: &str, contract: &[ContractField]) -> Option<String> {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Some(format!("invalid JSON: {e}")),
    };
    let Value::Object(map) = value else {
        return Some(format!("JSON {} where an object was expected", kind(&value)));
    };
    for field in contract {
        match map.get(&field.name) {
            None | Some(Value::Null) => {
                if field.required {
                    return Some(format!("field `{}` is required", field.name));
                }
            }
            Some(v) => {
                if let Some(why) = type_problem(v, field.kind) {
                    return Some(format!("field `{}` {why}", field.name));
                }
            }
        }
    }
    None
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn type_problem(v: &Value, want: FieldType) -> Option<String> {
    let ok = match want {
        FieldType::Any => true,
        FieldType::String => v.is_string(),
        FieldType::Integer => v.is_i64() || v.is_u64(),
        FieldType::Number => v.is_number(),
        FieldType::Boolean => v.is_boolean(),
        FieldType::Object => v.is_object(),
        FieldType::Array => v.is_array(),
        FieldType::Timestamp => match v {
            Value::String(s) => {
                return (!is_timestamp(s)).then(|| {
                    format!("must be a timestamp (RFC 3339, such as 2024-03-01T20:00:08Z), not `{s}`")
                });
            }
            Value::Number(n) => n.is_i64(),
            _ => false,
        },
    };
    (!ok).then(|| format!("must be {}, not {}", article(want), kind(v)))
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
