//! Delta tables on disk: opening, and the write operations materializations are made of.
//! Each operation is one Delta commit, so a failure leaves the table at its previous
//! version.

use std::path::Path;
use std::sync::Arc;

use deltalake::datafusion::dataframe::DataFrame;
use deltalake::datafusion::logical_expr::LogicalPlan;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableError};
use futures::TryStreamExt;

use super::ExecError;
use super::session::Session;

/// Whether a Delta table exists in `dir`.
pub fn exists(dir: &Path) -> bool {
    dir.join("_delta_log").is_dir()
}

fn url_of(dir: &Path) -> Result<url::Url, ExecError> {
    std::fs::create_dir_all(dir).map_err(|e| ExecError::Io {
        path: dir.display().to_string(),
        source: e,
    })?;
    deltalake::ensure_table_uri(dir.to_string_lossy()).map_err(|e| delta_err(dir, &e))
}

/// Opens the table in `dir` at its latest version.
pub async fn open(dir: &Path) -> Result<DeltaTable, ExecError> {
    let url = url_of(dir)?;
    deltalake::open_table(url)
        .await
        .map_err(|e| delta_err(dir, &e))
}

/// Opens the table in `dir`, or an unloaded handle that a write will create.
pub async fn open_or_new(dir: &Path) -> Result<DeltaTable, ExecError> {
    let url = url_of(dir)?;
    DeltaTable::try_from_url(url)
        .await
        .map_err(|e| delta_err(dir, &e))
}

/// A Delta error as a user reads it.
pub fn clean_delta(e: &DeltaTableError) -> String {
    let text = e.to_string();
    for prefix in [
        "Generic DeltaTable error: ",
        "Generic error: ",
        "External error: ",
        "Execution error: ",
        "Error during planning: ",
    ] {
        if let Some(rest) = text.strip_prefix(prefix) {
            return strip_prefixes(rest);
        }
    }
    text
}

fn strip_prefixes(mut s: &str) -> String {
    loop {
        let before = s;
        for prefix in [
            "External error: ",
            "Execution error: ",
            "Generic DeltaTable error: ",
            "Error during planning: ",
            "Arrow error: ",
        ] {
            if let Some(rest) = s.strip_prefix(prefix) {
                s = rest;
            }
        }
        if s == before {
            return s.to_owned();
        }
    }
}

pub fn delta_err(dir: &Path, e: &DeltaTableError) -> ExecError {
    ExecError::Delta {
        table: dir.display().to_string(),
        message: clean_delta(e),
    }
}

/// How a [`TableWrite`] changes the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// The result replaces the table's contents and schema.
    Replace,
    /// The result replaces the table's contents; the schema stays (values are cast to it).
    ReplaceData,
    /// The result is added to the table.
    Append,
    /// The result is added; columns the table lacks are added to it.
    AppendMergeSchema,
}

/// Writes a query's result into a Delta table as one commit, streaming it (the result is
/// never collected in memory).
pub struct TableWrite<'a> {
    /// The session whose state plans and runs the query.
    session: &'a Session,
    /// The table's folder.
    dir: &'a Path,
    /// What the write does to existing data.
    mode: WriteMode,
    /// The rows to write.
    plan: LogicalPlan,
    /// Partition columns, when creating or replacing the table.
    partition_by: Vec<String>,
    /// Rows matching this predicate are replaced (Delta's `replaceWhere`).
    replace_where: Option<String>,
    /// Commit metadata and application transactions.
    commit: CommitProperties,
    /// Where the commit goes when the write is audited before publishing.
    stage: Option<&'a super::stage::Stage>,
}

/// What a write did.
#[derive(Debug, Clone, Default)]
pub struct WriteOutcome {
    pub version: u64,
    pub rows: Option<u64>,
}

impl<'a> TableWrite<'a> {
    pub fn new(session: &'a Session, dir: &'a Path, df: DataFrame) -> TableWrite<'a> {
        TableWrite {
            session,
            dir,
            mode: WriteMode::Replace,
            plan: df.into_unoptimized_plan(),
            partition_by: Vec::new(),
            replace_where: None,
            commit: CommitProperties::default(),
            stage: None,
        }
    }

    pub fn with_stage(mut self, stage: Option<&'a super::stage::Stage>) -> Self {
        self.stage = stage;
        self
    }

    pub fn with_mode(mut self, mode: WriteMode) -> Self {
        self.mode = mode;
        self
    }

    pub fn with_partition_by(mut self, columns: Vec<String>) -> Self {
        self.partition_by = columns;
        self
    }

    pub fn with_replace_where(mut self, predicate: Option<String>) -> Self {
        self.replace_where = predicate;
        self
    }

    pub fn with_commit_properties(mut self, commit: CommitProperties) -> Self {
        self.commit = commit;
        self
    }

    pub async fn run(self) -> Result<WriteOutcome, ExecError> {
        let table = match self.stage {
            Some(stage) => stage.open_or_new().await?,
            None => open_or_new(self.dir).await?,
        };
        let creating = table.version().is_none();
        let mut builder = table
            .write(Vec::new())
            .with_input_plan(self.plan)
            .with_session_state(self.session.state())
            .with_commit_properties(self.commit);
        builder = match self.mode {
            WriteMode::Replace => builder
                .with_save_mode(SaveMode::Overwrite)
                .with_schema_mode(SchemaMode::Overwrite),
            WriteMode::ReplaceData => builder.with_save_mode(SaveMode::Overwrite),
            WriteMode::Append => builder.with_save_mode(SaveMode::Append),
            WriteMode::AppendMergeSchema => builder
                .with_save_mode(SaveMode::Append)
                .with_schema_mode(SchemaMode::Merge),
        };
        if let Some(p) = self.replace_where {
            builder = builder.with_replace_where(p);
        }
        if !self.partition_by.is_empty() && (creating || self.mode == WriteMode::Replace) {
            builder = builder.with_partition_columns(self.partition_by);
        }
        let table = builder.await.map_err(|e| delta_err(self.dir, &e))?;
        outcome(&table, "num_added_rows").await
    }
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
    let snapshot = table.snapshot().map_err(|e| delta_err(dir, &e))?;
    Ok(snapshot.snapshot().arrow_schema())
}

/// The session state as Delta operations want it.
pub fn state_for(session: &Session) -> Arc<dyn deltalake::datafusion::catalog::Session> {
    session.state()
}
