//! Running a schedule: a pool of workers takes ready nodes in the graph's order; a node
//! that fails skips everything waiting on it (and `--fail-fast` stops launching). Every
//! node of the schedule gets exactly one result.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::Utc;

use super::build::build_node;
use super::schedule::Schedule;
use super::testing::{data, unit};
use super::{ExecError, NodeDesc, NodeResult, Observer, RunOptions, Session, Status, Timing};
use crate::compile::{CompileOptions, CompiledNode};
use crate::diagnostic::Diagnostic;
use crate::parse::{Materialization, ParsedNode, ParsedProject};

/// What every worker reads.
pub(super) struct Shared {
    pub(super) parsed: Arc<ParsedProject>,
    pub(super) session: Session,
    pub(super) opts: RunOptions,
    pub(super) warehouse: PathBuf,
    /// The next progress index (`3 of 12`), shared because audited tests take theirs
    /// while their model runs.
    next_index: AtomicUsize,
    pub(super) total: usize,
    pub(super) audits: HashMap<String, Vec<String>>,
    pub(super) compiled: BTreeMap<String, Result<CompiledNode, Diagnostic>>,
    /// How nodes were compiled, to compile again those that asked the warehouse.
    pub(super) compile_opts: CompileOptions,
    /// The nodes compiled again as they ran, for the artifacts.
    recompiled: std::sync::Mutex<BTreeMap<String, Result<CompiledNode, Diagnostic>>>,
}

impl Shared {
    pub(super) fn take_index(&self) -> usize {
        self.next_index.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// A node's SQL as it runs now. A node whose render asked the warehouse (or failed,
    /// perhaps because what it asked about was not built yet) is rendered again, as dbt
    /// compiles each node just before running it: its queries see its upstream nodes'
    /// new data.
    pub(super) fn compiled_now(&self, node: &ParsedNode) -> Option<Result<CompiledNode, Diagnostic>> {
        let id = &node.node.unique_id;
        match self.compiled.get(id)? {
            Ok(c) if !c.queried => Some(Ok(c.clone())),
            _ if self.compile_opts.warehouse.is_none() => self.compiled.get(id).cloned(),
            _ => {
                // Only this node's own table decides its `is_incremental()`: look at it now,
                // not at every table of the project.
                let mut opts = self.compile_opts.clone();
                let key = node.relation.key();
                if node.config.materialized.writes_table() && super::storage::exists(&node.relation.path(&self.warehouse)) {
                    opts.existing.insert(key);
                } else {
                    opts.existing.remove(&key);
                }
                let mut again = crate::compile::compile(&self.parsed, std::slice::from_ref(id), &opts);
                let result = again.remove(id)?;
                self.recompiled
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id.clone(), result.clone());
                Some(result)
            }
        }
    }
}

