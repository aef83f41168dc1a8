//! Bronze tables: one row per Kafka message, appended exactly once.
//!
//! Each batch is one Delta commit that carries, beside the rows' data files, a `txn`
//! action per Kafka partition (app id from the source table, topic and partition; version
//! = the last offset written). The next offset to read from a partition is therefore in the
//! same atomic commit as the rows: a crash anywhere loses nothing and duplicates nothing,
//! and a second writer that committed the same partition first makes this commit fail with
//! a conflict (Delta's `ConcurrentTransaction`) instead of duplicating rows (the
//! kafka-delta-ingest design). Files written by a commit that fails are deleted.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deltalake::arrow::array::{
    ArrayRef, BinaryBuilder, Date32Array, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondArray, TimestampMicrosecondBuilder,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake::kernel::{Action, Transaction};
use deltalake::protocol::{DeltaOperation, OutputMode, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError};

use super::ExecError;
use super::storage;

/// The partition column of bronze tables.
pub const PARTITION_COLUMN: &str = "ingest_date";

/// The columns of a bronze table (see DESIGN.md).
pub fn schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("topic", DataType::Utf8, false),
        Field::new("partition", DataType::Int32, false),
        Field::new("offset", DataType::Int64, false),
        Field::new("key", DataType::Utf8, true),
        Field::new("kafka_ts", ts.clone(), true),
        Field::new("payload", DataType::Utf8, true),
        Field::new("payload_raw", DataType::Binary, true),
        Field::new("ingest_ts", ts, false),
        Field::new(PARTITION_COLUMN, DataType::Date32, false),
        Field::new("parse_status", DataType::Utf8, false),
        Field::new("parse_error", DataType::Utf8, true),
    ]))
}

/// A message's value as it lands in bronze.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// A null value (a tombstone).
    Null,
    /// Valid UTF-8.
    Text(&'a str),
    /// Bytes that are not UTF-8.
    Raw(&'a [u8]),
}

/// One message, borrowed from the consumer.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    /// Kafka's timestamp, in milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
    pub payload: Payload<'a>,
}

/// Rows being gathered for a commit, column by column.
#[derive(Default)]
pub struct BatchBuilder {
    topic: StringBuilder,
    partition: Int32Builder,
    offset: Int64Builder,
    key: StringBuilder,
    kafka_ts: TimestampMicrosecondBuilder,
    payload: StringBuilder,
    payload_raw: BinaryBuilder,
    parse_status: StringBuilder,
    parse_error: StringBuilder,
    rows: usize,
}

impl BatchBuilder {
    pub fn new() -> BatchBuilder {
        BatchBuilder::default()
    }

    /// Sized for `rows` messages holding `bytes` of keys and values: the columns grow once,
    /// not by doubling (a batch is tens of megabytes).
    pub fn with_capacity(rows: usize, bytes: usize) -> BatchBuilder {
        BatchBuilder {
            topic: StringBuilder::with_capacity(rows, rows * 16),
            partition: Int32Builder::with_capacity(rows),
            offset: Int64Builder::with_capacity(rows),
            key: StringBuilder::with_capacity(rows, bytes / 16),
            kafka_ts: TimestampMicrosecondBuilder::with_capacity(rows),
            payload: StringBuilder::with_capacity(rows, bytes),
            payload_raw: BinaryBuilder::with_capacity(0, 0),
            parse_status: StringBuilder::with_capacity(rows, rows * 2),
            parse_error: StringBuilder::with_capacity(rows, 0),
            rows: 0,
        }
    }

    /// Adds a message of `topic`; `error` is why it did not parse (`None`: it did).
    pub fn append(&mut self, topic: &str, m: &Message<'_>, error: Option<&str>) {
        self.topic.append_value(topic);
        self.partition.append_value(m.partition);
        self.offset.append_value(m.offset);
        match m.key {
            Some(k) => self.key.append_value(String::from_utf8_lossy(k)),
            None => self.key.append_null(),
        }
        self.kafka_ts
            .append_option(m.timestamp_ms.and_then(|t| t.checked_mul(1000)));
        match m.payload {
            Payload::Null => {
                self.payload.append_null();
                self.payload_raw.append_null();
            }
            Payload::Text(t) => {
                self.payload.append_value(t);
                self.payload_raw.append_null();
            }
            Payload::Raw(b) => {
                self.payload.append_null();
                self.payload_raw.append_value(b);
            }
        }
        match error {
            None => {
                self.parse_status.append_value("OK");
                self.parse_error.append_null();
            }
            Some(e) => {
                self.parse_status.append_value("PARSE_ERROR");
                self.parse_error.append_value(e);
            }
        }
        self.rows += 1;
    }

