//! Commands as library operations: selecting, compiling and running nodes, without any
//! printing. The CLI calls these and reports; tests call them directly.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use crate::Loaded;
use crate::compile::{CompileOptions, CompiledNode, compile};
use crate::diagnostic::Diagnostic;
use crate::exec::{ExecError, NodeDesc, NodeResult, Observer, RunOptions, Schedule};
use crate::graph::selector::Selection;
use crate::parse::{Materialization, ParsedProject};
use crate::project::ResourceType;

/// How tests join a selection through what they test (dbt's `--indirect-selection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IndirectSelection {
    /// A test is selected when any node it tests is (dbt's default).
    #[default]
    Eager,
    /// Only when every node it tests is selected.
    Cautious,
    /// When every node it tests is selected or upstream of a selected node.
    Buildable,
    /// Tests are selected only by naming them.
    Empty,
}

/// The selected unique ids of the given resource types, in graph order. When tests are
/// among the types, the tests of selected nodes join the selection as `indirect` says,
/// unless something they test is excluded.
pub fn select(
    loaded: &Loaded,
    select: &[String],
    exclude: &[String],
    types: &[ResourceType],
) -> Result<Vec<String>, Diagnostic> {
    select_with(loaded, select, exclude, types, IndirectSelection::Eager)
}

pub fn select_with(
    loaded: &Loaded,
    select: &[String],
    exclude: &[String],
    types: &[ResourceType],
    indirect: IndirectSelection,
) -> Result<Vec<String>, Diagnostic> {
    let selection = Selection::parse(select, exclude)?;
    let (chosen, excluded) = selection.resolve(&loaded.parsed, &loaded.graph)?;
    let mut set: BTreeSet<String> = chosen.difference(&excluded).cloned().collect();
    let wants_tests = types
        .iter()
        .any(|t| matches!(t, ResourceType::Test | ResourceType::UnitTest));
    if wants_tests && !selection.is_empty() && indirect != IndirectSelection::Empty {
        let mut upstream: Option<HashSet<String>> = None;
        for n in loaded.parsed.nodes.iter().filter(|n| {
            n.config.enabled && matches!(n.node.resource_type, ResourceType::Test | ResourceType::UnitTest)
        }) {
            let id = &n.node.unique_id;
            if set.contains(id) || excluded.contains(id) || !loaded.graph.contains(id) {
                continue;
            }
            let parents = &n.depends_on;
            if parents.is_empty() || parents.iter().any(|p| excluded.contains(p)) {
                continue;
            }
            let picked = match indirect {
                IndirectSelection::Eager => parents.iter().any(|p| set.contains(p)),
                IndirectSelection::Cautious => parents.iter().all(|p| set.contains(p)),
                IndirectSelection::Buildable => {
                    let up = upstream.get_or_insert_with(|| {
                        let mut up = HashSet::new();
                        for s in &set {
                            up.extend(loaded.graph.ancestors(s, None));
                        }
                        up
                    });
                    parents.iter().any(|p| set.contains(p))
                        && parents.iter().all(|p| set.contains(p) || up.contains(p))
                }
                IndirectSelection::Empty => false,
            };
            if picked {
                set.insert(id.clone());
            }
        }
    }
    if wants_tests && !excluded.is_empty() && indirect != IndirectSelection::Empty {
        // As in dbt, a test of something excluded is excluded with it, however it joined.
        for n in &loaded.parsed.nodes {
            if matches!(n.node.resource_type, ResourceType::Test | ResourceType::UnitTest)
                && n.depends_on.iter().any(|p| excluded.contains(p))
            {
                set.remove(&n.node.unique_id);
            }
        }
    }
    let kinds: HashMap<&str, ResourceType> = loaded
        .parsed
        .nodes
        .iter()
        .map(|n| (n.node.unique_id.as_str(), n.node.resource_type))
        .chain(
            loaded
                .parsed
                .sources
                .iter()
                .map(|s| (s.source.unique_id.as_str(), ResourceType::Source)),
        )
        .collect();
    Ok(loaded
        .graph
        .topo_order()
        .into_iter()
        .filter(|id| set.contains(id))
        .filter(|id| kinds.get(id.as_str()).is_some_and(|k| types.contains(k)))
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
    /// Test each model's and seed's new data with its error-severity tests before it is
    /// published (`silt build`).
    pub audit: bool,
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
        if !matches!(mat, Some(Materialization::Seed | Materialization::UnitTest)) {
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
    let sched = Schedule::new(&parsed, graph, &ids, req.audit);
    let results = crate::exec::run(
        parsed.clone(),
        session,
        sched,
        compiled.clone(),
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
        .filter(|n| n.config.enabled && n.config.materialized == Materialization::View)
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
        if !matches!(
            r.status,
            crate::exec::Status::Success
                | crate::exec::Status::Pass
                | crate::exec::Status::Warn
                | crate::exec::Status::Fail
        ) {
            continue;
        }
        let what = match node.config.materialized {
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
                node.config.incremental_strategy.as_str(),
                r.version.unwrap_or_default()
            ),
            Materialization::Test => "-- silt: data test (the query returns the failing rows)".to_owned(),
            Materialization::UnitTest => continue,
            other => format!("-- silt: {} {}", other.as_str(), node.relation),
        };
        let path = settings
            .root
            .join(&settings.project.target_path)
            .join("run")
            .join(&node.node.package)
            .join(node.node.compiled_rel_path());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, format!("{what}\n{sql}\n"))?;
    }
    Ok(())
}

