//! `silt optimize`: table maintenance with deltalake's own operations. Small files are
//! compacted (bronze tables get many: one or more per batch), optionally z-ordered by
//! columns; a checkpoint is written so readers need not replay the log; and with a
//! retention period, files no version within it still uses are vacuumed.

use std::num::NonZeroU64;
use std::path::Path;

use deltalake::operations::optimize::OptimizeType;

use super::ExecError;
use super::session::Session;
use super::storage;

/// What to do to each table.
#[derive(Debug, Clone, Default)]
pub struct OptimizeRequest {
    /// Z-order by these columns instead of plain compaction.
    pub zorder: Vec<String>,
    /// Target file size in bytes (default: the table's `delta.targetFileSize`, else 100 MB).
    pub target_size: Option<u64>,
    /// Vacuum files unused by every version younger than this.
    pub vacuum_retention: Option<chrono::Duration>,
}

/// What was done to one table.
#[derive(Debug, Clone, Default)]
pub struct OptimizeOutcome {
    pub files_removed: u64,
    pub files_added: u64,
    pub version: Option<u64>,
    pub checkpoint: bool,
    pub vacuumed: usize,
}

/// Optimizes the Delta table in `dir`.
pub async fn optimize(
    session: &Session,
    dir: &Path,
    req: &OptimizeRequest,
) -> Result<OptimizeOutcome, ExecError> {
    let table = storage::open(dir).await?;
    let mut out = OptimizeOutcome::default();
    if !req.zorder.is_empty() {
        let schema = storage::arrow_schema(dir).await?;
        for c in &req.zorder {
            if schema.field_with_name(c).is_err() {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                return Err(ExecError::schema(format!(
                    "cannot z-order `{}` by `{c}`: no such column (columns: {})",
                    dir.display(),
                    names.join(", ")
                )));
            }
        }
    }
    let mut builder = table.optimize().with_session_state(session.state());
    builder = builder.with_type(if req.zorder.is_empty() {
        OptimizeType::Compact
    } else {
        OptimizeType::ZOrder(req.zorder.clone())
    });
    if let Some(size) = req.target_size.and_then(NonZeroU64::new) {
        builder = builder.with_target_size(size);
    }
    let (table, metrics) = builder.await.map_err(|e| ExecError::delta(dir, e))?;
    out.files_removed = metrics.num_files_removed;
    out.files_added = metrics.num_files_added;
    deltalake::checkpoints::create_checkpoint(&table, None)
        .await
        .map_err(|e| ExecError::delta(dir, e))?;
    out.checkpoint = true;
    let table = if let Some(retention) = req.vacuum_retention {
        let (table, metrics) = table
            .vacuum()
            .with_retention_period(retention)
            // A retention below Delta's default (7 days) is the user's explicit choice.
            .with_enforce_retention_duration(false)
            .await
            .map_err(|e| ExecError::delta(dir, e))?;
        out.vacuumed = metrics.files_deleted.len();
        table
    } else {
        table
    };
    out.version = table.version();
    Ok(out)
}
