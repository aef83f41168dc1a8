//! JSON functions over text columns, as dbt users call them on DuckDB and Spark (bronze
//! keeps each Kafka message's JSON as text; silver extracts its fields):
//!
//! | function | returns |
//! |---|---|
//! | `json_extract_string(json, path)`, `get_json_object(json, path)` | the value as text: strings unquoted, numbers and booleans as written, objects and arrays as JSON; NULL when missing or null |
//! | `json_extract(json, path)` | the value as JSON text (`"a"` keeps its quotes) |
//! | `json_array_length(json[, path])` | the length of an array (NULL if not an array) |
//!
//! Paths: JSONPath (`$.user.name`, `$.emotes[0].name`, `$."odd key"`), a JSON pointer
//! (`/user/name`) or a bare key (`name`). Text that is not JSON is an error naming the
//! function and the value, as in DuckDB.

use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::common::{DataFusionError, Result, ScalarValue};
use deltalake::datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};
use deltalake::datafusion::prelude::SessionContext;
use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// A JSON path that cannot be read; the message says what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
struct PathError(String);

/// Parses a path.
fn parse_path(path: &str) -> std::result::Result<Vec<Step>, PathError> {
    let p = path.trim();
    if let Some(pointer) = p.strip_prefix('/') {
        return Ok(pointer
            .split('/')
            .map(|s| {
                let s = s.replace("~1", "/").replace("~0", "~");
                match s.parse::<usize>() {
                    Ok(i) => Step::Index(i),
                    Err(_) => Step::Key(s),
                }
            })
            .collect());
    }
    let Some(rest) = p.strip_prefix('$') else {
        // A bare key.
        return Ok(vec![Step::Key(p.to_owned())]);
    };
    let chars: Vec<char> = rest.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                if chars.get(i) == Some(&'"') {
                    let start = i + 1;
                    let end = (start..chars.len())
                        .find(|&j| chars[j] == '"')
                        .ok_or_else(|| PathError(format!("unclosed quote in JSON path `{path}`")))?;
                    steps.push(Step::Key(chars[start..end].iter().collect()));
                    i = end + 1;
                } else {
                    let start = i;
                    while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                        i += 1;
                    }
                    if start == i {
                        return Err(PathError(format!("empty key in JSON path `{path}`")));
                    }
                    steps.push(Step::Key(chars[start..i].iter().collect()));
                }
            }
            '[' => {
                let end = (i..chars.len())
                    .find(|&j| chars[j] == ']')
                    .ok_or_else(|| PathError(format!("unclosed `[` in JSON path `{path}`")))?;
                let inner: String = chars[i + 1..end].iter().collect();
                let inner = inner.trim();
                if let Some(q) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                    steps.push(Step::Key(q.to_owned()));
                } else if let Some(q) = inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
                    steps.push(Step::Key(q.to_owned()));
                } else {
                    let n = inner
                        .parse::<usize>()
                        .map_err(|_| PathError(format!("`[{inner}]` in JSON path `{path}` is not an array index")))?;
                    steps.push(Step::Index(n));
                }
                i = end + 1;
            }
            c => return Err(PathError(format!("unexpected `{c}` in JSON path `{path}` (paths look like `$.a.b[0]`)"))),
        }
    }
    Ok(steps)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    ExtractString,
    GetJsonObject,
    Extract,
    ArrayLength,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonFn {
    kind: Kind,
    signature: Signature,
}

/// Registers the JSON functions.
pub fn register(ctx: &SessionContext) {
    for kind in [Kind::ExtractString, Kind::GetJsonObject, Kind::Extract, Kind::ArrayLength] {
        let text = [DataType::Utf8, DataType::Utf8View, DataType::LargeUtf8];
        let mut shapes = Vec::new();
        for a in &text {
            for b in &text {
                shapes.push(TypeSignature::Exact(vec![a.clone(), b.clone()]));
            }
            if kind == Kind::ArrayLength {
                shapes.push(TypeSignature::Exact(vec![a.clone()]));
            }
        }
        ctx.register_udf(ScalarUDF::from(JsonFn {
            kind,
            signature: Signature::one_of(shapes, Volatility::Immutable),
        }));
    }
}

