//! The execute stage: DataFusion over Delta tables. The one module that uses DataFusion and
//! deltalake.
//!
//! A run executes compiled nodes in dependency order on a pool of workers. A node that
//! fails skips everything downstream of it; each write is one Delta commit, so a failure
//! leaves the table as it was.

pub mod bronze;
pub mod contract;
pub mod error;
pub mod catalog;
pub mod data_test;
pub mod functions;
pub mod json;
pub mod lineage;
pub mod materialize;
pub mod optimize;
pub mod seed;
pub mod session;
pub mod show;
pub mod stage;
pub mod storage;
pub mod stream;
pub mod types;
pub mod unit_test;
pub mod write;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::{Value as Json, json};

use crate::compile::CompiledNode;
use crate::diagnostic::Diagnostic;
use crate::graph::Graph;
use crate::parse::{Materialization, ParsedNode, ParsedProject};

pub use error::{ErrorKind, ExecError};
pub use session::Session;

/// dbt's run result statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    Error,
    Skipped,
    Pass,
    Fail,
    Warn,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Error => "error",
            Status::Skipped => "skipped",
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
        }
    }
}

/// One phase of a node's work, for `run_results.json`.
#[derive(Debug, Clone)]
pub struct Timing {
    pub name: &'static str,
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
}

/// The outcome of one node.
#[derive(Debug, Clone)]
pub struct NodeResult {
    pub unique_id: String,
    pub status: Status,
    /// `OK`, `INSERT 3`, or the error text.
    pub message: Option<String>,
    /// `Compilation Error` or `Runtime Error` for failures.
    pub error_label: Option<&'static str>,
    pub rows_affected: Option<u64>,
    pub failures: Option<u64>,
    pub timing: Vec<Timing>,
    pub execution_time: f64,
    pub thread_id: String,
    pub compiled_code: Option<String>,
    pub relation_name: Option<String>,
    /// The Delta version written, for tables.
    pub version: Option<u64>,
    /// What a failure shows beyond its message: a test's first failing rows, a unit
    /// test's difference.
    pub detail: Option<String>,
}

impl NodeResult {
    pub fn adapter_response(&self) -> Json {
        match (&self.status, &self.message) {
            (Status::Success, Some(m)) => {
                let mut r = json!({"_message": m});
                if let Some(rows) = self.rows_affected {
                    r["rows_affected"] = json!(rows);
                    if let Some(code) = m
                        .split_whitespace()
                        .next()
                        .filter(|c| c.chars().all(|ch| ch.is_ascii_uppercase()))
                    {
                        r["code"] = json!(code);
                    }
                }
                r
            }
            _ => json!({}),
        }
    }
}

/// What a console shows about a node.
#[derive(Debug, Clone)]
pub struct NodeDesc {
    pub unique_id: String,
    pub name: String,
    pub resource_type: &'static str,
    pub materialized: Materialization,
    /// `schema.alias`
    pub relation: String,
    pub path: String,
}

impl NodeDesc {
    pub fn of(node: &ParsedNode) -> NodeDesc {
        NodeDesc {
            unique_id: node.node.unique_id.clone(),
            name: node.node.name.clone(),
            resource_type: node.node.resource_type.as_str(),
            materialized: node.config.materialized,
            relation: node.relation.key(),
            path: node.node.original_file_path.clone(),
        }
    }
}

/// Receives progress as nodes start and finish (the CLI prints it).
pub trait Observer: Send + Sync {
    fn started(&self, index: usize, total: usize, node: &NodeDesc);
    fn finished(&self, index: usize, total: usize, node: &NodeDesc, result: &NodeResult);
}

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub threads: usize,
    pub fail_fast: bool,
    pub full_refresh: bool,
}

/// What runs, and in which order: each node waits for the nodes named in `waits`; the
/// tests in `audits` run inside their model's write, on its staged data.
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    pub ids: Vec<String>,
    pub waits: HashMap<String, HashSet<String>>,
    /// Model or seed -> the error-severity tests its new data must pass before it is
    /// published (`silt build`).
    pub audits: HashMap<String, Vec<String>>,
}

