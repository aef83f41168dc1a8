//! Silt turns a Git repository of SQL models into Delta Lake tables.
//!
//! The library is a one-way pipeline; each stage depends only on the ones before it:
//!
//! ```text
//! settings  project.yml and profiles.yml, resolved                     -> Settings
//! project   files discovered, YAML properties, tests declared in YAML  -> Project
//! parse     Jinja per node: refs, sources, config() captured; configs
//!           typed (NodeConfig); relations named; dependencies         -> ParsedProject
//! graph     petgraph DAG, cycle check, selection                        -> Graph, ids
//! compile   SQL rendered with relations resolved, ephemerals inlined    -> CompiledNode
//! exec      DataFusion over Delta: the scheduler, materializations,
//!           tests, on N workers                                        -> NodeResult
//! report    target/: manifest, run_results, node_status, compiled SQL
//! ```
//!
//! Beside it: `ingest` (Kafka into bronze Delta tables, exactly once) and `docs` (the static
//! site from the artifacts). Under it, used by every stage: `diagnostic` (errors with their
//! source), `yaml`, `relation` (where data lives, and quoting), `config` (dbt's config-merge
//! rules), `template` (minijinja: settings, YAML values and nodes are rendered with it),
//! `sql` (sqlparser) and `runtime` (the async runtime and stop signals).
//!
//! [`commands`] strings the stages into what a user runs: each command takes options and
//! returns a report, with progress through [`commands::Events`]. The `silt` binary only
//! turns flags into options and reports into text.

pub mod compile;
pub(crate) mod config;
pub mod diagnostic;
pub mod docs;
pub(crate) mod enrich;
pub mod exec;
pub mod graph;
pub mod ingest;
pub mod commands;
pub mod packages;
pub(crate) mod par;
pub mod parse;
pub mod project;
pub mod relation;
pub mod report;
pub mod runtime;
pub mod settings;
pub mod sql;
pub mod template;
pub mod yaml;

use diagnostic::Diagnostics;

/// A project loaded, parsed and put in a graph: what every command starts from.
pub struct Loaded {
    pub parsed: parse::ParsedProject,
    pub graph: graph::Graph,
    /// How long each stage took, for `SILT_TIMINGS` and the benchmarks.
    pub timings: Vec<(&'static str, std::time::Duration)>,
}

/// Runs the load, parse and graph stages, collecting every problem found.
pub fn load(
    opts: &settings::LoadOptions,
    parse_opts: &parse::ParseOptions,
) -> Result<Loaded, Diagnostics> {
    let mut timings = Vec::new();
    let mut clock = std::time::Instant::now();
    let mut lap = |name: &'static str| {
        timings.push((name, clock.elapsed()));
        clock = std::time::Instant::now();
    };
    let settings = settings::Settings::load(opts)?;
    lap("settings");
    let project = project::Project::load(settings)?;
    lap("project");
    let parsed = parse::parse(project, parse_opts)?;
    lap("parse");
    let graph = graph::Graph::build(&parsed)?;
    lap("graph");
    Ok(Loaded {
        parsed,
        graph,
        timings,
    })
}