/// Runs a schedule on a pool of workers in dependency order. Every id gets a result, in
/// completion order. `compiled` comes back with the nodes compiled again as they ran.
pub async fn run(
    parsed: Arc<ParsedProject>,
    session: Session,
    mut schedule: Schedule,
    compiled: &mut BTreeMap<String, Result<CompiledNode, Diagnostic>>,
    compile_opts: CompileOptions,
    opts: RunOptions,
    observer: Arc<dyn Observer>,
) -> Vec<NodeResult> {
    let total = schedule.ids().len();
    let shared = Arc::new(Shared {
        warehouse: parsed.project.settings.target.warehouse_path.clone(),
        parsed,
        session,
        opts: opts.clone(),
        next_index: AtomicUsize::new(0),
        total,
        audits: schedule.audit_map().clone(),
        compiled: compiled.clone(),
        compile_opts,
        recompiled: Default::default(),
    });
    let mut results: Vec<NodeResult> = Vec::with_capacity(total);
    let mut done: HashSet<String> = HashSet::new();
    let mut stop = false;
    let mut tasks = tokio::task::JoinSet::new();
    let mut running: HashMap<tokio::task::Id, (String, usize)> = HashMap::new();
    let mut free_threads: Vec<usize> = (1..=opts.threads.max(1)).rev().collect();
    let skip = |shared: &Shared, id: &str, message: Option<String>| -> NodeResult {
        let r = skip_result(&shared.parsed, id, message);
        if let Some(node) = shared.parsed.node(id) {
            observer.finished(shared.take_index(), total, &NodeDesc::of(node), &r);
        }
        r
    };
    loop {
        while !stop && !free_threads.is_empty() {
            let Some(id) = schedule.next_ready() else {
                break;
            };
            if done.contains(&id) {
                continue;
            }
            let thread = free_threads.pop().unwrap_or(1);
            let index = shared.take_index();
            // Announced here, in launch order, so START lines are numbered in sequence.
            if let Some(node) = shared.parsed.node(&id) {
                observer.started(index, total, &NodeDesc::of(node));
            }
            let (shared2, observer2, id2) = (shared.clone(), observer.clone(), id.clone());
            let handle = tasks.spawn(async move {
                run_one(&shared2, &id2, index, thread, observer2.as_ref()).await
            });
            running.insert(handle.id(), (id, thread));
        }
        let Some(joined) = tasks.join_next_with_id().await else {
            break;
        };
        let batch: Vec<NodeResult> = match joined {
            Ok((task, batch)) => {
                if let Some((_, thread)) = running.remove(&task) {
                    free_threads.push(thread);
                }
                batch
            }
            Err(e) => {
                // A panic inside a worker is a bug: report it against its node.
                let (id, thread) = running.remove(&e.id()).unwrap_or_default();
                free_threads.push(thread.max(1));
                let r = internal_failure(&id, &format!("the worker failed: {e} (this is a bug)"));
                if let Some(node) = shared.parsed.node(&r.unique_id) {
                    observer.finished(0, total, &NodeDesc::of(node), &r);
                }
                vec![r]
            }
        };
        let Some(first) = batch.first() else { continue };
        let id = first.unique_id.clone();
        let failed = matches!(first.status, Status::Error | Status::Fail);
        for r in batch {
            done.insert(r.unique_id.clone());
            results.push(r);
        }
        // Audited tests that never ran (their model failed first) are skipped.
        for t in shared.audits.get(&id).into_iter().flatten() {
            if done.insert(t.clone()) {
                results.push(skip(&shared, t, None));
            }
        }
        if failed {
            if opts.fail_fast {
                stop = true;
            }
            // Everything that waits on the failure, directly or not, is skipped.
            let mut stack: Vec<String> = schedule.dependents(&id).to_vec();
            while let Some(d) = stack.pop() {
                if done.insert(d.clone()) {
                    results.push(skip(&shared, &d, None));
                    for t in shared.audits.get(&d).into_iter().flatten() {
                        if done.insert(t.clone()) {
                            results.push(skip(&shared, t, None));
                        }
                    }
                    stack.extend(schedule.dependents(&d).iter().cloned());
                }
            }
        }
        schedule.finished(&id, &done);
    }
    // With --fail-fast, whatever never started is skipped. Without it, every node ends
    // up run or skipped; one that is left waiting is a bug, and says so.
    for id in schedule.ids() {
        if !done.contains(id) {
            done.insert(id.clone());
            let why = if opts.fail_fast {
                "skipped: the run stopped at the first failure (--fail-fast)".to_owned()
            } else {
                format!("skipped: `{id}` waited for a node that never finished (this is a bug)")
            };
            results.push(skip(&shared, id, Some(why)));
        }
    }
    let recompiled = std::mem::take(&mut *shared.recompiled.lock().unwrap_or_else(|e| e.into_inner()));
    compiled.extend(recompiled);
    results
}

fn internal_failure(id: &str, message: &str) -> NodeResult {
    NodeResult {
        message: Some(message.to_owned()),
        error_label: Some("Runtime Error"),
        ..NodeResult::new(id, Status::Error)
    }
}

fn skip_result(parsed: &ParsedProject, id: &str, message: Option<String>) -> NodeResult {
    NodeResult {
        message,
        relation_name: parsed
            .node(id)
            .filter(|n| n.config.materialized.builds_relation())
            .map(|n| n.relation.render()),
        ..NodeResult::new(id, Status::Skipped)
    }
}

/// A fresh result for `node`, filled in as it runs.
pub(super) fn start_result(node: &ParsedNode, thread: usize) -> NodeResult {
    let now = Utc::now();
    NodeResult {
        timing: vec![Timing {
            name: "compile",
            started_at: now,
            completed_at: now,
        }],
        thread_id: format!("Thread-{thread}"),
        relation_name: node.config.materialized.builds_relation().then(|| node.relation.render()),
        ..NodeResult::new(&node.node.unique_id, Status::Success)
    }
}

