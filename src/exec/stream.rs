//! Streaming reads of a Delta table: the rows appended after a version, for the
//! `streaming_table` materialization (which records the version it consumed in the same
//! commit as its write, so each appended row is processed exactly once).
//!
//! Only appends stream: a commit in the range that removed data (a delete, an overwrite, a
//! merge) or changed the table's schema stops the read with an error naming the version
//! and operation, because the rows already consumed can no longer be reconciled with what
//! the table holds; `--full-refresh` rebuilds from the whole table. Commits that rewrite
//! files without changing data (`silt optimize`'s compaction, z-order) are skipped, as
//! Delta marks them (`dataChange: false`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use deltalake::DeltaTable;
use deltalake::datafusion::catalog::TableProvider;
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::prelude::{col, lit};
use deltalake::delta_datafusion::DeltaCdfTableProvider;

use super::ExecError;
use super::session::Session;
use super::storage;

/// The versions of an upstream table a streaming read covers: those after `after` (all
/// of them when `None`) up to `to`, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub after: Option<i64>,
    pub to: i64,
    /// Rows the appended versions hold, from their files' statistics (`None` for a read
    /// of the whole table, or when a file has no statistics).
    pub rows: Option<u64>,
}

impl Range {
    /// Whether the range holds no version.
    pub fn is_empty(&self) -> bool {
        self.after.is_some_and(|a| a >= self.to)
    }
}

/// A planned streaming read: the table at the range's last version, and the range.
pub struct Stream {
    dir: PathBuf,
    table: DeltaTable,
    pub range: Range,
}

/// The range from `after` to the table's latest version, checked to be appends only.
pub async fn plan(dir: &Path, after: Option<i64>) -> Result<Stream, ExecError> {
    let table = storage::open(dir).await?;
    let to = table.version().map(|v| v as i64).unwrap_or(-1);
    let mut range = Range {
        after,
        to,
        rows: None,
    };
    if let Some(a) = after {
        let mut rows = Some(0u64);
        if a > to {
            return Err(ExecError::schema(format!(
                "`{}` is at version {to}, older than version {a} that was already consumed: the table was recreated; run with --full-refresh",
                dir.display()
            )));
        }
        for version in a + 1..=to {
            let entry = table
                .log_store()
                .read_commit_entry(version as _)
                .await
                .map_err(|e| ExecError::delta(dir, e))?
                .ok_or_else(|| {
                    ExecError::schema(format!(
                        "`{}`: the log entry of version {version} is gone (log retention), so the versions since {a} cannot be read; run with --full-refresh",
                        dir.display()
                    ))
                })?;
            match not_an_append(&entry) {
                Err(why) => {
                    return Err(ExecError::schema(format!(
                        "`{}` version {version} {why}: a streaming read takes only appended rows; run with --full-refresh to rebuild from the whole table",
                        dir.display()
                    )));
                }
                Ok(n) => rows = rows.zip(n).map(|(a, b)| a + b),
            }
        }
        range.rows = rows;
    }
    Ok(Stream {
        dir: dir.to_path_buf(),
        table,
        range,
    })
}

/// Why a commit is not a pure append: what it did, and the operation that did it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
struct NotAnAppend(String);

/// The rows a commit appended (`None` when a file has no statistics), or why it is not a
/// pure append (of data, or of rewritten files).
fn not_an_append(commit: &[u8]) -> Result<Option<u64>, NotAnAppend> {
    let mut operation = String::from("an unknown operation");
    let mut problem: Option<&str> = None;
    let mut rows = Some(0u64);
    for line in commit.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
            return Err(NotAnAppend("has a log entry that is not JSON".into()));
        };
        if let Some(add) = v.get("add")
            && add.get("dataChange").and_then(|d| d.as_bool()) != Some(false)
        {
            let n = add
                .get("stats")
                .and_then(|s| s.as_str())
                .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
                .and_then(|s| s.get("numRecords").and_then(|n| n.as_u64()));
            rows = rows.zip(n).map(|(a, b)| a + b);
        }
        if let Some(op) = v.pointer("/commitInfo/operation").and_then(|o| o.as_str()) {
            operation = op.to_owned();
        }
        if v.get("remove")
            .is_some_and(|r| r.get("dataChange").and_then(|d| d.as_bool()) != Some(false))
        {
            problem.get_or_insert("removed data");
        }
        if v.get("cdc").is_some() {
            problem.get_or_insert("changed rows");
        }
        if v.get("metaData").is_some() {
            problem.get_or_insert("changed the table's schema or settings");
        }
    }
    match problem {
        Some(p) => Err(NotAnAppend(format!("{p} ({operation})"))),
        None => Ok(rows),
    }
}