impl ScalarUDFImpl for JsonFn {
    fn name(&self) -> &str {
        match self.kind {
            Kind::ExtractString => "json_extract_string",
            Kind::GetJsonObject => "get_json_object",
            Kind::Extract => "json_extract",
            Kind::ArrayLength => "json_array_length",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::ArrayLength => DataType::Int64,
            _ => DataType::Utf8,
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let texts = |i: usize| -> Result<ArrayRef> { cast(&args.args[i].to_array(rows)?, &DataType::Utf8).map_err(Into::into) };
        let json = texts(0)?;
        let json = json.as_string::<i32>();
        // The path is nearly always a literal: parse it once.
        let paths = if args.args.len() > 1 { Some(texts(1)?) } else { None };
        let paths = paths.as_ref().map(|p| p.as_string::<i32>());
        let mut parsed_path: Option<(String, Vec<Step>)> = None;
        let mut steps_for = |i: usize| -> Result<Option<Vec<Step>>> {
            let Some(p) = paths else { return Ok(Some(Vec::new())) };
            if p.is_null(i) {
                return Ok(None);
            }
            let text = p.value(i);
            if let Some((t, s)) = &parsed_path
                && t == text
            {
                return Ok(Some(s.clone()));
            }
            let steps = parse_path(text).map_err(|m| DataFusionError::Execution(format!("{}: {m}", self.name())))?;
            parsed_path = Some((text.to_owned(), steps.clone()));
            Ok(Some(steps))
        };
        let out: ArrayRef = match self.kind {
            Kind::ArrayLength => {
                let mut v = Vec::with_capacity(rows);
                for i in 0..rows {
                    let steps = steps_for(i)?;
                    v.push(match (json.is_null(i), steps) {
                        (false, Some(steps)) => match self.find(json.value(i), &steps)? {
                            Some(raw) if raw.starts_with('[') => serde_json::from_str::<Vec<serde::de::IgnoredAny>>(raw)
                                .ok()
                                .map(|a| a.len() as i64),
                            _ => None,
                        },
                        _ => None,
                    });
                }
                Arc::new(Int64Array::from(v))
            }
            _ => {
                let mut v: Vec<Option<String>> = Vec::with_capacity(rows);
                for i in 0..rows {
                    let steps = steps_for(i)?;
                    v.push(match (json.is_null(i), steps) {
                        (false, Some(steps)) => match self.find(json.value(i), &steps)? {
                            None => None,
                            Some("null") if self.kind != Kind::Extract => None,
                            Some(raw) if raw.starts_with('"') && self.kind != Kind::Extract => {
                                serde_json::from_str::<String>(raw).ok()
                            }
                            // Objects, arrays and strings as JSON: compact, as serde writes them.
                            Some(raw) if raw.starts_with(['{', '[', '"']) => {
                                serde_json::from_str::<Value>(raw).ok().map(|v| v.to_string())
                            }
                            Some(raw) => Some(raw.to_owned()),
                        },
                        _ => None,
                    });
                }
                Arc::new(StringArray::from(v))
            }
        };
        Ok(if scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
        } else {
            ColumnarValue::Array(out)
        })
    }
}

impl JsonFn {
    /// The JSON text of the value at `steps` in `text`, found in one pass without building
    /// the document (the rest is still checked to be JSON).
    fn find<'t>(&self, text: &'t str, steps: &[Step]) -> Result<Option<&'t str>> {
        let mut de = serde_json::Deserializer::from_str(text);
        serde::de::DeserializeSeed::deserialize(Find { steps }, &mut de)
            .and_then(|found| de.end().map(|()| found))
            .map_err(|e| {
            let shown: String = text.chars().take(60).collect();
            let more = if text.chars().count() > 60 { "..." } else { "" };
            DataFusionError::Execution(format!("{}: `{shown}{more}` is not JSON ({e})", self.name()))
        })
    }
}

/// Finds the value at a path, skipping everything else.
struct Find<'s> {
    steps: &'s [Step],
}

impl<'de> serde::de::DeserializeSeed<'de> for Find<'_> {
    type Value = Option<&'de str>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        if self.steps.is_empty() {
            let raw: &'de serde_json::value::RawValue = serde::Deserialize::deserialize(d)?;
            return Ok(Some(raw.get()));
        }
        d.deserialize_any(self)
    }
}

/// Whether a key is the one wanted (compared without allocating).
struct KeyIs<'k>(&'k str);

impl<'de> serde::de::DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl serde::de::Visitor<'_> for KeyIs<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<bool, E> {
        Ok(v == self.0)
    }
}

