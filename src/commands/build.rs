//! `silt run`, `silt seed`, `silt test` and `silt build`: nodes built and tested in
//! dependency order. A build first catches up the Kafka sources upstream of what it
//! builds, publishes each model's new data only once its tests pass, writes the run's
//! artifacts, then (unless told not to) the docs, and counts the rows of each layer.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Instant;

use super::docs::{self, DocsReport};
use super::{CommandError, Events, Selectors, Stop, invocation, load, read_json, runtime, select, write_artifact};
use crate::compile::{CompileOptions, CompiledNode, compile};
use crate::diagnostic::Diagnostic;
use crate::exec::{ExecError, NodeResult, RunOptions, Schedule, Status};
use crate::graph::{Graph, IndirectSelection};
use crate::ingest::{IngestOptions, IngestTarget, Progress};
use crate::parse::{Materialization, ParsedNode, ParsedProject};
use crate::project::ResourceType;
use crate::settings::LoadOptions;

/// What a build-like command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Models.
    Run,
    /// Seeds.
    Seed,
    /// Data tests and unit tests.
    Test,
    /// Snapshots.
    Snapshot,
    /// Seeds, models and tests together, each model's tests before it is published.
    Build,
}

impl Kind {
    fn which(self) -> &'static str {
        match self {
            Kind::Run => "run",
            Kind::Seed => "seed",
            Kind::Test => "test",
            Kind::Snapshot => "snapshot",
            Kind::Build => "build",
        }
    }

    fn types(self) -> &'static [ResourceType] {
        match self {
            Kind::Run => &[ResourceType::Model],
            Kind::Seed => &[ResourceType::Seed],
            Kind::Test => &[ResourceType::Test, ResourceType::UnitTest],
            Kind::Snapshot => &[ResourceType::Snapshot],
            Kind::Build => &[
                ResourceType::Model,
                ResourceType::Seed,
                ResourceType::Snapshot,
                ResourceType::Test,
                ResourceType::UnitTest,
                ResourceType::Exposure,
            ],
        }
    }
}

/// How to run, seed, test or build.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub project: LoadOptions,
    pub selection: Selectors,
    /// Rebuild incremental models and seeds from scratch.
    pub full_refresh: bool,
    /// Stop at the first failure.
    pub fail_fast: bool,
    /// Keep every test's failing rows (`--store-failures`).
    pub store_failures: bool,
    pub indirect: IndirectSelection,
    /// Write the docs after a build (`silt build` unless `--no-docs`).
    pub docs: bool,
    /// `--empty`: every `ref` and `source` reads no rows.
    pub empty: bool,
    /// When to stop catching up Kafka early (the batch in hand is committed first).
    pub stop: Stop,
}

/// What a run, seed, test or build did.
pub struct Report {
    pub parsed: Arc<ParsedProject>,
    pub graph: Graph,
    /// Every selected node's result, in completion order.
    pub results: Vec<NodeResult>,
    /// Seconds from the start of compiling to the last node's end.
    pub elapsed: f64,
    /// What each Kafka source a build caught up read.
    pub caught_up: Vec<Progress>,
    /// A build's tables by layer, as they are in Delta at its end.
    pub layers: Option<Result<Vec<LayerRows>, ExecError>>,
    /// The docs written after the run.
    pub docs: Option<DocsReport>,
}

impl Report {
    /// Whether every node passed, or at worst warned.
    pub fn success(&self) -> bool {
        !self.results.iter().any(|r| matches!(r.status, Status::Error | Status::Fail))
    }

    /// The tests' statuses, counted.
    pub fn tests(&self) -> TestTally {
        let mut t = TestTally::default();
        for r in &self.results {
            if !self.parsed.node(&r.unique_id).is_some_and(|n| n.config.materialized.is_test()) {
                continue;
            }
            match r.status {
                Status::Pass | Status::Success => t.passed += 1,
                Status::Warn => t.warned += 1,
                Status::Fail => t.failed += 1,
                Status::Error => t.errored += 1,
                Status::Skipped => t.skipped += 1,
                Status::NoOp => {}
            }
        }
        t
    }
}

/// How many tests ended in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TestTally {
    pub passed: usize,
    pub warned: usize,
    pub failed: usize,
    pub errored: usize,
    pub skipped: usize,
}