/// When a node's execution began: its `execute` timing and its duration when it ends.
pub(super) struct Stopwatch {
    started_at: chrono::DateTime<Utc>,
    clock: Instant,
}

impl Stopwatch {
    pub(super) fn start() -> Stopwatch {
        Stopwatch {
            started_at: Utc::now(),
            clock: Instant::now(),
        }
    }

    pub(super) fn stop(self, result: &mut NodeResult) {
        result.timing.push(Timing {
            name: "execute",
            started_at: self.started_at,
            completed_at: Utc::now(),
        });
        result.execution_time = self.clock.elapsed().as_secs_f64();
    }
}

/// Runs one node; the first result is its own, then those of the tests audited with it.
async fn run_one(
    shared: &Shared,
    id: &str,
    index: usize,
    thread: usize,
    observer: &dyn Observer,
) -> Vec<NodeResult> {
    let Some(node) = shared.parsed.node(id) else {
        return vec![internal_failure(id, &format!("unknown node `{id}` (this is a bug)"))];
    };
    let desc = NodeDesc::of(node);
    let watch = Stopwatch::start();
    let mut result = start_result(node, thread);
    let mut extra = Vec::new();
    match node.config.materialized {
        Materialization::Test => run_data_test(shared, node, &mut result).await,
        Materialization::UnitTest => run_unit_test(shared, node, &mut result).await,
        // An exposure builds nothing: it is reached once its parents are built.
        Materialization::Exposure => {
            result.status = Status::NoOp;
            result.message = Some("NO-OP".to_owned());
        }
        _ => {
            let outcome = build_node(shared, node, thread, observer, &mut result, &mut extra).await;
            match outcome {
                Ok(o) => {
                    result.message = Some(o.message);
                    result.rows_affected = o.rows;
                    result.version = o.version;
                }
                Err(e) => fail(&mut result, &e.for_node(id)),
            }
        }
    }
    watch.stop(&mut result);
    observer.finished(index, shared.total, &desc, &result);
    let mut out = vec![result];
    out.extend(extra);
    out
}

pub(super) async fn run_data_test(shared: &Shared, node: &ParsedNode, result: &mut NodeResult) {
    let sql = match shared.compiled_now(node) {
        Some(Ok(c)) => c.sql,
        Some(Err(d)) => {
            fail(result, &ExecError::diagnostic(&d));
            return;
        }
        None => {
            fail(result, &ExecError::compile(format!("`{}` was not compiled (this is a bug)", node.node.name)));
            return;
        }
    };
    result.compiled_code = Some(sql.clone());
    test_into_result(shared, node, &sql, result).await;
}

async fn test_into_result(shared: &Shared, node: &ParsedNode, sql: &str, result: &mut NodeResult) {
    match data::run(&shared.session, &shared.warehouse, node, sql).await {
        Ok(o) => {
            result.status = o.status;
            result.failures = Some(o.failures);
            result.message = o.message;
            let mut detail = String::new();
            if let Some(sample) = &o.sample
                && let Ok(table) = sample.to_table() {
                    let shown = sample.row_count();
                    detail.push_str(&format!(
                        "first {} failing row{}:\n{table}",
                        shown,
                        if shown == 1 { "" } else { "s" }
                    ));
                }
            if let Some(t) = &o.stored_in
                && o.status != Status::Pass {
                    detail.push_str(&format!("failing rows stored in {t}\n"));
                }
            result.detail = (!detail.is_empty()).then_some(detail);
        }
        Err(e) => fail(result, &e),
    }
}

async fn run_unit_test(shared: &Shared, node: &ParsedNode, result: &mut NodeResult) {
    match unit::run(&shared.parsed, &shared.session, node).await {
        Ok(o) => {
            result.status = o.status;
            result.compiled_code = Some(o.compiled_sql);
            result.failures = Some(u64::from(o.status == Status::Fail));
            if let Some((summary, table)) = o.difference {
                result.message = Some(summary);
                result.detail = Some(table);
            }
        }
        Err(e) => fail(result, &e),
    }
}

fn fail(result: &mut NodeResult, e: &ExecError) {
    result.status = Status::Error;
    result.error_label = Some(e.label());
    result.message = Some(e.to_string());
}
