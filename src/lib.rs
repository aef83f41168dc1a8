//! Silt turns a Git repository of SQL models into Delta Lake tables.
//!
//! The library is a one-way pipeline; each stage depends only on the ones before it:
//!
//! ```text
//! load      settings (project.yml, profiles.yml), project (files, YAML)  -> Project
//! parse     template: Jinja per node, capturing ref/source/config       -> nodes with deps
//! graph     petgraph DAG, cycle check, selection                        -> ordered nodes
//! compile   SQL rendered with relations resolved, ephemerals inlined    -> CompiledProject
//! execute   exec: DataFusion over Delta, materializations, N workers    -> results
//! report    manifest: target/manifest.json, run_results.json
//! docs      docs: the static site in target/docs/ from those artifacts
//! ```
//!
//! The `silt` binary is a thin command-line layer over this library.

pub mod compile;
pub(crate) mod config;
pub mod diagnostic;
pub mod docs;
pub(crate) mod enrich;
pub mod exec;
pub mod graph;
pub mod ingest;
pub mod commands;
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
