//! Building one model or seed. When its new data must be checked before anyone sees it
//! (audited tests in `silt build`, a contract's check or unique constraints, constraints to
//! drop), the write goes to a [`StagedWrite`]: checked, then published, or discarded.

use std::path::Path;

use deltalake::kernel::transaction::CommitProperties;

use super::contract::{self, Contract};
use super::materialize::{self, Outcome};
use super::runner::{Shared, Stopwatch, run_data_test, start_result};
use super::stage::Stage;
use super::{ExecError, NodeDesc, NodeResult, Observer, Status, seed, storage, streamed_upstreams};
use crate::compile::CompiledNode;
use crate::diagnostic::Diagnostic;
use crate::parse::{Materialization, ParsedNode};

/// Builds a model or seed; the tests audited with it run on its staged data and their
/// results go to `extra`.
pub(super) async fn build_node(
    shared: &Shared,
    node: &ParsedNode,
    thread: usize,
    observer: &dyn Observer,
    result: &mut NodeResult,
    extra: &mut Vec<NodeResult>,
) -> Result<Outcome, ExecError> {
    if let Some(d) = &node.error {
        // A node whose parse failed (a seed's config, say: models fail at compile).
        return Err(ExecError::diagnostic(d));
    }
    let compiled = if node.config.materialized == Materialization::Seed {
        None
    } else {
        shared.compiled_now(node)
    };
    let is_incremental = matches!(&compiled, Some(Ok(c)) if c.is_incremental);
    let hooks = crate::compile::render_hooks(
        &shared.parsed,
        node,
        is_incremental,
        &format!("Thread-{thread}"),
        shared.compile_opts.warehouse.clone(),
    )
    .map_err(|d| ExecError::diagnostic(&d))?;
    run_hooks(shared, "pre-hook", &hooks.pre).await?;
    let outcome = build_data(shared, node, compiled, thread, observer, result, extra).await?;
    // After the node's data is published: a post-hook that fails fails the node, but
    // the data it wrote stays (each statement is its own Delta commit).
    run_hooks(shared, "post-hook", &hooks.post).await?;
    Ok(outcome)
}

/// Runs hook statements in order; the first that fails is the node's error.
async fn run_hooks(shared: &Shared, kind: &str, hooks: &[String]) -> Result<(), ExecError> {
    for (i, sql) in hooks.iter().enumerate() {
        super::statement::run_script(&shared.session, sql)
            .await
            .map_err(|e| ExecError::new(e.kind(), format!("{kind} {} of {} failed: {e}", i + 1, hooks.len())).with_source(e))?;
    }
    Ok(())
}

/// Writes the node's data, staged and checked first when it must be.
#[allow(clippy::too_many_arguments)]
async fn build_data(
    shared: &Shared,
    node: &ParsedNode,
    compiled: Option<Result<CompiledNode, Diagnostic>>,
    thread: usize,
    observer: &dyn Observer,
    result: &mut NodeResult,
    extra: &mut Vec<NodeResult>,
) -> Result<Outcome, ExecError> {
    let id = node.node.unique_id.as_str();
    let contract = contract_of(node)?;
    let audits: &[String] = shared.audits.get(id).map(Vec::as_slice).unwrap_or_default();
    let dir = node.relation.path(&shared.warehouse);
    let writes = node.config.materialized.writes_table();
    // The table's check constraints that the contract no longer has (or has changed):
    // dropped before the new data is written, since Delta holds every write to them.
    let stale_checks = match &contract {
        Some(c) if writes && storage::exists(&dir) => {
            contract::stale_constraints(&storage::open(&dir).await?, c, &dir)?
        }
        _ => Vec::new(),
    };
    let staged = writes
        && (!audits.is_empty() || !stale_checks.is_empty() || contract.as_ref().is_some_and(Contract::needs_stage));
    let stage = if staged { Some(StagedWrite::begin(&dir).await?) } else { None };
    if let Some(st) = &stage
        && !stale_checks.is_empty()
    {
        contract::drop_constraints(st.stage.open().await?, &stale_checks, staged_commit(), &dir).await?;
    }
    let outcome = write(shared, node, compiled, stage.as_ref().map(|s| &s.stage), contract.as_ref(), result).await?;
    let Some(stage) = stage else {
        return Ok(outcome);
    };
    let (schema, name) = (&node.relation.schema, &node.relation.identifier);
    // The staged version stands in for the relation while it is checked.
    shared.session.register_override(schema, name, stage.stage.provider().await?);
    let checked = check(shared, node, &stage, contract.as_ref(), audits, thread, observer, extra).await;
    let previous = stage.previous;
    let published = match checked {
        Ok(()) => stage.publish().await,
        Err(why) => {
            stage.discard().await;
            let state = match previous {
                Some(v) => format!("`{schema}.{name}` stays at version {v}"),
                None => format!("`{schema}.{name}` was not created"),
            };
            Err(ExecError::audit(format!("new data not published: {why}; {state}")).with_source(why))
        }
    };
    shared.session.remove_override(schema, name);
    shared.session.invalidate(schema, name);
    published?;
    Ok(after_publish(&dir, previous, outcome).await)
}

