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
//! ```
//!
//! The `silt` binary is a thin command-line layer over this library.

pub mod config;
pub mod compile;
pub mod diagnostic;
pub mod exec;
pub mod graph;
pub mod parse;
pub mod project;
pub mod settings;
pub mod sql;
pub mod template;
pub mod yaml;
pub mod manifest;
pub mod ops;

use diagnostic::Diagnostics;

/// A project loaded, parsed and put in a graph: what every command starts from.
pub struct Loaded {
    pub parsed: parse::ParsedProject,
    pub graph: graph::Graph,
}

/// Runs the load, parse and graph stages, collecting every problem found.
pub fn load(opts: &settings::LoadOptions, parse_opts: &parse::ParseOptions) -> Result<Loaded, Diagnostics> {
    let settings = settings::Settings::load(opts)?;
    let project = project::Project::load(settings)?;
    let parsed = parse::parse(project, parse_opts)?;
    let graph = graph::Graph::build(&parsed)?;
    Ok(Loaded { parsed, graph })
}