    /// The rows as a record batch, stamped with the time they are written.
    pub fn finish(&mut self, ingest_ts: DateTime<Utc>) -> Result<RecordBatch, ExecError> {
        let n = self.rows;
        let micros = ingest_ts.timestamp_micros();
        let day = (ingest_ts.date_naive()
            - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default())
        .num_days() as i32;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.topic.finish()),
            Arc::new(self.partition.finish()),
            Arc::new(self.offset.finish()),
            Arc::new(self.key.finish()),
            Arc::new(self.kafka_ts.finish().with_timezone("UTC")),
            Arc::new(self.payload.finish()),
            Arc::new(self.payload_raw.finish()),
            Arc::new(TimestampMicrosecondArray::from(vec![micros; n]).with_timezone("UTC")),
            Arc::new(Date32Array::from(vec![day; n])),
            Arc::new(self.parse_status.finish()),
            Arc::new(self.parse_error.finish()),
        ];
        self.rows = 0;
        RecordBatch::try_new(schema(), columns)
            .map_err(|e| ExecError::execution(format!("bronze batch: {e}")))
    }
}

/// Why a commit did not happen.
#[derive(Debug)]
pub enum CommitError {
    /// Another writer committed one of the same partitions first: re-read the versions,
    /// drop the rows it already wrote, and try again.
    Conflict,
    Failed(ExecError),
}

/// A bronze Delta table, opened for appending.
pub struct BronzeTable {
    dir: PathBuf,
    table: DeltaTable,
    /// app id -> last offset committed, as of `txns_at`. Looking one up in the snapshot
    /// replays the log each time; an ingester asks for every partition at every commit.
    txns: std::collections::HashMap<String, Option<i64>>,
    txns_at: Option<i64>,
}

impl BronzeTable {
    /// Opens the table in `dir`, creating it (partitioned by ingest date) if needed.
    pub async fn open(dir: &Path) -> Result<BronzeTable, ExecError> {
        if !storage::exists(dir) {
            let empty = RecordBatch::new_empty(schema());
            let table = storage::open_or_new(dir).await?;
            let created = table
                .write(vec![empty])
                .with_save_mode(SaveMode::Append)
                .with_partition_columns(vec![PARTITION_COLUMN.to_owned()])
                .await;
            // Another ingester may have created it at the same moment: open theirs.
            if let Err(e) = created {
                if !storage::exists(dir) {
                    return Err(ExecError::delta(dir, e));
                }
            }
        }
        let table = storage::open(dir).await?;
        let fields: Vec<String> = table
            .snapshot()
            .map_err(|e| ExecError::delta(dir, e))?
            .snapshot()
            .arrow_schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let want: Vec<String> = schema().fields().iter().map(|f| f.name().clone()).collect();
        if fields != want {
            return Err(ExecError::schema(format!(
                "`{}` is not a bronze table: its columns are {}, a bronze table's are {}",
                dir.display(),
                fields.join(", "),
                want.join(", ")
            )));
        }
        let txns_at = table.version().map(|v| v as i64);
        Ok(BronzeTable {
            dir: dir.to_path_buf(),
            table,
            txns: Default::default(),
            txns_at,
        })
    }

    /// Reloads the table's latest version.
    pub async fn refresh(&mut self) -> Result<(), ExecError> {
        self.table
            .update_incremental(None)
            .await
            .map_err(|e| ExecError::delta(&self.dir, e))
    }

    /// The last offset committed under `app_id`, at the loaded version.
    pub async fn committed(&mut self, app_id: &str) -> Result<Option<i64>, ExecError> {
        self.sync_txns().await?;
        if let Some(v) = self.txns.get(app_id) {
            return Ok(*v);
        }
        let snapshot = self
            .table
            .snapshot()
            .map_err(|e| ExecError::delta(&self.dir, e))?;
        let v = snapshot
            .transaction_version(self.table.log_store().as_ref(), app_id)
            .await
            .map_err(|e| ExecError::delta(&self.dir, e))?;
        self.txns.insert(app_id.to_owned(), v);
        Ok(v)
    }