impl<'de> serde::de::Visitor<'de> for Find<'_> {
    type Value = Option<&'de str>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
        let mut found = None;
        let want = match &self.steps[0] {
            Step::Key(k) => Some(k.as_str()),
            Step::Index(_) => None,
        };
        while let Some(is) = map.next_key_seed(KeyIs(want.unwrap_or("")))? {
            if is && want.is_some() {
                // The last of duplicate keys wins, as when the document is built.
                found = map.next_value_seed(Find { steps: &self.steps[1..] })?;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(found)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
        let mut found = None;
        let want = match &self.steps[0] {
            Step::Index(i) => Some(*i),
            Step::Key(_) => None,
        };
        let mut i = 0;
        loop {
            if Some(i) == want {
                match seq.next_element_seed(Find { steps: &self.steps[1..] })? {
                    Some(v) => found = v,
                    None => break,
                }
            } else if seq.next_element::<serde::de::IgnoredAny>()?.is_none() {
                break;
            }
            i += 1;
        }
        Ok(found)
    }
    fn visit_bool<E>(self, _: bool) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::util::display::array_value_to_string;

    #[test]
    fn paths() {
        assert_eq!(parse_path("$.a.b").unwrap(), [Step::Key("a".into()), Step::Key("b".into())]);
        assert_eq!(parse_path("$.emotes[1].name").unwrap(), [Step::Key("emotes".into()), Step::Index(1), Step::Key("name".into())]);
        assert_eq!(parse_path("$.\"odd key\"").unwrap(), [Step::Key("odd key".into())]);
        assert_eq!(parse_path("$['x']").unwrap(), [Step::Key("x".into())]);
        assert_eq!(parse_path("/a/0").unwrap(), [Step::Key("a".into()), Step::Index(0)]);
        assert_eq!(parse_path("channel").unwrap(), [Step::Key("channel".into())]);
        assert_eq!(parse_path("$").unwrap(), []);
        assert!(parse_path("$.a[x]").unwrap_err().0.contains("not an array index"));
        assert!(parse_path("$.a[0").unwrap_err().0.contains("unclosed"));
    }

    #[test]
    fn json_functions_in_sql() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let ctx = SessionContext::new();
            register(&ctx);
            ctx.sql(r#"create table t(j varchar) as values ('{"channel":"lirik","n":3,"ok":true,"none":null,"badges":["sub/6","vip/1"],"user":{"name":"ann"}}'), (null)"#)
                .await.unwrap().collect().await.unwrap();
            let batches = ctx
                .sql("select json_extract_string(j, '$.channel'), get_json_object(j, '$.user.name'), json_extract_string(j, '$.n'), json_extract_string(j, '$.ok'), json_extract_string(j, '$.none'), json_extract_string(j, '$.missing'), json_extract(j, '$.channel'), json_extract(j, '$.badges'), json_array_length(j, '$.badges'), json_extract_string(j, '$.badges[1]'), json_extract_string(j, 'channel'), json_array_length(j) from t")
                .await.unwrap().collect().await.unwrap();
            let b = &batches[0];
            let row = |r: usize| -> Vec<String> { b.columns().iter().map(|c| array_value_to_string(c, r).unwrap()).collect() };
            assert_eq!(row(0), ["lirik", "ann", "3", "true", "", "", "\"lirik\"", "[\"sub/6\",\"vip/1\"]", "2", "vip/1", "lirik", ""]);
            assert!(row(1).iter().all(String::is_empty), "null in, null out");
            // Typed by a cast, as dbt users write it.
            let typed = ctx
                .sql("select cast(json_extract_string('{\"t\":\"2024-03-01T12:00:00.000Z\"}', '$.t') as timestamp) = timestamp '2024-03-01 12:00:00'")
                .await.unwrap().collect().await.unwrap();
            assert_eq!(array_value_to_string(typed[0].column(0), 0).unwrap(), "true");
            // Found in one pass: nested values come out compact, escaped keys match, the
            // last of duplicate keys wins, and the whole text must still be JSON.
            let edge = ctx
                .sql(r#"select json_extract_string('{"a": {"b" : [1, 2]}}', '$.a'), json_extract_string('{"k\u0065y":"v"}', '$.key'), json_extract_string('{"a":1,"a":2}', '$.a'), json_extract_string('[[0,[5,6]]]', '$[0][1][1]'), json_extract('{"s":"x\"y"}', '$.s'), json_extract_string('{"s":"x\"y"}', '$.s'), json_array_length('[1,[2,3],{}]')"#)
                .await.unwrap().collect().await.unwrap();
            let e = &edge[0];
            let got: Vec<String> = e.columns().iter().map(|c| array_value_to_string(c, 0).unwrap()).collect();
            assert_eq!(got, ["{\"b\":[1,2]}", "v", "2", "6", "\"x\\\"y\"", "x\"y", "3"]);
            let err = ctx.sql("select json_extract_string('{\"a\":1} x', '$.a')").await.unwrap().collect().await.unwrap_err().to_string();
            assert!(err.contains("is not JSON"), "{err}");
            let err = ctx.sql("select json_extract_string('{oops', '$.a')").await.unwrap().collect().await.unwrap_err().to_string();
            assert!(err.contains("json_extract_string: `{oops` is not JSON"), "{err}");
            let err = ctx.sql("select json_extract_string('{}', '$.a[x]')").await.unwrap().collect().await.unwrap_err().to_string();
            assert!(err.contains("not an array index"), "{err}");
        });
    }
}
