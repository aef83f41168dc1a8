//! Writing a query's result into a Delta table: the write operation materializations,
//! seeds and stored test failures are made of. Each write is one Delta commit, so a failure
//! leaves the table at its previous version.

use std::path::Path;

use deltalake::datafusion::dataframe::DataFrame;
use deltalake::datafusion::logical_expr::LogicalPlan;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;

use super::ExecError;
use super::session::Session;
use super::stage::Stage;
pub use super::storage::WriteOutcome;
use super::storage::{open_or_new, outcome};

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
    stage: Option<&'a Stage>,
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

    pub fn with_stage(mut self, stage: Option<&'a Stage>) -> Self {
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
        let table = builder.await.map_err(|e| ExecError::delta(self.dir, e))?;
        outcome(&table, "num_added_rows").await
    }
}