/// The node's enforced contract (seeds have none).
fn contract_of(node: &ParsedNode) -> Result<Option<Contract>, ExecError> {
    if node.config.materialized == Materialization::Seed {
        return Ok(None);
    }
    let contract = Contract::of(node)?;
    if contract.is_some() && node.config.materialized == Materialization::Ephemeral {
        return Err(ExecError::contract(format!(
            "`{}` is ephemeral: contracts are enforced on models that produce a relation",
            node.node.name
        )));
    }
    Ok(contract)
}

/// Runs the node's materialization (or loads the seed), into `stage` when there is one.
async fn write(
    shared: &Shared,
    node: &ParsedNode,
    compiled: Option<Result<CompiledNode, Diagnostic>>,
    stage: Option<&Stage>,
    contract: Option<&Contract>,
    result: &mut NodeResult,
) -> Result<Outcome, ExecError> {
    // A `sql_header` runs in a session of the model's own (a `SET TIME ZONE` must not reach
    // the models running beside it), which then runs the model's query. A view is not
    // written: its header runs, as dbt runs it before `create view`, and changes nothing.
    let own;
    let mut session = &shared.session;
    if let Some(header) = &node.config.sql_header
        && !matches!(node.config.materialized, Materialization::Seed | Materialization::Ephemeral)
    {
        own = shared.session.derive(Vec::new())?;
        super::statement::run_script(&own, header)
            .await
            .map_err(|e| ExecError::new(e.kind(), format!("sql_header failed: {e}")).with_source(e))?;
        if node.config.materialized != Materialization::View {
            session = &own;
        }
    }
    let ctx = materialize::Context {
        session,
        warehouse: &shared.warehouse,
        full_refresh: shared.opts.full_refresh,
        stage,
        contract,
        streams: streamed_upstreams(&shared.parsed, node),
    };
    match (node.config.materialized, compiled) {
        (Materialization::Seed, _) => seed::load(&ctx, &shared.parsed.project.settings.root, node).await,
        (_, Some(Ok(c))) => {
            result.compiled_code = Some(c.sql.clone());
            if c.queried && node.config.materialized == Materialization::View {
                // Rendered again as it runs: what later readers see is this SQL.
                shared.session.register_view(&node.relation.schema, &node.relation.identifier, &c.sql);
            }
            let out = materialize::execute(&ctx, node, &c).await;
            if !std::ptr::eq(session, &shared.session) {
                // Written through the model's own session: the shared one must not keep
                // reading the table it opened before.
                shared.session.invalidate(&node.relation.schema, &node.relation.identifier);
            }
            out
        }
        (_, Some(Err(d))) => Err(ExecError::diagnostic(&d)),
        (_, None) => Err(ExecError::compile(format!("`{}` was not compiled (this is a bug)", node.node.name))),
    }
}

/// Checks the staged data: the contract's constraints, then the audited tests (each
/// reported as it runs). The error says why the data must not be published.
#[allow(clippy::too_many_arguments)]
async fn check(
    shared: &Shared,
    node: &ParsedNode,
    stage: &StagedWrite,
    contract: Option<&Contract>,
    audits: &[String],
    thread: usize,
    observer: &dyn Observer,
    extra: &mut Vec<NodeResult>,
) -> Result<(), ExecError> {
    if let Some(c) = contract {
        let dir = stage.stage.dir();
        let added = async {
            contract::verify(&shared.session, &node.relation.render(), c).await?;
            contract::add_constraints(stage.stage.open().await?, c, &shared.session, staged_commit(), dir).await
        };
        added.await?;
    }
    let mut failed: Vec<String> = Vec::new();
    for t in audits {
        let Some(test) = shared.parsed.node(t) else { continue };
        let r = run_audited_test(shared, test, thread, observer).await;
        if matches!(r.status, Status::Fail | Status::Error) {
            failed.push(match r.failures {
                Some(n) if r.status == Status::Fail => format!(
                    "test `{}` failed ({n} failing row{})",
                    test.node.name,
                    if n == 1 { "" } else { "s" }
                ),
                _ => format!("test `{}` could not run", test.node.name),
            });
        }
        extra.push(r);
    }
    if failed.is_empty() { Ok(()) } else { Err(ExecError::audit(failed.join(", "))) }
}