/// `silt run`: builds the selected models.
pub fn run(opts: &Options, events: Arc<dyn Events>) -> Result<Report, CommandError> {
    execute(Kind::Run, opts, events)
}

/// `silt seed`: loads the selected seeds.
pub fn seed(opts: &Options, events: Arc<dyn Events>) -> Result<Report, CommandError> {
    execute(Kind::Seed, opts, events)
}

/// `silt test`: runs the data tests and unit tests of the selection.
pub fn test(opts: &Options, events: Arc<dyn Events>) -> Result<Report, CommandError> {
    execute(Kind::Test, opts, events)
}

/// `silt snapshot`: runs the selected snapshots.
pub fn snapshot(opts: &Options, events: Arc<dyn Events>) -> Result<Report, CommandError> {
    execute(Kind::Snapshot, opts, events)
}

/// `silt build`: seeds, models and tests of the selection in dependency order.
pub fn build(opts: &Options, events: Arc<dyn Events>) -> Result<Report, CommandError> {
    execute(Kind::Build, opts, events)
}

/// Runs `kind`: load, select, catch up Kafka (a build), run, write the artifacts, then a
/// build's docs and row counts.
pub fn execute(kind: Kind, opts: &Options, events: Arc<dyn Events>) -> Result<Report, CommandError> {
    let inv = invocation(kind.which(), &opts.project, &opts.selection, opts.full_refresh);
    let loaded = load(&opts.project, &inv, opts.full_refresh, opts.store_failures, events.as_ref())?;
    let ids = select(&loaded, &opts.selection, kind.types(), opts.indirect, events.as_ref())?;
    // The docs cover the whole project whatever the selection.
    let documented = if opts.docs && kind == Kind::Build {
        Some(docs::documented(&loaded)?)
    } else {
        None
    };
    let mut caught = Vec::new();
    let mut caught_up = Vec::new();
    if kind == Kind::Build {
        // A build sees every message produced before it began.
        caught = crate::ingest::targets(&loaded.parsed, &loaded.graph, Some(&ids));
        if !caught.is_empty() {
            events.ingesting(&caught);
            let ingest = IngestOptions {
                until_caught_up: true,
                stop: opts.stop.flag(),
                ..Default::default()
            };
            caught_up = crate::ingest::ingest_project(&loaded.parsed, &caught, &ingest, events.clone())?;
            events.caught_up(&caught_up);
        }
    }
    let target = &loaded.parsed.project.settings.target;
    events.running(target.threads, &target.name);
    let crate::Loaded { parsed, graph, .. } = loaded;
    let parsed = Arc::new(parsed);
    let rt = runtime()?;
    let run_opts = RunOptions {
        threads: parsed.project.settings.target.threads,
        fail_fast: opts.fail_fast,
        full_refresh: opts.full_refresh,
        empty: opts.empty,
    };
    let clock = Instant::now();
    let selected = Selected {
        parsed: parsed.clone(),
        graph: &graph,
        ids: &ids,
        audit: kind == Kind::Build,
        opts: run_opts,
        project_hooks: true,
    };
    let (results, compiled) = rt.block_on(run_nodes(selected, events.clone()))?;
    let elapsed = clock.elapsed().as_secs_f64();
    write_artifacts(&parsed, &graph, &compiled, &results, &inv, elapsed)?;
    events.ran(&parsed, &results, elapsed);
    // Docs after the run, so they show its results; a failing run still gets them.
    let docs = match &documented {
        Some(ids) => Some(docs::write_docs(&parsed, &graph, ids, &inv, events.as_ref(), opts.empty)?),
        None => None,
    };
    let layers = (kind == Kind::Build).then(|| rt.block_on(layer_rows(&parsed, &caught, &ids)));
    Ok(Report {
        parsed,
        graph,
        results,
        elapsed,
        caught_up,
        layers,
        docs,
    })
}

type Compiled = BTreeMap<String, Result<CompiledNode, Diagnostic>>;