impl Schedule {
    /// Each node waits for its nearest ancestors that run, looking through nodes that do
    /// not (ephemerals, unselected models), so a selected subgraph keeps dbt's order.
    pub fn new(graph: &Graph, ids: &[String]) -> Schedule {
        let run_set: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let mut waits = HashMap::new();
        for id in ids {
            let mut nearest = HashSet::new();
            let mut seen: HashSet<String> = HashSet::new();
            let mut stack = graph.parents(id);
            while let Some(p) = stack.pop() {
                if !seen.insert(p.clone()) {
                    continue;
                }
                if run_set.contains(p.as_str()) {
                    nearest.insert(p);
                } else {
                    stack.extend(graph.parents(&p));
                }
            }
            waits.insert(id.clone(), nearest);
        }
        Schedule {
            ids: ids.to_vec(),
            waits,
            audits: HashMap::new(),
        }
    }
}

/// The relations that exist in the warehouse, for `is_incremental()`.
pub fn existing_relations(parsed: &ParsedProject) -> HashSet<String> {
    let warehouse = &parsed.project.settings.target.warehouse_path;
    parsed
        .nodes
        .iter()
        .filter(|n| n.config.enabled && n.config.materialized.writes_table())
        .filter(|n| {
            storage::exists(
                &n.relation.path(&warehouse),
            )
        })
        .map(|n| n.relation.key())
        .collect()
}

/// A session over the project's warehouse, with the project's emote list.
pub fn open_session(parsed: &ParsedProject) -> Result<Session, ExecError> {
    let target = &parsed.project.settings.target;
    let session = Session::new(&target.warehouse_path, &target.schema)?;
    if let Some(emotes) = emote_list(parsed)? {
        session.set_emotes(emotes);
    }
    Ok(session)
}

/// The first row of a query whose columns are counts, as numbers (null as 0).
pub async fn query_numbers(session: &Session, sql: &str) -> Result<Vec<u64>, ExecError> {
    use deltalake::arrow::array::{Array, AsArray};
    use deltalake::arrow::datatypes::{DataType, Int64Type};
    let batches = session
        .query(sql)
        .await?
        .collect()
        .await?;
    let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for c in b.columns() {
        let c = deltalake::arrow::compute::cast(c, &DataType::Int64)?;
        let c = c.as_primitive::<Int64Type>();
        out.push(if c.is_null(0) { 0 } else { c.value(0).max(0) as u64 });
    }
    Ok(out)
}

/// What a streaming table reads as streams: its Kafka sources and streaming tables
/// upstream (other relations it reads in full).
pub fn streamed_upstreams(parsed: &ParsedProject, node: &crate::parse::ParsedNode) -> Vec<materialize::Streamed> {
    if node.config.materialized != Materialization::StreamingTable {
        return Vec::new();
    }
    node.depends_on
        .iter()
        .filter_map(|id| {
            if let Some(s) = parsed.source(id) {
                s.source.kafka.is_some().then(|| materialize::Streamed {
                    unique_id: id.clone(),
                    relation: s.relation.clone(),
                })
            } else {
                parsed
                    .node(id)
                    .filter(|n| n.config.materialized == Materialization::StreamingTable)
                    .map(|n| materialize::Streamed {
                        unique_id: id.clone(),
                        relation: n.relation.clone(),
                    })
            }
        })
        .collect()
}

/// The project variable that names the seed holding the emote list of the chat functions
/// (`sentiment`, `emote_count`, ...): a CSV with a column `emote` and one `sentiment`.
pub const EMOTES_VAR: &str = "silt_emotes";