/// One audited test, announced and reported like any node.
async fn run_audited_test(shared: &Shared, test: &ParsedNode, thread: usize, observer: &dyn Observer) -> NodeResult {
    let desc = NodeDesc::of(test);
    let index = shared.take_index();
    observer.started(index, shared.total, &desc);
    let watch = Stopwatch::start();
    let mut r = start_result(test, thread);
    run_data_test(shared, test, &mut r).await;
    watch.stop(&mut r);
    observer.finished(index, shared.total, &desc, &r);
    r
}

/// Reports the version now current (constraint commits come after the data's) and does
/// the post-commit work the staged commits skipped: a checkpoint when the published
/// versions crossed the table's checkpoint interval, then log cleanup.
async fn after_publish(dir: &Path, previous: Option<u64>, mut outcome: Outcome) -> Outcome {
    let Ok(t) = storage::open(dir).await else {
        return outcome;
    };
    outcome.version = t.version().or(outcome.version);
    if let (Some(v), Ok(snapshot)) = (t.version(), t.snapshot()) {
        use deltalake::table::config::TablePropertiesExt;
        let config = snapshot.table_config();
        let interval = config.checkpoint_interval().get();
        let from = previous.map_or(0, |p| p + 1);
        if (from..=v).any(|x| x > 0 && x % interval == 0) {
            let _ = deltalake::checkpoints::create_checkpoint(&t, None).await;
            if config.enable_expired_log_cleanup() {
                let _ = deltalake::checkpoints::cleanup_metadata(&t, None).await;
            }
        }
    }
    outcome
}

/// Commit properties of a staged commit: no checkpoint, no log cleanup (the log is not
/// the table's yet).
fn staged_commit() -> CommitProperties {
    CommitProperties::default()
        .with_create_checkpoint(false)
        .with_cleanup_expired_logs(Some(false))
}

/// A write held back until its data is checked. It discards itself unless published:
/// whatever way the build leaves (an error, a panic), the staged data files are deleted
/// and the table stays at [`StagedWrite::previous`].
struct StagedWrite {
    stage: Stage,
    /// The table's version before the write (`None`: it did not exist).
    previous: Option<u64>,
    /// Published or discarded already.
    settled: bool,
}

impl StagedWrite {
    async fn begin(dir: &Path) -> Result<StagedWrite, ExecError> {
        let stage = Stage::new(dir)?;
        let previous = if storage::exists(dir) {
            storage::open(dir).await.ok().and_then(|t| t.version())
        } else {
            None
        };
        Ok(StagedWrite {
            stage,
            previous,
            settled: false,
        })
    }

    async fn publish(mut self) -> Result<(), ExecError> {
        self.settled = true;
        self.stage.publish().await
    }

    /// Drops the staged commits and their files. A failure to delete leaves unreferenced
    /// files behind, never a changed table, so it is not an error of the build.
    async fn discard(mut self) {
        self.settled = true;
        let _ = self.stage.discard().await;
    }
}

impl Drop for StagedWrite {
    fn drop(&mut self) {
        if !self.settled {
            // The staged log lives in memory and the files are removed with std::fs: the
            // discard needs no runtime, so it runs to completion here.
            let _ = futures::executor::block_on(self.stage.discard());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::Session;
    use crate::exec::write::TableWrite;

    fn parquet_files(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| {
                        let p = e.path();
                        if p.is_dir() {
                            parquet_files(&p)
                        } else {
                            usize::from(p.extension().is_some_and(|x| x == "parquet"))
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }

    async fn stage_one_row(session: &Session, table: &Path) -> StagedWrite {
        let staged = StagedWrite::begin(table).await.unwrap();
        let df = session.query("select 1 as x").await.unwrap();
        TableWrite::new(session, table, df).with_stage(Some(&staged.stage)).run().await.unwrap();
        assert!(staged.stage.exists().await && parquet_files(table) == 1);
        staged
    }

    #[tokio::test]
    async fn a_staged_write_discards_itself_unless_published() {
        let warehouse = tempfile::tempdir().unwrap();
        let session = Session::new(warehouse.path(), "main").unwrap();
        let table = warehouse.path().join("main").join("t");
        // Left without a verdict (as when a check returns early with an error).
        drop(stage_one_row(&session, &table).await);
        assert!(!storage::exists(&table));
        assert_eq!(parquet_files(&table), 0, "the staged data files are deleted");
        stage_one_row(&session, &table).await.discard().await;
        assert_eq!((storage::exists(&table), parquet_files(&table)), (false, 0));
        stage_one_row(&session, &table).await.publish().await.unwrap();
        assert_eq!(storage::open(&table).await.unwrap().version(), Some(0));
        assert_eq!(parquet_files(&table), 1);
    }
}
