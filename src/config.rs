//! Node configs as plain data, and dbt's rules for merging them.
//!
//! A node's config comes from, in rising precedence: the project file's config tree (from
//! the project level down to the node's own folder), the `config:` of its YAML properties,
//! and `{{ config(...) }}` in its file. Most keys are replaced by the more specific source;
//! dbt merges a few instead (`BaseConfig.update_from` in dbt-common): `tags`, `pre-hook`,
//! `post-hook` and `packages` append; `meta`, `quoting`, `column_types`, `docs` and
//! `contract` merge key by key (one level deep); `grants` appends per key when the new key
//! starts with `+` and replaces it otherwise. Everything else, `persist_docs` included,
//! is replaced.

use indexmap::IndexMap;
use serde_json::Value;

/// Config keys to values, keyed without `+` and with `-` spellings of hooks normalised.
pub type ConfigMap = IndexMap<String, Value>;

/// Keys whose values accumulate across sources (lists).
const EXTEND_KEYS: &[&str] = &["tags", "pre-hook", "post-hook", "packages"];
/// Keys whose values merge key by key across sources (mappings).
const MERGE_KEYS: &[&str] = &["meta", "quoting", "docs", "contract", "column_types"];

/// The canonical spelling of a config key: no `+`, hooks with a dash as dbt stores them.
pub fn normalize_key(key: &str) -> String {
    let key = key.trim_start_matches('+');
    match key {
        "pre_hook" => "pre-hook".to_owned(),
        "post_hook" => "post-hook".to_owned(),
        _ => key.to_owned(),
    }
}

/// Applies `higher` on top of `base`, following dbt's merge rules.
pub fn merge_into(base: &mut ConfigMap, higher: &ConfigMap) {
    for (key, value) in higher {
        let key = normalize_key(key);
        if EXTEND_KEYS.contains(&key.as_str()) {
            let mut items = as_list(base.get(&key));
            items.extend(as_list(Some(value)));
            base.insert(key, Value::Array(items));
        } else if key == "grants" {
            let mut grants = match base.get(&key) {
                Some(Value::Object(m)) => m.clone(),
                _ => serde_json::Map::new(),
            };
            if let Value::Object(new) = value {
                for (k, v) in new {
                    match k.strip_prefix('+') {
                        Some(role) => {
                            let mut list = as_list(grants.get(role));
                            list.extend(as_list(Some(v)));
                            grants.insert(role.to_owned(), Value::Array(list));
                        }
                        None => {
                            grants.insert(k.clone(), Value::Array(as_list(Some(v))));
                        }
                    }
                }
            }
            base.insert(key, Value::Object(grants));
        } else if MERGE_KEYS.contains(&key.as_str()) {
            match (base.get_mut(&key), value) {
                (Some(Value::Object(existing)), Value::Object(new)) => {
                    for (k, v) in new {
                        existing.insert(k.clone(), v.clone());
                    }
                }
                _ => {
                    base.insert(key, value.clone());
                }
            }
        } else {
            base.insert(key, value.clone());
        }
    }
}

/// A config value that may be one string or a list of them, as a list.
pub fn as_list(value: Option<&Value>) -> Vec<Value> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
    }
}

/// A config value as a list of strings (`tags: x` or `tags: [x, y]`).
pub fn string_list(value: Option<&Value>) -> Vec<String> {
    as_list(value)
        .into_iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s),
            Value::Null => None,
            other => Some(other.to_string()),
        })
        .collect()
}

/// A config boolean: `true`, or the text a Jinja value renders to (`"True"`, `"false"`).
pub fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> ConfigMap {
        v.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    #[test]
    fn replaces_extends_and_merges() {
        let mut base =
            map(json!({"materialized": "view", "tags": ["a"], "meta": {"owner": "x", "tier": 1}}));
        merge_into(
            &mut base,
            &map(
                json!({"+materialized": "table", "tags": "b", "meta": {"tier": 2}, "post_hook": "select 1", "grants": {"select": ["r1"]}}),
            ),
        );
        merge_into(
            &mut base,
            &map(json!({"tags": ["a"], "grants": {"+select": "r2"}})),
        );
        assert_eq!(
            Value::Object(base.into_iter().collect()),
            json!({"materialized": "table", "tags": ["a", "b", "a"], "meta": {"owner": "x", "tier": 2}, "post-hook": ["select 1"], "grants": {"select": ["r1", "r2"]}})
        );
    }
}