    /// Brings the cached app ids to the loaded version by reading the commits since (a
    /// later `txn` for an app id replaces an earlier one).
    async fn sync_txns(&mut self) -> Result<(), ExecError> {
        let now = self.table.version().map(|v| v as i64);
        if now == self.txns_at {
            return Ok(());
        }
        let (Some(from), Some(to)) = (self.txns_at, now) else {
            self.txns.clear();
            self.txns_at = now;
            return Ok(());
        };
        if to < from {
            self.txns.clear();
            self.txns_at = now;
            return Ok(());
        }
        for version in from + 1..=to {
            let entry = self
                .table
                .log_store()
                .read_commit_entry(version as _)
                .await
                .map_err(|e| ExecError::delta(&self.dir, e))?;
            let Some(bytes) = entry else {
                // Cleaned up already: forget everything rather than guess.
                self.txns.clear();
                break;
            };
            for (app, v) in txn_actions(&bytes) {
                self.txns.insert(app, Some(v));
            }
        }
        self.txns_at = now;
        Ok(())
    }

    /// Commits `batch` with a `txn` action per `(app id, last offset)`, against the loaded
    /// version: if a later commit wrote one of the same app ids, this one fails with
    /// [`CommitError::Conflict`] and its files are removed. Transient storage errors are
    /// retried with backoff.
    pub async fn commit(
        &mut self,
        batch: RecordBatch,
        txns: &[(String, i64)],
        epoch: i64,
    ) -> Result<i64, CommitError> {
        let mut delay = Duration::from_millis(100);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_commit(batch.clone(), txns, epoch).await {
                Ok(v) => return Ok(v),
                Err(Attempt::Conflict) => return Err(CommitError::Conflict),
                Err(Attempt::Transient(e)) if attempt < 6 => {
                    tracing_warn(&format!(
                        "commit to {} failed ({}); retrying in {} ms",
                        self.dir.display(),
                        super::error::clean_delta(&e),
                        delay.as_millis()
                    ));
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                    let _ = self.refresh().await;
                }
                Err(Attempt::Transient(e)) | Err(Attempt::Fatal(e)) => {
                    return Err(CommitError::Failed(ExecError::delta(&self.dir, e)));
                }
            }
        }
    }

    async fn try_commit(
        &mut self,
        batch: RecordBatch,
        txns: &[(String, i64)],
        epoch: i64,
    ) -> Result<i64, Attempt> {
        let mut writer = RecordBatchWriter::for_table(&self.table)
            .map_err(Attempt::Fatal)?
            .with_writer_properties(writer_properties());
        let written = async {
            writer.write(batch).await?;
            writer.flush().await
        }
        .await;
        let adds = match written {
            Ok(adds) => adds,
            Err(e) => return Err(Attempt::classify(e)),
        };
        let paths: Vec<String> = adds.iter().map(|a| a.path.clone()).collect();
        let props = CommitProperties::default().with_application_transactions(
            txns.iter()
                .map(|(app, v)| Transaction::new(app, *v))
                .collect(),
        );
        let actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
        let snapshot = self.table.snapshot().map_err(Attempt::Fatal)?;
        let operation = DeltaOperation::StreamingUpdate {
            output_mode: OutputMode::Append,
            query_id: "silt-ingest".into(),
            epoch_id: epoch,
        };
        let committed = CommitBuilder::from(props)
            .with_actions(actions)
            .build(Some(snapshot), self.table.log_store(), operation)
            .await;
        match committed {
            Ok(done) => {
                let version = done.version() as i64;
                self.refresh()
                    .await
                    .map_err(|e| Attempt::Fatal(DeltaTableError::Generic(e.to_string())))?;
                Ok(version)
            }
            Err(e) => {
                // Nothing refers to the files of a commit that failed.
                for p in &paths {
                    let file = self.dir.join(super::storage::percent_decode(p));
                    let _ = std::fs::remove_file(file);
                }
                Err(Attempt::classify(e))
            }
        }
    }
}

/// Parquet settings for bronze files: Snappy, as deltalake writes by default, but no
/// dictionary for the message columns (nearly every value differs: the encoder would
/// hash each one and then fall back to plain) and statistics on the short columns only.
fn writer_properties() -> deltalake::parquet::file::properties::WriterProperties {
    use deltalake::parquet::basic::Compression;
    use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties};
    use deltalake::parquet::schema::types::ColumnPath;
    let mut b = WriterProperties::builder()
        .set_created_by(format!("silt {}", env!("CARGO_PKG_VERSION")))
        .set_compression(Compression::SNAPPY);
    for column in ["payload", "payload_raw", "parse_error"] {
        b = b
            .set_column_dictionary_enabled(ColumnPath::from(column), false)
            .set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::None);
    }
    b.build()
}