/// The emote list named by `vars: {silt_emotes: <seed>}`, read from the seed's CSV (the
/// file, so it holds even before `silt seed`); `None` when the variable is not set.
pub fn emote_list(parsed: &ParsedProject) -> Result<Option<crate::enrich::Emotes>, ExecError> {
    let settings = &parsed.project.settings;
    let Some(value) = settings.vars.get(&settings.project.name, EMOTES_VAR) else {
        return Ok(None);
    };
    let Some(name) = value.as_str() else {
        return Err(ExecError::seed(format!(
            "project.yml: `vars: {{{EMOTES_VAR}: ...}}` must name a seed, not `{value}`"
        )));
    };
    let seeds: Vec<&crate::project::ProjectNode> = parsed
        .nodes
        .iter()
        .map(|n| &n.node)
        .filter(|n| n.resource_type == crate::project::ResourceType::Seed)
        .collect();
    let Some(seed) = seeds.iter().find(|n| n.name == name) else {
        let mut known: Vec<&str> = seeds.iter().map(|n| n.name.as_str()).collect();
        known.sort_unstable();
        return Err(ExecError::seed(format!(
            "project.yml: `{EMOTES_VAR}` names the seed `{name}`, which does not exist (seeds: {})",
            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
        )));
    };
    let path = settings.root.join(&seed.original_file_path);
    let text = std::fs::read_to_string(&path).map_err(|e| ExecError::seed(format!("{}: {e}", seed.original_file_path)))?;
    crate::enrich::Emotes::from_csv(&text, &seed.original_file_path)
        .map(Some)
        .map_err(|e| ExecError::seed(e.to_string()).with_source(e))
}

/// Registers the views among `compiled` so queries can read them.
pub fn register_views(
    session: &Session,
    parsed: &ParsedProject,
    compiled: &BTreeMap<String, Result<CompiledNode, Diagnostic>>,
) {
    for (id, c) in compiled {
        if let (Some(node), Ok(c)) = (parsed.node(id), c)
            && node.config.materialized == Materialization::View {
                session.register_view(&node.relation.schema, &node.relation.identifier, &c.sql);
            }
    }
}

struct Shared {
    parsed: Arc<ParsedProject>,
    session: Session,
    opts: RunOptions,
    warehouse: PathBuf,
    /// The next progress index (`3 of 12`), shared because audited tests take theirs
    /// while their model runs.
    next_index: AtomicUsize,
    total: usize,
    audits: HashMap<String, Vec<String>>,
    compiled: BTreeMap<String, Result<CompiledNode, Diagnostic>>,
}