/// Nodes chosen to run, and how.
pub struct Selected<'a> {
    pub parsed: Arc<ParsedProject>,
    pub graph: &'a Graph,
    /// The nodes, in graph order.
    pub ids: &'a [String],
    /// As a build: each model's error-severity tests run on its staged data.
    pub audit: bool,
    pub opts: RunOptions,
    /// Whether the project's `on-run-start` and `on-run-end` hooks run around the nodes.
    pub project_hooks: bool,
}

/// Runs nodes of a loaded project as `run`, `seed`, `test` and `build` do once they have
/// selected them, without writing artifacts: for callers that select nodes their own way.
pub fn run_selected(selected: Selected<'_>, events: Arc<dyn Events>) -> Result<Vec<NodeResult>, CommandError> {
    let (results, _) = runtime()?.block_on(run_nodes(selected, events))?;
    Ok(results)
}

/// Compiles what the run needs and runs its schedule.
async fn run_nodes(selected: Selected<'_>, events: Arc<dyn Events>) -> Result<(Vec<NodeResult>, Compiled), CommandError> {
    let Selected {
        parsed,
        graph,
        ids,
        audit,
        opts,
        project_hooks,
    } = selected;
    let (ids, to_compile) = plan(&parsed, graph, ids);
    let session = crate::exec::open_session(&parsed)?;
    let warehouse = crate::exec::warehouse::SessionWarehouse::new(session.clone(), tokio::runtime::Handle::current());
    let compile_opts = CompileOptions {
        full_refresh: opts.full_refresh,
        existing: crate::exec::existing_relations(&parsed),
        empty: opts.empty,
        warehouse: Some(warehouse.clone()),
    };
    use crate::exec::project_hooks::{RunHook, end_context, run_project_hooks};
    // As in dbt, on-run-start runs before nodes compile (its tables are there for their
    // queries), and the nodes run even when it fails (the run still fails).
    let mut results = Vec::new();
    if project_hooks {
        results = run_project_hooks(&parsed, &session, RunHook::Start, Vec::new(), Some(warehouse.clone()), events.as_ref()).await;
    }
    let mut compiled = compile(&parsed, &to_compile, &compile_opts);
    crate::exec::register_views(&session, &parsed, &compiled);
    let schedule = Schedule::new(&parsed, graph, &ids, audit);
    let nodes = crate::exec::run(parsed.clone(), session.clone(), schedule, &mut compiled, compile_opts, opts, events.clone()).await;
    if !project_hooks {
        return Ok((nodes, compiled));
    }
    let extra = end_context(&parsed, &nodes);
    results.extend(nodes);
    results.extend(run_project_hooks(&parsed, &session, RunHook::End, extra, Some(warehouse), events.as_ref()).await);
    Ok((results, compiled))
}

/// The compiled SQL, what each node ran, `run_results.json`, `node_status.json` and
/// `manifest.json`.
fn write_artifacts(
    parsed: &ParsedProject,
    graph: &Graph,
    compiled: &Compiled,
    results: &[NodeResult],
    inv: &crate::report::Invocation,
    elapsed: f64,
) -> Result<(), CommandError> {
    let settings = &parsed.project.settings;
    crate::report::write_compiled(&settings.root, compiled)
        .map_err(|source| CommandError::Write { what: "compiled SQL".into(), source })?;
    crate::report::write_run_files(parsed, results)
        .map_err(|source| CommandError::Write { what: "target/run".into(), source })?;
    let target_dir = settings.target_dir();
    let run_results = crate::report::run_results(parsed, results, inv, elapsed);
    write_artifact(&target_dir.join("run_results.json"), &run_results)?;
    let status_path = target_dir.join("node_status.json");
    let status = crate::report::node_status(read_json(&status_path), &run_results);
    write_artifact(&status_path, &status)?;
    write_artifact(
        &target_dir.join("manifest.json"),
        &crate::report::Manifest {
            parsed,
            graph,
            compiled: Some(compiled),
            invocation: inv,
        },
    )
}

