//! Commands as library operations: selecting, compiling and running nodes, without any
//! printing. The CLI calls these and reports; tests call them directly.

use std::collections::{BTreeMap, BTreeSet, HashSet};
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
pub fn select(
    loaded: &Loaded,
    select: &[String],
    exclude: &[String],
    types: &[ResourceType],
) -> Result<Vec<String>, Diagnostic> {
    let selection = Selection::parse(select, exclude)?;
    let set = selection.apply(&loaded.parsed, &loaded.graph, types)?;
    Ok(loaded
        .graph
        .topo_order()
        .into_iter()
        .filter(|id| set.contains(id))
        .collect())
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
fn plan(
    parsed: &ParsedProject,
    graph: &crate::graph::Graph,
    ids: &[String],
) -> (Vec<String>, Vec<String>) {
    let run: Vec<String> = ids
        .iter()
        .filter(|id| {
            parsed
                .node(id)
                .is_some_and(|n| n.materialized != Materialization::Ephemeral)
        })
        .cloned()
        .collect();
    // Views upstream of what runs are not rebuilt, but queries need their SQL: walk up
    // from every run node at once, through views and ephemerals (a table stops the walk,
    // since reading it needs nothing upstream).
    let mut to_compile: BTreeSet<String> = BTreeSet::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut stack: Vec<String> = Vec::new();
    for id in &run {
        if parsed
            .node(id)
            .is_some_and(|n| n.materialized != Materialization::Seed)
        {
            to_compile.insert(id.clone());
        }
        stack.extend(graph.parents(id));
    }
    while let Some(p) = stack.pop() {
        if !seen.insert(p.clone()) {
            continue;
        }
        match parsed.node(&p).map(|n| n.materialized) {
            Some(Materialization::View) => {
                to_compile.insert(p.clone());
                stack.extend(graph.parents(&p));
            }
            Some(Materialization::Ephemeral) => stack.extend(graph.parents(&p)),
            _ => {}
        }
    }
    (run, to_compile.into_iter().collect())
}

/// Builds the requested models and seeds in dependency order.
pub async fn run(
    parsed: Arc<ParsedProject>,
    graph: &crate::graph::Graph,
    req: &RunRequest,
    observer: Arc<dyn Observer>,
) -> Result<RunReport, ExecError> {
    let clock = Instant::now();
    let (ids, to_compile) = plan(&parsed, graph, &req.ids);
    let opts = CompileOptions {
        full_refresh: req.full_refresh,
        existing: crate::exec::existing_relations(&parsed),
    };
    let compiled = compile(&parsed, &to_compile, &opts);
    let session = crate::exec::open_session(&parsed)?;
    crate::exec::register_views(&session, &parsed, &compiled);
    let run_set: HashSet<&String> = ids.iter().collect();
    let run_compiled: BTreeMap<_, _> = compiled
        .iter()
        .filter(|(id, _)| run_set.contains(id))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let results = crate::exec::run(
        parsed.clone(),
        graph,
        session,
        &ids,
        run_compiled,
        RunOptions {
            threads: req.threads,
            fail_fast: req.fail_fast,
            full_refresh: req.full_refresh,
        },
        observer,
    )
    .await;
    Ok(RunReport {
        results,
        compiled,
        elapsed: clock.elapsed().as_secs_f64(),
    })
}

/// A runtime for the engine, for callers that are not async.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// A session where every enabled view of the project can be read.
pub fn session_with_views(parsed: &ParsedProject) -> Result<crate::exec::Session, ExecError> {
    let views: Vec<String> = parsed
        .nodes
        .iter()
        .filter(|n| n.enabled && n.materialized == Materialization::View)
        .map(|n| n.node.unique_id.clone())
        .collect();
    let opts = CompileOptions {
        full_refresh: false,
        existing: crate::exec::existing_relations(parsed),
    };
    let compiled = compile(parsed, &views, &opts);
    let session = crate::exec::open_session(parsed)?;
    crate::exec::register_views(&session, parsed, &compiled);
    Ok(session)
}

/// Writes what each node ran to `target/run/<project>/<path>`, as dbt does: the compiled
/// SQL, under a comment saying what Silt did with it.
pub fn write_run_files(parsed: &ParsedProject, report: &RunReport) -> std::io::Result<()> {
    let settings = &parsed.project.settings;
    for r in &report.results {
        let (Some(node), Some(sql)) = (parsed.node(&r.unique_id), r.compiled_code.as_ref()) else {
            continue;
        };
        if r.status != crate::exec::Status::Success {
            continue;
        }
        let what = match node.materialized {
            Materialization::View => {
                format!("-- silt: view {} (planned, not stored)", node.relation)
            }
            Materialization::Table => format!(
                "-- silt: replace table {} (Delta version {})",
                node.relation,
                r.version.unwrap_or_default()
            ),
            Materialization::Incremental => format!(
                "-- silt: incremental {} ({}, Delta version {})",
                node.relation,
                node.config
                    .get("incremental_strategy")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("delete+insert"),
                r.version.unwrap_or_default()
            ),
            other => format!("-- silt: {} {}", other.as_str(), node.relation),
        };
        let path = settings
            .root
            .join(&settings.project.target_path)
            .join("run")
            .join(&node.node.package)
            .join(&node.node.original_file_path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, format!("{what}\n{sql}\n"))?;
    }
    Ok(())
}