impl Shared {
    fn take_index(&self) -> usize {
        self.next_index.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// Runs a schedule on a pool of workers in dependency order. Every id gets a result, in
/// completion order.
pub async fn run(
    parsed: Arc<ParsedProject>,
    graph: &Graph,
    session: Session,
    schedule: Schedule,
    compiled: BTreeMap<String, Result<CompiledNode, Diagnostic>>,
    opts: RunOptions,
    observer: Arc<dyn Observer>,
) -> Vec<NodeResult> {
    let Schedule {
        ids,
        mut waits,
        audits,
    } = schedule;
    // An audited test runs inside its model: what waits for it waits for the model.
    let audited: HashMap<String, String> = audits
        .iter()
        .flat_map(|(m, ts)| ts.iter().map(move |t| (t.clone(), m.clone())))
        .collect();
    let launch: Vec<String> = ids
        .iter()
        .filter(|id| !audited.contains_key(*id))
        .cloned()
        .collect();
    for w in waits.values_mut() {
        let replaced: Vec<String> = w
            .iter()
            .filter_map(|x| audited.get(x).cloned())
            .collect();
        w.retain(|x| !audited.contains_key(x));
        w.extend(replaced);
    }
    for (id, w) in waits.iter_mut() {
        w.remove(id);
    }
    let mut dependents: HashMap<String, Vec<String>> = HashMap::new();
    for id in &launch {
        for a in waits.get(id).into_iter().flatten() {
            dependents.entry(a.clone()).or_default().push(id.clone());
        }
    }
    let order: HashMap<String, usize> = graph
        .topo_order()
        .into_iter()
        .enumerate()
        .map(|(i, id)| (id, i))
        .collect();
    let rank = |id: &str| order.get(id).copied().unwrap_or(usize::MAX);
    // Ready nodes start in the graph's order (a min-heap on their topological rank).
    let mut ready: BinaryHeap<Reverse<(usize, String)>> = launch
        .iter()
        .filter(|id| waits.get(*id).is_none_or(HashSet::is_empty))
        .map(|id| Reverse((rank(id), id.clone())))
        .collect();
    let total = ids.len();
    let shared = Arc::new(Shared {
        warehouse: parsed.project.settings.target.warehouse_path.clone(),
        parsed,
        session,
        opts: opts.clone(),
        next_index: AtomicUsize::new(0),
        total,
        audits,
        compiled,
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
            let Some(Reverse((_, id))) = ready.pop() else {
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
                let r = NodeResult {
                    unique_id: id,
                    ..internal_failure(&format!("the worker failed: {e} (this is a bug)"))
                };
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
            let mut stack: Vec<String> = dependents.get(&id).cloned().unwrap_or_default();
            while let Some(d) = stack.pop() {
                if done.insert(d.clone()) {
                    results.push(skip(&shared, &d, None));
                    for t in shared.audits.get(&d).into_iter().flatten() {
                        if done.insert(t.clone()) {
                            results.push(skip(&shared, t, None));
                        }
                    }
                    stack.extend(dependents.get(&d).cloned().unwrap_or_default());
                }
            }
        }
        for dep in dependents.get(&id).map(Vec::as_slice).unwrap_or_default() {
            if let Some(w) = waits.get_mut(dep) {
                w.remove(&id);
                if w.is_empty() && !done.contains(dep) {
                    ready.push(Reverse((rank(dep), dep.clone())));
                }
            }
        }
    }
    // With --fail-fast, whatever never started is skipped. Without it, every node ends
    // up run or skipped; one that is left waiting is a bug, and says so.
    for id in &ids {
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
    results
}

fn internal_failure(message: &str) -> NodeResult {
    NodeResult {
        unique_id: String::new(),
        status: Status::Error,
        message: Some(message.to_owned()),
        error_label: Some("Runtime Error"),
        rows_affected: None,
        failures: None,
        timing: Vec::new(),
        execution_time: 0.0,
        thread_id: String::new(),
        compiled_code: None,
        relation_name: None,
        version: None,
        detail: None,
    }
}

fn skip_result(parsed: &ParsedProject, id: &str, message: Option<String>) -> NodeResult {
    NodeResult {
        unique_id: id.to_owned(),
        status: Status::Skipped,
        message,
        error_label: None,
        rows_affected: None,
        failures: None,
        timing: Vec::new(),
        execution_time: 0.0,
        thread_id: String::new(),
        compiled_code: None,
        relation_name: parsed
            .node(id)
            .filter(|n| n.config.materialized.writes_table() || n.config.materialized == Materialization::View)
            .map(|n| n.relation.render()),
        version: None,
        detail: None,
    }
}

/// A fresh result for `node`, filled in as it runs.
fn start_result(node: &ParsedNode, thread: usize) -> NodeResult {
    let now = Utc::now();
    NodeResult {
        unique_id: node.node.unique_id.clone(),
        status: Status::Success,
        message: None,
        error_label: None,
        rows_affected: None,
        failures: None,
        timing: vec![Timing {
            name: "compile",
            started_at: now,
            completed_at: now,
        }],
        execution_time: 0.0,
        thread_id: format!("Thread-{thread}"),
        compiled_code: None,
        relation_name: (node.config.materialized.writes_table()
            || node.config.materialized == Materialization::View)
            .then(|| node.relation.render()),
        version: None,
        detail: None,
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
        return vec![NodeResult {
            unique_id: id.to_owned(),
            ..internal_failure(&format!("unknown node `{id}` (this is a bug)"))
        }];
    };
    let desc = NodeDesc::of(node);
    let clock = Instant::now();
    let mut result = start_result(node, thread);
    let mut extra = Vec::new();
    let exec_start = Utc::now();
    match node.config.materialized {
        Materialization::Test => run_data_test(shared, node, &mut result).await,
        Materialization::UnitTest => run_unit_test(shared, node, &mut result).await,
        _ => {
            let outcome = build_node(shared, node, thread, observer, &mut result, &mut extra).await;
            match outcome {
                Ok(o) => {
                    result.message = Some(o.message);
                    result.rows_affected = o.rows;
                    result.version = o.version;
                }
                Err(e) => {
                    result.status = Status::Error;
                    result.error_label = Some(e.label());
                    result.message = Some(e.to_string());
                }
            }
        }
    }
    result.timing.push(Timing {
        name: "execute",
        started_at: exec_start,
        completed_at: Utc::now(),
    });
    result.execution_time = clock.elapsed().as_secs_f64();
    observer.finished(index, shared.total, &desc, &result);
    let mut out = vec![result];
    out.extend(extra);
    out
}

async fn run_data_test(shared: &Shared, node: &ParsedNode, result: &mut NodeResult) {
    let sql = match shared.compiled.get(&node.node.unique_id) {
        Some(Ok(c)) => c.sql.clone(),
        Some(Err(d)) => {
            fail(result, &ExecError::compile(d.render(false).trim_end().to_owned()));
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
    match data_test::run(&shared.session, &shared.warehouse, node, sql).await {
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
    match unit_test::run(&shared.parsed, &shared.session, node).await {
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

/// Commit properties of a staged commit: no checkpoint, no log cleanup (the log is not
/// the table's yet).
fn props_for_stage() -> deltalake::kernel::transaction::CommitProperties {
    deltalake::kernel::transaction::CommitProperties::default()
        .with_create_checkpoint(false)
        .with_cleanup_expired_logs(Some(false))
}

/// Builds a model or seed. When its new data must be checked first (audited tests, a
/// contract's check or unique constraints), the write is staged, checked, then published
/// or discarded.
async fn build_node(
    shared: &Shared,
    node: &ParsedNode,
    thread: usize,
    observer: &dyn Observer,
    result: &mut NodeResult,
    extra: &mut Vec<NodeResult>,
) -> Result<materialize::Outcome, ExecError> {
    let id = node.node.unique_id.as_str();
    let contract = if node.config.materialized == Materialization::Seed {
        None
    } else {
        contract::Contract::of(node)?
    };
    if contract.is_some() && node.config.materialized == Materialization::Ephemeral {
        return Err(ExecError::contract(format!(
            "`{}` is ephemeral: contracts are enforced on models that produce a relation",
            node.node.name
        )));
    }
    let audits: &[String] = shared.audits.get(id).map(Vec::as_slice).unwrap_or_default();
    let dir = node.relation.path(&shared.warehouse);
    // The table's check constraints that the contract no longer has (or has changed):
    // dropped before the new data is written, since Delta holds every write to them.
    let mut stale_checks: Vec<String> = Vec::new();
    if let (Some(c), true) = (&contract, node.config.materialized.writes_table() && storage::exists(&dir)) {
        let table = storage::open(&dir).await?;
        stale_checks = contract::stale_constraints(&table, c, &dir)?;
    }
    let staged = node.config.materialized.writes_table()
        && (!audits.is_empty()
            || !stale_checks.is_empty()
            || contract.as_ref().is_some_and(contract::Contract::needs_stage));
    let stage = if staged {
        Some(stage::Stage::new(&dir)?)
    } else {
        None
    };
    let previous = if staged && storage::exists(&dir) {
        storage::open(&dir).await.ok().and_then(|t| t.version())
    } else {
        None
    };
    if let (Some(st), false) = (&stage, stale_checks.is_empty()) {
        let dropped = async {
            let t = st.open().await?;
            contract::drop_constraints(t, &stale_checks, props_for_stage(), &dir).await
        }
        .await;
        if let Err(e) = dropped {
            let _ = st.discard().await;
            return Err(e);
        }
    }
    let ctx = materialize::Context {
        session: &shared.session,
        warehouse: &shared.warehouse,
        full_refresh: shared.opts.full_refresh,
        stage: stage.as_ref(),
        contract: contract.as_ref(),
        streams: streamed_upstreams(&shared.parsed, node),
    };
    let outcome = match (node.config.materialized, shared.compiled.get(id)) {
        (Materialization::Seed, _) => {
            seed::load(&ctx, &shared.parsed.project.settings.root, node).await
        }
        (_, Some(Ok(c))) => {
            result.compiled_code = Some(c.sql.clone());
            materialize::execute(&ctx, node, c).await
        }
        (_, Some(Err(d))) => Err(ExecError::compile(d.render(false).trim_end().to_owned())),
        (_, None) => Err(ExecError::compile(format!(
            "`{}` was not compiled (this is a bug)",
            node.node.name
        ))),
    };
    let Some(stage) = stage.as_ref() else {
        return outcome;
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let _ = stage.discard().await;
            return Err(e);
        }
    };
    let (schema, name) = (&node.relation.schema, &node.relation.identifier);
    let unpublished = |why: String| -> ExecError {
        let state = match previous {
            Some(v) => format!("`{schema}.{name}` stays at version {v}"),
            None => format!("`{schema}.{name}` was not created"),
        };
        ExecError::audit(format!("new data not published: {why}; {state}"))
    };
    // The staged version stands in for the relation while it is checked.
    let provider = match stage.provider().await {
        Ok(p) => p,
        Err(e) => {
            let _ = stage.discard().await;
            return Err(e);
        }
    };
    shared.session.register_override(schema, name, provider);
    let mut checked: Result<(), ExecError> = Ok(());
    if let Some(c) = &contract {
        checked = contract::verify(&shared.session, &node.relation.render(), c).await;
        if checked.is_ok() {
            checked = match stage.open().await {
                Ok(t) => contract::add_constraints(t, c, &shared.session, props_for_stage(), &dir).await,
                Err(e) => Err(e),
            };
        }
    }
    let mut failed_tests: Vec<String> = Vec::new();
    if checked.is_ok() {
        for t in audits {
            let Some(test) = shared.parsed.node(t) else { continue };
            let tdesc = NodeDesc::of(test);
            let index = shared.take_index();
            observer.started(index, shared.total, &tdesc);
            let clock = Instant::now();
            let mut r = start_result(test, thread);
            let started = Utc::now();
            run_data_test(shared, test, &mut r).await;
            r.timing.push(Timing {
                name: "execute",
                started_at: started,
                completed_at: Utc::now(),
            });
            r.execution_time = clock.elapsed().as_secs_f64();
            if matches!(r.status, Status::Fail | Status::Error) {
                failed_tests.push(match r.failures {
                    Some(n) if r.status == Status::Fail => format!(
                        "test `{}` failed ({n} failing row{})",
                        test.node.name,
                        if n == 1 { "" } else { "s" }
                    ),
                    _ => format!("test `{}` could not run", test.node.name),
                });
            }
            observer.finished(index, shared.total, &tdesc, &r);
            extra.push(r);
        }
    }
    let verdict = match checked {
        Err(e) => Err(unpublished(e.to_string())),
        Ok(()) if !failed_tests.is_empty() => Err(unpublished(failed_tests.join(", "))),
        Ok(()) => Ok(()),
    };
    let final_result = match verdict {
        Ok(()) => stage.publish().await,
        Err(e) => {
            let _ = stage.discard().await;
            Err(e)
        }
    };
    shared.session.remove_override(schema, name);
    shared.session.invalidate(schema, name);
    final_result?;
    let mut outcome = outcome;
    // Constraint commits come after the data's: report the version now current. The
    // staged commits skipped Delta's post-commit work; do it now: a checkpoint when the
    // published versions crossed the table's checkpoint interval, then log cleanup.
    if let Ok(t) = storage::open(&dir).await {
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
    }
    Ok(outcome)
}