/// The Kafka-fed source tables among `ids` (unique ids of sources or of nodes, whose
/// upstream Kafka sources are then included); every one of them when `ids` is `None`.
pub fn kafka_targets(
    parsed: &ParsedProject,
    graph: &crate::graph::Graph,
    ids: Option<&[String]>,
) -> Vec<crate::ingest::IngestTarget> {
    let wanted: Option<HashSet<String>> = ids.map(|ids| {
        let mut set: HashSet<String> = ids.iter().cloned().collect();
        for id in ids {
            set.extend(graph.ancestors(id, None));
        }
        set
    });
    let warehouse = &parsed.project.settings.target.warehouse_path;
    parsed
        .sources
        .iter()
        .filter(|s| s.enabled)
        .filter(|s| wanted.as_ref().is_none_or(|w| w.contains(&s.source.unique_id)))
        .filter_map(|s| {
            let kafka = s.source.kafka.clone()?;
            Some(crate::ingest::IngestTarget {
                name: format!("{}.{}", s.source.source_name, s.source.name),
                unique_id: s.source.unique_id.clone(),
                dir: s.relation.path(&warehouse),
                source: kafka,
            })
        })
        .collect()
}

/// Ingests the targets from the target's Kafka (starting the embedded cluster when the
/// profile says `embedded`). Blocking: call it outside of an async runtime.
pub fn ingest(
    parsed: &ParsedProject,
    targets: &[crate::ingest::IngestTarget],
    opts: &crate::ingest::IngestOptions,
    observer: Arc<dyn crate::ingest::IngestObserver>,
) -> Result<Vec<crate::ingest::Progress>, crate::ingest::IngestError> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let target = &parsed.project.settings.target;
    let Some(kafka) = &target.kafka else {
        return Err(crate::ingest::IngestError::Config(format!(
            "source table `{}` is fed from Kafka, but target `{}` of {} has no `kafka:` section (add `kafka: {{bootstrap_servers: embedded}}` to run an in-process cluster)",
            targets[0].name,
            target.name,
            target.profiles_file.display()
        )));
    };
    let mut topics: Vec<String> = targets
        .iter()
        .flat_map(|t| t.source.topics.iter().cloned())
        .collect();
    topics.sort();
    topics.dedup();
    let embedded = if kafka.is_embedded() {
        Some(crate::ingest::embedded::Embedded::start(&kafka.embedded, &topics)?)
    } else {
        None
    };
    let bootstrap = match &embedded {
        Some(e) => e.bootstrap_servers(),
        None => kafka.bootstrap_servers.clone(),
    };
    let mut opts = opts.clone();
    // An embedded cluster lives in this process: no other ingester can share it. A catch-up
    // (`--until-caught-up`, and every build) assigns itself every partition too, as Spark's
    // Trigger.AvailableNow does, rather than join the consumer group: it then never waits on
    // a group that does not form (a broker that waits out dead members' rebalance timeout,
    // or never completes the rebalance, as tansu did in CI). A continuous ingester running
    // at the same time costs only reads twice: bronze's `txn` versions decide what is new.
    opts.exclusive |= embedded.is_some() || opts.until_caught_up;
    crate::ingest::run(targets, kafka, &bootstrap, &opts, observer)
}

/// The Delta tables among `ids`: selected models and seeds that write tables, and Kafka-fed
/// source tables, as (name, folder).
pub fn table_dirs(parsed: &ParsedProject, ids: &[String]) -> Vec<(String, std::path::PathBuf)> {
    let warehouse = &parsed.project.settings.target.warehouse_path;
    let mut out = Vec::new();
    for id in ids {
        if let Some(n) = parsed.node(id) {
            if n.config.enabled && n.config.materialized.writes_table() {
                out.push((
                    n.relation.key(),
                    n.relation.path(&warehouse),
                ));
            }
        } else if let Some(s) = parsed.source(id) {
            if s.enabled && s.source.kafka.is_some() {
                out.push((
                    s.relation.key(),
                    s.relation.path(&warehouse),
                ));
            }
        }
    }
    out.retain(|(_, d)| crate::exec::storage::exists(d));
    out
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
pub async fn layer_rows(
    parsed: &ParsedProject,
    kafka: &[crate::ingest::IngestTarget],
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
    let mut built: Vec<&crate::parse::ParsedNode> = ids
        .iter()
        .filter_map(|id| parsed.node(id))
        .filter(|n| n.config.materialized.writes_table())
        .filter(|n| crate::exec::storage::exists(&n.relation.path(&warehouse)))
        .collect();
    let layer = |n: &crate::parse::ParsedNode| -> String {
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
        let dir = n.relation.path(&warehouse);
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
