//! The execute stage: DataFusion over Delta tables. The one module that uses DataFusion and
//! deltalake.
//!
//! A run executes compiled nodes in dependency order on a pool of workers. A node that
//! fails skips everything downstream of it; each write is one Delta commit, so a failure
//! leaves the table as it was.

pub mod functions;
pub mod materialize;
pub mod seed;
pub mod session;
pub mod show;
pub mod storage;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::{Value as Json, json};

use crate::compile::{CompiledNode, relation_key};
use crate::diagnostic::Diagnostic;
use crate::graph::Graph;
use crate::parse::{Materialization, ParsedNode, ParsedProject};

pub use session::Session;

/// Something that went wrong while executing a node.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The node's SQL does not plan: unknown table or column, type error...
    #[error("{0}")]
    Sql(String),
    /// The query failed while running.
    #[error("{0}")]
    Execution(String),
    /// A Delta operation failed.
    #[error("{message}")]
    Delta { table: String, message: String },
    /// The new data does not fit the existing table (on_schema_change, seeds).
    #[error("{0}")]
    Schema(String),
    /// A seed file could not be read or typed.
    #[error("{0}")]
    Seed(String),
    /// A compile error surfaced at run time (a compiled node is missing).
    #[error("{0}")]
    Compile(String),
    #[error("cannot access `{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The engine itself failed to start.
    #[error("DataFusion: {0}")]
    Engine(String),
}

impl ExecError {
    /// dbt's label for the error class, used in console summaries.
    pub fn label(&self) -> &'static str {
        match self {
            ExecError::Compile(_) => "Compilation Error",
            _ => "Runtime Error",
        }
    }
}

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
            materialized: node.materialized,
            relation: format!("{}.{}", node.relation.schema, node.relation.identifier),
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

/// The relations that exist in the warehouse, for `is_incremental()`.
pub fn existing_relations(parsed: &ParsedProject) -> HashSet<String> {
    let warehouse = &parsed.project.settings.target.warehouse_path;
    parsed
        .nodes
        .iter()
        .filter(|n| n.enabled && n.materialized.writes_table())
        .filter(|n| {
            storage::exists(
                &warehouse
                    .join(&n.relation.schema)
                    .join(&n.relation.identifier),
            )
        })
        .map(|n| relation_key(&n.relation))
        .collect()
}

/// A session over the project's warehouse, with every compiled view registered.
pub fn open_session(parsed: &ParsedProject) -> Result<Session, ExecError> {
    let target = &parsed.project.settings.target;
    Session::new(&target.warehouse_path, &target.schema)
}

/// Registers the views among `compiled` so queries can read them.
pub fn register_views(
    session: &Session,
    parsed: &ParsedProject,
    compiled: &BTreeMap<String, Result<CompiledNode, Diagnostic>>,
) {
    for (id, c) in compiled {
        if let (Some(node), Ok(c)) = (parsed.node(id), c) {
            if node.materialized == Materialization::View {
                session.register_view(&node.relation.schema, &node.relation.identifier, &c.sql);
            }
        }
    }
}

struct Shared {
    parsed: Arc<ParsedProject>,
    session: Session,
    opts: RunOptions,
    warehouse: PathBuf,
}

