//! YAML documents with source locations, the one module that uses `yaml_serde`.
//!
//! dbt project files are validated long after they are parsed (a typo'd key, a `ref` to a
//! missing model, a value of the wrong kind), and every such error must name the file, line
//! and column. `yaml_serde` values carry no positions, but its deserializer attaches the
//! position of the node being read to any error raised while reading it. So a document is
//! parsed once into a [`Node`] tree whose nodes remember their path, and a position is found
//! only when a diagnostic needs one, by replaying the text with a probe that walks to that
//! path and raises an error there ([`YamlDoc::locate`]). Parsing semantics (anchors, aliases,
//! merge keys, scalars) are therefore exactly `yaml_serde`'s, with no second YAML parser.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use yaml_serde::Value as RawValue;

use crate::diagnostic::{Diagnostic, Span};

/// A parsed YAML value. Map keys are strings, in document order.
#[derive(Debug, Clone, PartialEq)]
pub enum Yaml {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// A value with the id of its path in the document.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Yaml,
    pub id: NodeId,
}

/// A map entry: the key (with its own id, to point at the key itself) and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_id: NodeId,
    pub value: Node,
}

/// Identifies a node (or a map key) of one [`YamlDoc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId(u32);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// One YAML file: its display name, text and parsed tree.
#[derive(Debug, Clone)]
pub struct YamlDoc {
    pub file: String,
    pub source: Arc<str>,
    pub root: Node,
}

impl YamlDoc {
    /// Parses `source`. An empty file is a null document.
    pub fn parse(
        file: impl Into<String>,
        source: impl Into<Arc<str>>,
    ) -> Result<YamlDoc, Diagnostic> {
        let file = file.into();
        let source: Arc<str> = source.into();
        let mut raw: RawValue = if source.trim().is_empty() {
            RawValue::Null
        } else {
            yaml_serde::from_str(&source).map_err(|e| syntax_error(&file, &source, &e))?
        };
        raw.apply_merge()
            .map_err(|e| syntax_error(&file, &source, &e))?;
        let mut next_id = 0;
        let root = convert(&raw, &mut next_id);
        Ok(YamlDoc { file, source, root })
    }

    /// The source position of a node or key; falls back to the nearest ancestor that can be
    /// found in the text (a key brought in by a merge `<<` has no text of its own).
    pub fn locate(&self, id: NodeId) -> Option<(usize, usize)> {
        let (mut segs, mut is_key) = self.path_of(id)?;
        loop {
            if let Some(found) = probe(&self.source, &segs, is_key) {
                return Some(found);
            }
            // Try the enclosing value (a key's own path is its value's path).
            if is_key {
                is_key = false;
            } else {
                segs.pop()?;
            }
        }
    }

    /// A span for a node: its line and column, underlining a scalar or key's text.
    pub fn span(&self, id: NodeId) -> Span {
        match self.locate(id) {
            Some((line, column)) => {
                let text = self.source.lines().nth(line - 1).unwrap_or("");
                let rest: String = text.chars().skip(column - 1).collect();
                let is_key = self.path_of(id).is_some_and(|(_, k)| k);
                let len = token_len(&rest, is_key);
                Span::at(self.file.clone(), &self.source, line, column, len)
            }
            None => Span::file(self.file.clone()),
        }
    }

