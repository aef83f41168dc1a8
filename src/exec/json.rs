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

/// Parses a path; the error says what is wrong with it.
fn parse_path(path: &str) -> std::result::Result<Vec<Step>, String> {
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
                        .ok_or_else(|| format!("unclosed quote in JSON path `{path}`"))?;
                    steps.push(Step::Key(chars[start..end].iter().collect()));
                    i = end + 1;
                } else {
                    let start = i;
                    while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                        i += 1;
                    }
                    if start == i {
                        return Err(format!("empty key in JSON path `{path}`"));
                    }
                    steps.push(Step::Key(chars[start..i].iter().collect()));
                }
            }
            '[' => {
                let end = (i..chars.len())
                    .find(|&j| chars[j] == ']')
                    .ok_or_else(|| format!("unclosed `[` in JSON path `{path}`"))?;
                let inner: String = chars[i + 1..end].iter().collect();
                let inner = inner.trim();
                if let Some(q) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                    steps.push(Step::Key(q.to_owned()));
                } else if let Some(q) = inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
                    steps.push(Step::Key(q.to_owned()));
                } else {
                    let n = inner
                        .parse::<usize>()
                        .map_err(|_| format!("`[{inner}]` in JSON path `{path}` is not an array index"))?;
                    steps.push(Step::Index(n));
                }
                i = end + 1;
            }
            c => return Err(format!("unexpected `{c}` in JSON path `{path}` (paths look like `$.a.b[0]`)")),
        }
    }
    Ok(steps)
}

fn walk<'v>(mut v: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    for s in steps {
        v = match (s, v) {
            (Step::Key(k), Value::Object(m)) => m.get(k)?,
            (Step::Index(i), Value::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(v)
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
                        (false, Some(steps)) => {
                            let doc = self.parse(json.value(i))?;
                            walk(&doc, &steps).and_then(|x| x.as_array()).map(|a| a.len() as i64)
                        }
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
                        (false, Some(steps)) => {
                            let doc = self.parse(json.value(i))?;
                            walk(&doc, &steps).and_then(|x| match (self.kind, x) {
                                (_, Value::Null) if self.kind != Kind::Extract => None,
                                (Kind::Extract, x) => Some(x.to_string()),
                                (_, Value::String(s)) => Some(s.clone()),
                                (_, x) => Some(x.to_string()),
                            })
                        }
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
    fn parse(&self, text: &str) -> Result<Value> {
        serde_json::from_str(text).map_err(|e| {
            let shown: String = text.chars().take(60).collect();
            let more = if text.chars().count() > 60 { "..." } else { "" };
            DataFusionError::Execution(format!("{}: `{shown}{more}` is not JSON ({e})", self.name()))
        })
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
        assert!(parse_path("$.a[x]").unwrap_err().contains("not an array index"));
        assert!(parse_path("$.a[0").unwrap_err().contains("unclosed"));
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
            let err = ctx.sql("select json_extract_string('{oops', '$.a')").await.unwrap().collect().await.unwrap_err().to_string();
            assert!(err.contains("json_extract_string: `{oops` is not JSON"), "{err}");
            let err = ctx.sql("select json_extract_string('{}', '$.a[x]')").await.unwrap().collect().await.unwrap_err().to_string();
            assert!(err.contains("not an array index"), "{err}");
        });
    }
}