/// Runs `ids` (models and seeds, in any order) on a pool of workers in dependency order.
/// Every id gets a result, in completion order.
pub async fn run(
    parsed: Arc<ParsedProject>,
    graph: &Graph,
    session: Session,
    ids: &[String],
    compiled: BTreeMap<String, Result<CompiledNode, Diagnostic>>,
    opts: RunOptions,
    observer: Arc<dyn Observer>,
) -> Vec<NodeResult> {
    let run_set: HashSet<&str> = ids.iter().map(String::as_str).collect();
    // Each node waits for its nearest ancestors that run, looking through nodes that do
    // not (ephemerals, unselected models), so a selected subgraph keeps dbt's order.
    let mut waiting_on: HashMap<String, HashSet<String>> = HashMap::new();
    let mut dependents: HashMap<String, Vec<String>> = HashMap::new();
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
        for a in &nearest {
            dependents.entry(a.clone()).or_default().push(id.clone());
        }
        waiting_on.insert(id.clone(), nearest);
    }
    let order: HashMap<String, usize> = graph
        .topo_order()
        .into_iter()
        .enumerate()
        .map(|(i, id)| (id, i))
        .collect();
    let rank = |id: &str| order.get(id).copied().unwrap_or(usize::MAX);
    // Ready nodes start in the graph's order (a min-heap on their topological rank).
    let mut ready: BinaryHeap<Reverse<(usize, String)>> = ids
        .iter()
        .filter(|id| waiting_on[*id].is_empty())
        .map(|id| Reverse((rank(id), id.clone())))
        .collect();
    let total = ids.len();
    let shared = Arc::new(Shared {
        warehouse: parsed.project.settings.target.warehouse_path.clone(),
        parsed,
        session,
        opts: opts.clone(),
    });
    let compiled = Arc::new(compiled);
    let mut results: Vec<NodeResult> = Vec::with_capacity(total);
    let mut done: HashSet<String> = HashSet::new();
    let mut next_index = 0;
    let mut stop = false;
    let mut tasks = tokio::task::JoinSet::new();
    let mut running: HashMap<tokio::task::Id, (String, usize)> = HashMap::new();
    let mut free_threads: Vec<usize> = (1..=opts.threads.max(1)).rev().collect();
    loop {
        while !stop && !free_threads.is_empty() {
            let Some(Reverse((_, id))) = ready.pop() else {
                break;
            };
            if done.contains(&id) {
                continue;
            }
            let thread = free_threads.pop().unwrap_or(1);
            next_index += 1;
            let index = next_index;
            // Announced here, in launch order, so START lines are numbered in sequence.
            if let Some(node) = shared.parsed.node(&id) {
                observer.started(index, total, &NodeDesc::of(node));
            }
            let (shared2, compiled2, observer2, id2) = (
                shared.clone(),
                compiled.clone(),
                observer.clone(),
                id.clone(),
            );
            let handle = tasks.spawn(async move {
                run_one(
                    &shared2,
                    &compiled2,
                    &id2,
                    index,
                    total,
                    thread,
                    observer2.as_ref(),
                )
                .await
            });
            running.insert(handle.id(), (id, thread));
        }
        let Some(joined) = tasks.join_next_with_id().await else {
            break;
        };
        let result = match joined {
            Ok((task, result)) => {
                if let Some((_, thread)) = running.remove(&task) {
                    free_threads.push(thread);
                }
                result
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
                r
            }
        };
        let failed = result.status == Status::Error || result.status == Status::Fail;
        let id = result.unique_id.clone();
        done.insert(id.clone());
        results.push(result);
        if failed {
            if opts.fail_fast {
                stop = true;
            }
            for d in graph.descendants(&id, None) {
                if run_set.contains(d.as_str()) && done.insert(d.clone()) {
                    next_index += 1;
                    let r = skip_result(&shared.parsed, &d, None);
                    if let Some(node) = shared.parsed.node(&d) {
                        observer.finished(next_index, total, &NodeDesc::of(node), &r);
                    }
                    results.push(r);
                }
            }
        }
        for dep in dependents.get(&id).map(Vec::as_slice).unwrap_or_default() {
            if let Some(w) = waiting_on.get_mut(dep) {
                w.remove(&id);
                if w.is_empty() && !done.contains(dep) {
                    ready.push(Reverse((rank(dep), dep.clone())));
                }
            }
        }
    }
    // With --fail-fast, whatever never started is skipped.
    for id in ids {
        if !done.contains(id) {
            next_index += 1;
            let r = skip_result(
                &shared.parsed,
                id,
                Some("skipped: the run stopped at the first failure (--fail-fast)".into()),
            );
            if let Some(node) = shared.parsed.node(id) {
                observer.finished(next_index, total, &NodeDesc::of(node), &r);
            }
            results.push(r);
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
        relation_name: parsed.node(id).map(|n| n.relation.render()),
        version: None,
    }
}

async fn run_one(
    shared: &Shared,
    compiled: &BTreeMap<String, Result<CompiledNode, Diagnostic>>,
    id: &str,
    index: usize,
    total: usize,
    thread: usize,
    observer: &dyn Observer,
) -> NodeResult {
    let thread_id = format!("Thread-{thread}");
    let Some(node) = shared.parsed.node(id) else {
        return NodeResult {
            unique_id: id.to_owned(),
            ..internal_failure(&format!("unknown node `{id}` (this is a bug)"))
        };
    };
    let desc = NodeDesc::of(node);
    let compile_start = Utc::now();
    let clock = Instant::now();
    let compile_end = Utc::now();
    let mut result = NodeResult {
        unique_id: id.to_owned(),
        status: Status::Success,
        message: None,
        error_label: None,
        rows_affected: None,
        failures: None,
        timing: vec![Timing {
            name: "compile",
            started_at: compile_start,
            completed_at: compile_end,
        }],
        execution_time: 0.0,
        thread_id,
        compiled_code: None,
        relation_name: (node.materialized != Materialization::Ephemeral)
            .then(|| node.relation.render()),
        version: None,
    };
    let outcome = match compiled.get(id) {
        Some(Ok(c)) => {
            result.compiled_code = Some(c.sql.clone());
            let exec_start = Utc::now();
            let ctx = materialize::Context {
                session: &shared.session,
                warehouse: &shared.warehouse,
                full_refresh: shared.opts.full_refresh,
            };
            let out = materialize::execute(&ctx, node, c).await;
            result.timing.push(Timing {
                name: "execute",
                started_at: exec_start,
                completed_at: Utc::now(),
            });
            out
        }
        Some(Err(d)) => Err(ExecError::Compile(d.render(false).trim_end().to_owned())),
        None if node.materialized == Materialization::Seed => {
            let exec_start = Utc::now();
            let ctx = materialize::Context {
                session: &shared.session,
                warehouse: &shared.warehouse,
                full_refresh: shared.opts.full_refresh,
            };
            let out = seed::load(&ctx, &shared.parsed.project.settings.root, node).await;
            result.timing.push(Timing {
                name: "execute",
                started_at: exec_start,
                completed_at: Utc::now(),
            });
            out
        }
        None => Err(ExecError::Compile(format!(
            "`{}` was not compiled (this is a bug)",
            node.node.name
        ))),
    };
    result.execution_time = clock.elapsed().as_secs_f64();
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
    observer.finished(index, total, &desc, &result);
    result
}