impl Stream {
    /// The rows of the range, as a table: the whole table at version `to` for a range
    /// from the start, else the rows appended by the versions in the range.
    pub async fn provider(&self, session: &Session) -> Result<Arc<dyn TableProvider>, ExecError> {
        let (dir, table, range) = (&self.dir, &self.table, self.range);
        let Some(after) = range.after else {
            return table
                .table_provider()
                .await
                .map_err(|e| ExecError::delta_message(dir, e.to_string()).with_source(e));
        };
        let schema = table
            .snapshot()
            .map_err(|e| ExecError::delta(dir, e))?
            .snapshot()
            .arrow_schema();
        if range.is_empty() {
            let empty = MemTable::try_new(schema, vec![vec![]])
                .map_err(|e| ExecError::execution(e.to_string()))?;
            return Ok(Arc::new(empty));
        }
        let cdf = table
            .clone()
            .scan_cdf()
            .with_starting_version((after + 1) as _)
            .with_ending_version(range.to as _);
        let cdf = DeltaCdfTableProvider::try_new(cdf).map_err(|e| ExecError::delta(dir, e))?;
        // Inserts only (`plan` checked there is nothing else), in the table's columns.
        let df = session
            .context()
            .read_table(Arc::new(cdf))
            .and_then(|df| df.filter(col("_change_type").eq(lit("insert"))))
            .and_then(|df| {
                df.select(
                    schema
                        .fields()
                        .iter()
                        .map(|f| col(crate::relation::quote_ident(f.name())))
                        .collect::<Vec<_>>(),
                )
            })
            .map_err(|e| {
                ExecError::execution(format!(
                    "reading the versions of `{}` after {after}: {e}",
                    dir.display()
                ))
            })?;
        Ok(df.into_view())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::bronze::BronzeTable;
    use crate::exec::bronze::tests::rows;

    async fn offsets(session: &Session, p: Arc<dyn TableProvider>) -> Vec<i64> {
        let batches = session
            .context()
            .read_table(p)
            .unwrap()
            .sort(vec![col("\"offset\"").sort(true, false)])
            .unwrap()
            .collect()
            .await
            .unwrap();
        batches
            .iter()
            .flat_map(|b| {
                b.column_by_name("offset")
                    .unwrap()
                    .as_any()
                    .downcast_ref::<deltalake::arrow::array::Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect()
    }

    // Appends stream, compaction is skipped, a delete stops the read.
    #[test]
    fn reads_only_what_was_appended_since() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let dir = dir.path().join("bronze");
            let mut t = BronzeTable::open(&dir).await.unwrap(); // version 0: created
            t.commit(rows(0, 0..3), &[("p0".into(), 2)], 1)
                .await
                .unwrap(); // 1
            let session = Session::new(dir.parent().unwrap(), "main").unwrap();
            let first = plan(&dir, None).await.unwrap();
            assert_eq!(
                first.range,
                Range {
                    after: None,
                    to: 1,
                    rows: None
                }
            );
            assert_eq!(
                offsets(&session, first.provider(&session).await.unwrap()).await,
                [0, 1, 2]
            );
            t.commit(rows(0, 3..5), &[("p0".into(), 4)], 2)
                .await
                .unwrap(); // 2
            t.commit(rows(0, 5..6), &[("p0".into(), 5)], 3)
                .await
                .unwrap(); // 3
            let next = plan(&dir, Some(1)).await.unwrap();
            assert_eq!(
                next.range,
                Range {
                    after: Some(1),
                    to: 3,
                    rows: Some(3)
                }
            );
            assert_eq!(
                offsets(&session, next.provider(&session).await.unwrap()).await,
                [3, 4, 5]
            );
            // Nothing new.
            let none = plan(&dir, Some(3)).await.unwrap();
            assert!(none.range.is_empty());
            assert!(
                offsets(&session, none.provider(&session).await.unwrap())
                    .await
                    .is_empty()
            );
            // Compaction rewrites files without changing data: nothing new to read.
            crate::exec::optimize::optimize(&session, &dir, &Default::default())
                .await
                .unwrap();
            let after_optimize = plan(&dir, Some(3)).await.unwrap();
            assert!(after_optimize.range.to > 3);
            assert_eq!(
                after_optimize.range.rows,
                Some(0),
                "compaction appends no rows"
            );
            assert!(
                offsets(&session, after_optimize.provider(&session).await.unwrap())
                    .await
                    .is_empty()
            );
            // A delete is not an append.
            let table = storage::open(&dir).await.unwrap();
            table
                .delete()
                .with_predicate("\"offset\" = 0")
                .await
                .unwrap();
            let err = plan(&dir, Some(after_optimize.range.to))
                .await
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("removed data (DELETE)") && err.contains("--full-refresh"),
                "{err}"
            );
            // A table older than what was consumed was recreated.
            let err = plan(&dir, Some(99))
                .await
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(err.contains("older than version 99"), "{err}");
        });
    }
}
