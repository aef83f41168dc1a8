//! The warehouse as templates ask it while compiling (`run_query`, `get_relation`,
//! `get_columns_in_relation`): a DataFusion session over the Delta tables, answering in
//! plain data. Templates render synchronously, so each answer blocks the rendering thread
//! on the session's runtime.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use deltalake::arrow::array::{Array, RecordBatch};
use deltalake::datafusion::common::ScalarValue;
use serde_json::Value as Json;

use super::session::Session;
use super::{statement, storage, types};
use crate::relation::RelationKind;
use crate::template::warehouse::{QueryResult, Warehouse};

/// A session as templates' warehouse.
pub struct SessionWarehouse {
    session: Session,
    runtime: tokio::runtime::Handle,
}

impl fmt::Debug for SessionWarehouse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<warehouse {}>", self.session.warehouse().display())
    }
}

impl SessionWarehouse {
    /// The warehouse of `session`, answering on `runtime` (the one the command runs on).
    pub fn new(session: Session, runtime: tokio::runtime::Handle) -> Arc<dyn Warehouse> {
        Arc::new(SessionWarehouse { session, runtime })
    }

    /// Runs `fut` to completion from synchronous code: on a runtime worker, without
    /// stalling the runtime; elsewhere (a compile thread), on the command's runtime.
    fn block<F: Future>(&self, fut: F) -> F::Output {
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| h.block_on(fut))
            }
            _ => self.runtime.block_on(fut),
        }
    }
}

impl Warehouse for SessionWarehouse {
    fn execute(&self, sql: &str, fetch: bool) -> Result<QueryResult, String> {
        let outcomes = self.block(statement::run_script(&self.session, sql)).map_err(|e| e.to_string())?;
        let Some(last) = outcomes.last() else {
            return Ok(QueryResult {
                message: "OK".into(),
                ..Default::default()
            });
        };
        let mut result = QueryResult {
            message: last.message.clone(),
            rows_affected: last.rows,
            ..Default::default()
        };
        if fetch && let (Some(schema), Some(batches)) = (&last.schema, &last.batches) {
            result.columns = schema.fields().iter().map(|f| (f.name().clone(), types::type_name(f.data_type()))).collect();
            for b in batches {
                result.rows.extend(rows(b)?);
            }
        }
        Ok(result)
    }

    fn columns(&self, schema: &str, name: &str) -> Result<Option<Vec<(String, String)>>, String> {
        if self.relation(schema, name).is_none() {
            return Ok(None);
        }
        let sql = format!(
            "select * from {}.{} limit 0",
            crate::relation::quote_ident(schema),
            crate::relation::quote_ident(name)
        );
        let df = self.block(self.session.query(&sql)).map_err(|e| e.to_string())?;
        Ok(Some(
            df.schema()
                .fields()
                .iter()
                .map(|f| (f.name().clone(), types::type_name(f.data_type())))
                .collect(),
        ))
    }

    fn relation(&self, schema: &str, name: &str) -> Option<RelationKind> {
        if self.session.is_view(schema, name) {
            return Some(RelationKind::View);
        }
        // A table being audited before it is published exists for its tests.
        if self.session.has_override(schema, name) {
            return Some(RelationKind::Table);
        }
        storage::exists(&self.session.warehouse().join(schema).join(name)).then_some(RelationKind::Table)
    }

    fn relations(&self, schema: &str) -> Vec<(String, RelationKind)> {
        let dir = self.session.warehouse().join(schema);
        let mut out: Vec<(String, RelationKind)> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter(|e| storage::exists(&e.path()))
                    .map(|e| (e.file_name().to_string_lossy().into_owned(), RelationKind::Table))
                    .collect()
            })
            .unwrap_or_default();
        out.extend(self.session.views_in(schema).into_iter().map(|v| (v, RelationKind::View)));
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn schemas(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(self.session.warehouse())
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }
}