/// The nodes a request runs, and what must be compiled for them.
fn plan(
    parsed: &ParsedProject,
    graph: &Graph,
    ids: &[String],
) -> (Vec<String>, Vec<String>) {
    let run: Vec<String> = ids
        .iter()
        .filter(|id| {
            parsed
                .node(id)
                .is_some_and(|n| n.config.materialized != Materialization::Ephemeral)
        })
        .cloned()
        .collect();
    // Views upstream of what runs are not rebuilt, but queries need their SQL: walk up
    // from every run node at once, through views and ephemerals (a table stops the walk,
    // since reading it needs nothing upstream). A unit test's model is compiled by the
    // test itself, with its overrides.
    let mut to_compile: BTreeSet<String> = BTreeSet::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut stack: Vec<String> = Vec::new();
    for id in &run {
        let mat = parsed.node(id).map(|n| n.config.materialized);
        if !matches!(mat, Some(Materialization::Seed | Materialization::UnitTest | Materialization::Exposure)) {
            to_compile.insert(id.clone());
        }
        stack.extend(graph.parents(id));
    }
    while let Some(p) = stack.pop() {
        if !seen.insert(p.clone()) {
            continue;
        }
        match parsed.node(&p).map(|n| n.config.materialized) {
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

/// One table in a build's summary.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerRows {
    /// `bronze` for Kafka sources, `seeds`, else the model's folder under its models path
    /// (`silver`, `gold`; `models` for a model at the top).
    pub layer: String,
    pub relation: String,
    pub rows: u64,
    /// For bronze tables: rows that did not parse.
    pub parse_errors: Option<u64>,
}

/// The rows of the tables a build touched, by layer, in pipeline order: the Kafka sources
/// it caught up, then the seeds and models it wrote (`ids`), as they are now in Delta.
async fn layer_rows(
    parsed: &ParsedProject,
    kafka: &[IngestTarget],
    ids: &[String],
) -> Result<Vec<LayerRows>, ExecError> {
    let session = crate::exec::open_session(parsed)?;
    let count = |sql: String| {
        let session = session.clone();
        async move {
            let v = crate::exec::query_numbers(&session, &sql).await?;
            Ok::<(u64, u64), ExecError>((v.first().copied().unwrap_or(0), v.get(1).copied().unwrap_or(0)))
        }
    };
    let mut out = Vec::new();
    for t in kafka {
        let Some(s) = parsed.source(&t.unique_id) else { continue };
        if !crate::exec::storage::exists(&t.dir) {
            continue;
        }
        let name = s.relation.render();
        let (rows, errors) =
            count(format!("select count(*), sum(case when parse_status = 'PARSE_ERROR' then 1 else 0 end) from {name}")).await?;
        out.push(LayerRows {
            layer: "bronze".into(),
            relation: s.relation.key(),
            rows,
            parse_errors: Some(errors),
        });
    }
    let warehouse = &parsed.project.settings.target.warehouse_path;
    let mut built: Vec<&ParsedNode> = ids
        .iter()
        .filter_map(|id| parsed.node(id))
        .filter(|n| n.config.materialized.writes_table())
        .filter(|n| crate::exec::storage::exists(&n.relation.path(warehouse)))
        .collect();
    let layer = |n: &ParsedNode| -> String {
        if n.config.materialized == Materialization::Seed {
            return "seeds".into();
        }
        let path = std::path::Path::new(&n.node.path);
        path.parent()
            .and_then(|p| p.components().next())
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_else(|| "models".into())
    };
    // Seeds first, then models in the order the layers first appear in the run's order
    // (`ids` is in that order, and the sort is stable).
    built.sort_by_key(|n| n.config.materialized != Materialization::Seed);
    let mut order: Vec<String> = Vec::new();
    for n in &built {
        let l = layer(n);
        if !order.contains(&l) {
            order.push(l);
        }
    }
    let mut rows = Vec::new();
    for n in &built {
        // From the Delta log's statistics; counted only when a file has none.
        let dir = n.relation.path(warehouse);
        let table = crate::exec::storage::open(&dir).await?;
        let count = match crate::exec::catalog::table_stats(&table, &dir)?.rows {
            Some(n) => n,
            None => {
                let name = n.relation.render();
                count(format!("select count(*) from {name}")).await?.0
            }
        };
        rows.push(LayerRows {
            layer: layer(n),
            relation: n.relation.key(),
            rows: count,
            parse_errors: None,
        });
    }
    rows.sort_by_key(|r| order.iter().position(|l| *l == r.layer));
    out.extend(rows);
    Ok(out)
}