/// The `txn` actions of a commit file (JSON lines).
fn txn_actions(commit: &[u8]) -> Vec<(String, i64)> {
    #[derive(serde::Deserialize)]
    struct Line {
        txn: Option<Txn>,
    }
    #[derive(serde::Deserialize)]
    struct Txn {
        #[serde(rename = "appId")]
        app_id: String,
        version: i64,
    }
    commit
        .split(|b| *b == b'\n')
        .filter(|line| line.windows(5).any(|w| w == b"\"txn\""))
        .filter_map(|line| serde_json::from_slice::<Line>(line).ok()?.txn)
        .map(|t| (t.app_id, t.version))
        .collect()
}

enum Attempt {
    Conflict,
    Transient(DeltaTableError),
    Fatal(DeltaTableError),
}

impl Attempt {
    fn classify(e: DeltaTableError) -> Attempt {
        match &e {
            DeltaTableError::Transaction {
                source: TransactionError::CommitConflict(_),
            } => Attempt::Conflict,
            DeltaTableError::Transaction {
                source: TransactionError::MaxCommitAttempts(_),
            } => Attempt::Conflict,
            DeltaTableError::ObjectStore { .. } | DeltaTableError::Io { .. } => {
                Attempt::Transient(e)
            }
            _ => Attempt::Fatal(e),
        }
    }
}

fn tracing_warn(message: &str) {
    eprintln!("warning: {message}");
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Rows of `{}` messages at `offsets` of `partition` (for tests of bronze tables and
    /// of what reads them).
    pub(crate) fn rows(partition: i32, offsets: std::ops::Range<i64>) -> RecordBatch {
        let mut b = BatchBuilder::new();
        for offset in offsets {
            b.append(
                "t",
                &Message {
                    partition,
                    offset,
                    key: None,
                    timestamp_ms: None,
                    payload: Payload::Text("{}"),
                },
                None,
            );
        }
        b.finish(Utc::now()).unwrap()
    }

    #[test]
    fn txn_actions_are_read_from_commit_lines() {
        let commit = br#"{"commitInfo":{"operation":"STREAMING UPDATE"}}
{"txn":{"appId":"a","version":7,"lastUpdated":1}}
{"add":{"path":"x.parquet","stats":"{\"txn\":1}"}}
{"txn":{"appId":"b","version":-1}}"#;
        assert_eq!(txn_actions(commit), vec![("a".to_owned(), 7), ("b".to_owned(), -1)]);
    }

    // The cached app ids follow commits made by another writer, and a writer whose
    // snapshot is stale conflicts instead of committing the same partition twice.
    #[test]
    fn committed_offsets_follow_other_writers() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let dir = dir.path().join("bronze");
            let mut a = BronzeTable::open(&dir).await.unwrap();
            let mut b = BronzeTable::open(&dir).await.unwrap();
            assert_eq!(a.committed("p0").await.unwrap(), None);
            b.commit(rows(0, 4..5), &[("p0".into(), 4)], 1).await.unwrap();
            b.commit(rows(1, 9..10), &[("p1".into(), 9)], 2).await.unwrap();
            assert_eq!(b.committed("p0").await.unwrap(), Some(4));
            // `a` has not seen them: same answer as its snapshot...
            assert_eq!(a.committed("p0").await.unwrap(), None);
            // ...so its commit of p0 conflicts rather than duplicating.
            assert!(matches!(
                a.commit(rows(0, 4..5), &[("p0".into(), 4)], 1).await,
                Err(CommitError::Conflict)
            ));
            a.refresh().await.unwrap();
            assert_eq!(a.committed("p0").await.unwrap(), Some(4));
            assert_eq!(a.committed("p1").await.unwrap(), Some(9));
            a.commit(rows(0, 5..6), &[("p0".into(), 5)], 3).await.unwrap();
            b.refresh().await.unwrap();
            assert_eq!(b.committed("p0").await.unwrap(), Some(5));
            // A fresh handle replays the log and agrees.
            let mut c = BronzeTable::open(&dir).await.unwrap();
            assert_eq!(c.committed("p0").await.unwrap(), Some(5));
            assert_eq!(c.committed("p1").await.unwrap(), Some(9));
        });
    }
}