    /// A human path to a node, such as `models[2].columns[0].data_tests`.
    pub fn path_string(&self, id: NodeId) -> String {
        let segs = self.path_of(id).map(|(s, _)| s).unwrap_or_default();
        let mut out = String::new();
        for seg in segs {
            match seg {
                Seg::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(&k);
                }
                Seg::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }

    /// The keys and indexes from the root to a node, and whether the id is a map key's.
    /// Found by a search of the tree: only diagnostics need it, so nothing is stored per node.
    fn path_of(&self, id: NodeId) -> Option<(Vec<Seg>, bool)> {
        fn search(node: &Node, id: NodeId, path: &mut Vec<Seg>) -> Option<bool> {
            if node.id == id {
                return Some(false);
            }
            match &node.value {
                Yaml::Seq(items) => {
                    for (i, item) in items.iter().enumerate() {
                        path.push(Seg::Index(i));
                        if let Some(k) = search(item, id, path) {
                            return Some(k);
                        }
                        path.pop();
                    }
                }
                Yaml::Map(entries) => {
                    for e in entries {
                        path.push(Seg::Key(e.key.clone()));
                        if e.key_id == id {
                            return Some(true);
                        }
                        if let Some(k) = search(&e.value, id, path) {
                            return Some(k);
                        }
                        path.pop();
                    }
                }
                _ => {}
            }
            None
        }
        let mut path = Vec::new();
        let is_key = search(&self.root, id, &mut path)?;
        Some((path, is_key))
    }
}

fn token_len(rest: &str, is_key: bool) -> usize {
    let quoted = rest.starts_with('"') || rest.starts_with('\'');
    let len = if is_key {
        // A key runs up to its colon.
        rest.find(':').map_or(rest.len(), |i| i)
    } else if quoted {
        let q = rest.chars().next().unwrap_or('"');
        rest[1..].find(q).map_or(rest.len(), |i| i + 2)
    } else if rest.starts_with('[') || rest.starts_with('{') {
        rest.trim_end().len()
    } else {
        rest.find(" #").unwrap_or(rest.len())
    };
    rest[..len.min(rest.len())]
        .trim_end()
        .chars()
        .count()
        .max(1)
}

fn syntax_error(file: &str, source: &str, e: &yaml_serde::Error) -> Diagnostic {
    let message = e.to_string();
    // yaml_serde appends " at line L column C"; the span carries that instead.
    let message = match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    };
    let span = match e.location() {
        Some(loc) => Span::at(file, source, loc.line(), loc.column(), 1),
        None => Span::file(file),
    };
    Diagnostic::error(format!("invalid YAML: {message}")).with_span(span)
}

fn convert(mut raw: &RawValue, next_id: &mut u32) -> Node {
    // A custom tag (`!foo`) means nothing to dbt; keep the value under it.
    while let RawValue::Tagged(tagged) = raw {
        raw = &tagged.value;
    }
    let mut new_id = || {
        let id = NodeId(*next_id);
        *next_id += 1;
        id
    };
    let id = new_id();
    let value = match raw {
        RawValue::Null => Yaml::Null,
        RawValue::Bool(b) => Yaml::Bool(*b),
        RawValue::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Int(i),
            None => Yaml::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        RawValue::String(s) => Yaml::String(s.clone()),
        RawValue::Sequence(items) => Yaml::Seq(items.iter().map(|item| convert(item, next_id)).collect()),
        RawValue::Mapping(map) => Yaml::Map(
            map.iter()
                .map(|(k, v)| {
                    let key = scalar_to_string(k);
                    let key_id = NodeId(*next_id);
                    *next_id += 1;
                    let value = convert(v, next_id);
                    Entry { key, key_id, value }
                })
                .collect(),
        ),
        // Tags were stripped above.
        RawValue::Tagged(_) => Yaml::Null,
    };
    Node { value, id }
}

