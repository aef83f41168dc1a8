//! Commands as library operations: selecting, compiling and running nodes, without any
//! printing. The CLI calls these and reports; tests call them directly.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use crate::Loaded;
use crate::compile::{CompileOptions, CompiledNode, compile};
use crate::diagnostic::Diagnostic;
use crate::exec::{ExecError, NodeDesc, NodeResult, Observer, RunOptions};
use crate::graph::selector::Selection;
use crate::parse::{Materialization, ParsedProject};
use crate::project::ResourceType;

/// The selected unique ids of the given resource types, in graph order.
pub fn select(loaded: &Loaded, select: &[String], exclude: &[String], types: &[ResourceType]) -> Result<Vec<String>, Diagnostic> {
    let selection = Selection::parse(select, exclude)?;
    let set = selection.apply(&loaded.parsed, &loaded.graph, types)?;
    Ok(loaded.graph.topo_order().into_iter().filter(|id| set.contains(id)).collect())
}

/// What to build.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Selected models and/or seeds (ephemeral models among them are skipped: they are
    /// inlined where they are read).
    pub ids: Vec<String>,
    pub threads: usize,
    pub full_refresh: bool,
    pub fail_fast: bool,
}

/// What a run did.
pub struct RunReport {
    pub results: Vec<NodeResult>,
    /// Everything compiled for the run (the run's nodes and the views they read).
    pub compiled: BTreeMap<String, Result<CompiledNode, Diagnostic>>,
    pub elapsed: f64,
}

/// An observer that ignores progress.
pub struct Silent;

impl Observer for Silent {
    fn started(&self, _: usize, _: usize, _: &NodeDesc) {}
    fn finished(&self, _: usize, _: usize, _: &NodeDesc, _: &NodeResult) {}
}

/// The nodes a request runs, and what must be compiled for them.
fn plan(parsed: &ParsedProject, graph: &crate::graph::Graph, ids: &[String]) -> (Vec<String>, Vec<String>) {
    let run: Vec<String> = ids
        .iter()
        .filter(|id| parsed.node(id).is_some_and(|n| n.materialized != Materialization::Ephemeral))
        .cloned()
        .collect();
    // Views upstream of what runs are not rebuilt, but queries need their SQL.
    let mut to_compile: BTreeSet<String> = BTreeSet::new();
    for id in &run {
        if parsed.node(id).is_some_and(|n| n.materialized != Materialization::Seed) {
            to_compile.insert(id.clone());
        }
        for a in graph.ancestors(id, None) {
            if parsed.node(&a).is_some_and(|n| n.materialized == Materialization::View) {
                to_compile.insert(a);
            }
        }
    }
    (run, to_compile.into_iter().collect())
}

/// Builds the requested models and seeds in dependency order.
pub async fn run(parsed: Arc<ParsedProject>, graph: &crate::graph::Graph, req: &RunRequest, observer: Arc<dyn Observer>) -> Result<RunReport, ExecError> {
    let clock = Instant::now();
    let (ids, to_compile) = plan(&parsed, graph, &req.ids);
    let opts = CompileOptions { full_refresh: req.full_refresh, existing: crate::exec::existing_relations(&parsed) };
    let compiled = compile(&parsed, &to_compile, &opts);
    let session = crate::exec::open_session(&parsed)?;
    crate::exec::register_views(&session, &parsed, &compiled);
    let run_compiled: BTreeMap<_, _> = compiled.iter().filter(|(id, _)| ids.contains(id)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let results = crate::exec::run(
        parsed.clone(),
        graph,
        session,
        &ids,
        run_compiled,
        RunOptions { threads: req.threads, fail_fast: req.fail_fast, full_refresh: req.full_refresh },
        observer,
    )
    .await;
    Ok(RunReport { results, compiled, elapsed: clock.elapsed().as_secs_f64() })
}

/// A runtime for the engine, for callers that are not async.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}

/// A session where every enabled view of the project can be read.
pub fn session_with_views(parsed: &ParsedProject) -> Result<crate::exec::Session, ExecError> {
    let views: Vec<String> =
        parsed.nodes.iter().filter(|n| n.enabled && n.materialized == Materialization::View).map(|n| n.node.unique_id.clone()).collect();
    let opts = CompileOptions { full_refresh: false, existing: crate::exec::existing_relations(parsed) };
    let compiled = compile(parsed, &views, &opts);
    let session = crate::exec::open_session(parsed)?;
    crate::exec::register_views(&session, parsed, &compiled);
    Ok(session)
}