/// A batch's rows as JSON values: numbers, text, booleans, null; dates and times as text.
fn rows(b: &RecordBatch) -> Result<Vec<Vec<Json>>, String> {
    let mut out = Vec::with_capacity(b.num_rows());
    for r in 0..b.num_rows() {
        let mut row = Vec::with_capacity(b.num_columns());
        for c in b.columns() {
            row.push(cell(c.as_ref(), r)?);
        }
        out.push(row);
    }
    Ok(out)
}

fn cell(array: &dyn Array, i: usize) -> Result<Json, String> {
    if array.is_null(i) {
        return Ok(Json::Null);
    }
    let v = ScalarValue::try_from_array(array, i).map_err(|e| e.to_string())?;
    Ok(match v {
        ScalarValue::Boolean(Some(b)) => Json::Bool(b),
        ScalarValue::Int8(Some(n)) => n.into(),
        ScalarValue::Int16(Some(n)) => n.into(),
        ScalarValue::Int32(Some(n)) => n.into(),
        ScalarValue::Int64(Some(n)) => n.into(),
        ScalarValue::UInt8(Some(n)) => n.into(),
        ScalarValue::UInt16(Some(n)) => n.into(),
        ScalarValue::UInt32(Some(n)) => n.into(),
        ScalarValue::UInt64(Some(n)) => n.into(),
        ScalarValue::Float32(Some(f)) => serde_json::Number::from_f64(f64::from(f)).map_or(Json::Null, Json::Number),
        ScalarValue::Float64(Some(f)) => serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number),
        ScalarValue::Decimal128(Some(n), _, s) => {
            let f = n as f64 / 10f64.powi(i32::from(s));
            serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)
        }
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => Json::String(s),
        ScalarValue::TimestampSecond(Some(n), tz) => timestamp(i128::from(n) * 1_000_000_000, tz.is_some()),
        ScalarValue::TimestampMillisecond(Some(n), tz) => timestamp(i128::from(n) * 1_000_000, tz.is_some()),
        ScalarValue::TimestampMicrosecond(Some(n), tz) => timestamp(i128::from(n) * 1_000, tz.is_some()),
        ScalarValue::TimestampNanosecond(Some(n), tz) => timestamp(i128::from(n), tz.is_some()),
        other => Json::String(other.to_string()),
    })
}

/// A timestamp as Python prints the `datetime` dbt's agate tables hold:
/// `2017-01-01 00:00:00`, then `.123456` when it has microseconds, then `+00:00` when it
/// has a time zone (Delta's are UTC). Templates splice it into SQL, which reads it back.
fn timestamp(nanos: i128, zoned: bool) -> Json {
    // Seconds and nanoseconds apart: nanoseconds alone overflow after 2262
    // (`9999-12-31`, a snapshot's open end, must read back).
    let (secs, sub) = (nanos.div_euclid(1_000_000_000), nanos.rem_euclid(1_000_000_000));
    let Some(t) = i64::try_from(secs).ok().and_then(|s| chrono::DateTime::from_timestamp(s, sub as u32)) else {
        return Json::Null;
    };
    Json::String(crate::template::python_timestamp_text(t.naive_utc(), zoned))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Date32Array, TimestampMicrosecondArray};

    #[test]
    fn timestamps_read_as_python_prints_them() {
        // 2017-01-01 00:00:00, then with microseconds, then with a time zone.
        let plain = TimestampMicrosecondArray::from(vec![1_483_228_800_000_000, 1_483_228_800_000_123]);
        assert_eq!(cell(&plain, 0).unwrap(), Json::from("2017-01-01 00:00:00"));
        assert_eq!(cell(&plain, 1).unwrap(), Json::from("2017-01-01 00:00:00.000123"));
        let zoned = TimestampMicrosecondArray::from(vec![1_483_228_800_000_000]).with_timezone("UTC");
        assert_eq!(cell(&zoned, 0).unwrap(), Json::from("2017-01-01 00:00:00+00:00"));
        assert_eq!(cell(&Date32Array::from(vec![17167]), 0).unwrap(), Json::from("2017-01-01"));
        let far = TimestampMicrosecondArray::from(vec![253_402_214_400_000_000]);
        assert_eq!(cell(&far, 0).unwrap(), Json::from("9999-12-31 00:00:00"));
    }
}