fn scalar_to_string(v: &RawValue) -> String {
    match v {
        RawValue::String(s) => s.clone(),
        RawValue::Bool(b) => b.to_string(),
        RawValue::Number(n) => n.to_string(),
        RawValue::Null => "null".to_owned(),
        RawValue::Tagged(t) => scalar_to_string(&t.value),
        other => yaml_serde::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

// ---------------------------------------------------------------------------------------
// Locating a path by replaying the text.

const PROBE: &str = "\u{0}silt-probe";

fn probe(source: &str, segs: &[Seg], is_key: bool) -> Option<(usize, usize)> {
    let de = yaml_serde::Deserializer::from_str(source);
    match (Probe {
        path: segs,
        key: is_key,
    })
    .deserialize(de)
    {
        Err(e) if e.to_string().contains(PROBE) => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

struct Probe<'a> {
    path: &'a [Seg],
    key: bool,
}

impl<'de> DeserializeSeed<'de> for Probe<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.path.is_empty() {
            d.deserialize_any(Raise)
        } else {
            d.deserialize_any(self)
        }
    }
}

impl<'de> Visitor<'de> for Probe<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((Seg::Key(target), rest)) = self.path.split_first() else {
            return skip_map(map);
        };
        let raise_on_key = rest.is_empty() && self.key;
        while let Some(found) = map.next_key_seed(KeyProbe {
            target,
            raise: raise_on_key,
        })? {
            if found {
                map.next_value_seed(Probe {
                    path: rest,
                    key: self.key,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((Seg::Index(target), rest)) = self.path.split_first() else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let mut i = 0;
        loop {
            let more = if i == *target {
                seq.next_element_seed(Probe {
                    path: rest,
                    key: self.key,
                })?
                .is_some()
            } else {
                seq.next_element::<IgnoredAny>()?.is_some()
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        // A tagged value: walk into the value under the tag.
        let (_, variant) = data.variant::<IgnoredAny>()?;
        de::VariantAccess::newtype_variant_seed(variant, self)
    }
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Reads a key; says whether it is the one looked for, raising the probe there if asked.
struct KeyProbe<'a> {
    target: &'a str,
    raise: bool,
}

impl<'de> DeserializeSeed<'de> for KeyProbe<'_> {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyProbe<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        let hit = v == self.target;
        if hit && self.raise {
            return Err(E::custom(PROBE));
        }
        Ok(hit)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<bool, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        self.visit_str("null")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<bool, A::Error> {
        skip_map(map).map(|_| false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

/// Raises the probe at whatever node it is asked to read.
struct Raise;

impl<'de> Visitor<'de> for Raise {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(PROBE))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(PROBE))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(PROBE))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(PROBE))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(PROBE))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(PROBE))
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(PROBE))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(PROBE))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(PROBE))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(PROBE))
    }
}

// ---------------------------------------------------------------------------------------
// Reading values.

