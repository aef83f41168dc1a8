//! Delta tables on disk: whether one exists, opening it, its schema and what its last
//! commit did. The bottom of exec: it depends on nothing else in it.

use std::path::Path;

use deltalake::DeltaTable;
use futures::TryStreamExt;

use super::ExecError;

/// Whether a Delta table exists in `dir`.
pub fn exists(dir: &Path) -> bool {
    dir.join("_delta_log").is_dir()
}

fn url_of(dir: &Path) -> Result<url::Url, ExecError> {
    std::fs::create_dir_all(dir).map_err(|e| ExecError::io(dir, e))?;
    deltalake::ensure_table_uri(dir.to_string_lossy()).map_err(|e| ExecError::delta(dir, e))
}

/// Opens the table in `dir` at its latest version.
pub async fn open(dir: &Path) -> Result<DeltaTable, ExecError> {
    let url = url_of(dir)?;
    deltalake::open_table(url)
        .await
        .map_err(|e| ExecError::delta(dir, e))
}

/// Opens the table in `dir`, or an unloaded handle that a write will create.
pub async fn open_or_new(dir: &Path) -> Result<DeltaTable, ExecError> {
    let url = url_of(dir)?;
    DeltaTable::try_from_url(url)
        .await
        .map_err(|e| ExecError::delta(dir, e))
}

/// What a write did.
#[derive(Debug, Clone, Default)]
pub struct WriteOutcome {
    pub version: u64,
    pub rows: Option<u64>,
}

/// The version of a table and the row count of its last commit (from its metrics).
pub async fn outcome(table: &DeltaTable, metric: &str) -> Result<WriteOutcome, ExecError> {
    let version = table.version().unwrap_or_default();
    let commits: Vec<_> = table
        .history(Some(1))
        .try_collect()
        .await
        .unwrap_or_default();
    let rows = commits
        .first()
        .and_then(|c| c.info.get("operationMetrics"))
        .and_then(|m| m.get(metric))
        .and_then(serde_json::Value::as_u64);
    Ok(WriteOutcome { version, rows })
}

/// The Arrow schema of the table in `dir`.
pub async fn arrow_schema(dir: &Path) -> Result<deltalake::arrow::datatypes::SchemaRef, ExecError> {
    let table = open(dir).await?;
    let snapshot = table.snapshot().map_err(|e| ExecError::delta(dir, e))?;
    Ok(snapshot.snapshot().arrow_schema())
}

/// A path as the Delta log writes it (URL-encoded), decoded.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