impl Node {
    pub fn is_null(&self) -> bool {
        matches!(self.value, Yaml::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Yaml::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.value {
            Yaml::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self.value {
            Yaml::Int(i) => Some(i),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Yaml::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Yaml::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value under `key` of a map.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|e| e.key == key)
            .map(|e| &e.value)
    }

    /// The entry for `key` of a map.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.as_map()?.iter().find(|e| e.key == key)
    }

    /// A scalar as text, the way a YAML author would read it (`1` -> "1", `true` -> "true").
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Yaml::String(s) => Some(s.clone()),
            Yaml::Bool(b) => Some(b.to_string()),
            Yaml::Int(i) => Some(i.to_string()),
            Yaml::Float(f) => Some(f.to_string()),
            Yaml::Null | Yaml::Seq(_) | Yaml::Map(_) => None,
        }
    }

    /// What kind of value this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Yaml::Null => "null",
            Yaml::Bool(_) => "a boolean",
            Yaml::Int(_) => "an integer",
            Yaml::Float(_) => "a number",
            Yaml::String(_) => "a string",
            Yaml::Seq(_) => "a list",
            Yaml::Map(_) => "a mapping",
        }
    }

    /// The value as JSON, for configs and artifacts.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Yaml::Null => J::Null,
            Yaml::Bool(b) => J::Bool(*b),
            Yaml::Int(i) => J::from(*i),
            Yaml::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Yaml::String(s) => J::String(s.clone()),
            Yaml::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Yaml::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }

    /// Visits every node under this one, itself included, depth first.
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Node)) {
        f(self);
        match &self.value {
            Yaml::Seq(items) => items.iter().for_each(|n| n.walk(f)),
            Yaml::Map(entries) => entries.iter().for_each(|e| e.value.walk(f)),
            _ => {}
        }
    }

    /// Rewrites every string scalar in place (used to render Jinja inside YAML values).
    pub fn map_strings<E>(
        &mut self,
        f: &mut dyn FnMut(&str, NodeId) -> Result<Option<String>, E>,
    ) -> Result<(), E> {
        match &mut self.value {
            Yaml::String(s) => {
                if let Some(new) = f(s, self.id)? {
                    *s = new;
                }
            }
            Yaml::Seq(items) => {
                for item in items {
                    item.map_strings(f)?;
                }
            }
            Yaml::Map(entries) => {
                for e in entries {
                    e.value.map_strings(f)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// YAML text that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    #[error("{0}")]
    Yaml(#[from] yaml_serde::Error),
    /// YAML that has no JSON equivalent.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

/// Parses a YAML or JSON string given on the command line (`--vars`) into JSON.
pub fn parse_inline(text: &str) -> Result<serde_json::Value, YamlError> {
    if text.trim().is_empty() {
        return Ok(serde_json::Value::Object(Default::default()));
    }
    let raw: RawValue = yaml_serde::from_str(text)?;
    Ok(serde_json::to_value(&raw)?)
}

/// Serializes JSON as YAML text (for `toyaml` in templates).
pub fn to_yaml_string(value: &serde_json::Value) -> Result<String, YamlError> {
    Ok(yaml_serde::to_string(value)?)
}

/// Parses YAML text into JSON (for `fromyaml` in templates).
pub fn from_yaml_string(text: &str) -> Result<serde_json::Value, YamlError> {
    let mut raw: RawValue = yaml_serde::from_str(text)?;
    raw.apply_merge()?;
    Ok(serde_json::to_value(&raw)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
version: 2
models:
  - name: orders
    description: \"all orders\"
    columns:
      - name: id
        data_tests: [unique, not_null]
      - name: status
        unnnique_key: 3
";

    fn find<'a>(n: &'a Node, path: &[&str]) -> &'a Node {
        let mut cur = n;
        for p in path {
            cur = match p.parse::<usize>() {
                Ok(i) => &cur.as_seq().unwrap()[i],
                Err(_) => cur.get(p).unwrap(),
            };
        }
        cur
    }

    #[test]
    fn locates_values_and_keys() {
        let doc = YamlDoc::parse("schema.yml", DOC).unwrap();
        let desc = find(&doc.root, &["models", "0", "description"]);
        assert_eq!(doc.locate(desc.id), Some((4, 18)));
        let col = find(&doc.root, &["models", "0", "columns", "1"]);
        let entry = col.entry("unnnique_key").unwrap();
        assert_eq!(doc.locate(entry.key_id), Some((9, 9)));
        let span = doc.span(entry.key_id);
        assert_eq!(span.len, "unnnique_key".len());
        assert_eq!(
            doc.path_string(entry.key_id),
            "models[0].columns[1].unnnique_key"
        );
        let tests = find(
            &doc.root,
            &["models", "0", "columns", "0", "data_tests", "1"],
        );
        assert_eq!(doc.locate(tests.id), Some((7, 30)));
    }

    #[test]
    fn merge_keys_fall_back_to_the_map() {
        let src = "base: &b\n  x: 1\nthing:\n  <<: *b\n  y: 2\n";
        let doc = YamlDoc::parse("f.yml", src).unwrap();
        let thing = doc.root.get("thing").unwrap();
        let x = thing.entry("x").unwrap();
        assert_eq!(x.value.as_i64(), Some(1));
        // `x` is not written under `thing`: the position is that of `thing`'s map.
        assert_eq!(doc.locate(x.key_id), Some((4, 3)));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = YamlDoc::parse("bad.yml", "a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.message.starts_with("invalid YAML"), "{}", err.message);
        assert!(err.span.unwrap().line >= 1);
    }
}
