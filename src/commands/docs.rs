//! `silt docs generate`: every node compiled; `manifest.json`, `catalog.json` (what exists in
//! the warehouse), `column_lineage.json` and the static site in `target/docs/`. `silt docs
//! serve` binds the site's server.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::{CommandError, Events, Selectors, invocation, load, read_json, runtime, select, write_artifact};
use crate::Loaded;
use crate::compile::{CompileOptions, compile};
use crate::graph::{Graph, IndirectSelection};
use crate::parse::{Materialization, ParsedProject};
use crate::project::ResourceType;
use crate::report::Invocation;
use crate::settings::LoadOptions;

/// What the docs wrote.
#[derive(Debug, Clone)]
pub struct DocsReport {
    /// `target/catalog.json`.
    pub catalog: PathBuf,
    /// Nodes and sources the catalog found in the warehouse.
    pub nodes: usize,
    pub sources: usize,
    /// Relations the catalog could not read.
    pub warnings: Vec<String>,
    /// The site's `index.html`.
    pub site: PathBuf,
    /// Nodes the site shows.
    pub site_nodes: usize,
}

/// `silt docs generate` for the project `project`.
pub fn docs_generate(project: &LoadOptions, events: Arc<dyn Events>) -> Result<DocsReport, CommandError> {
    let inv = invocation("generate", project, &Selectors::default(), false);
    let loaded = load(project, &inv, false, false, events.as_ref())?;
    let ids = documented(&loaded)?;
    write_docs(&loaded.parsed, &loaded.graph, &ids, &inv, events.as_ref(), false)
}

/// What the docs cover: every enabled model, test and analysis (seeds, sources and unit
/// tests come from the manifest as they are).
pub(super) fn documented(loaded: &Loaded) -> Result<Vec<String>, CommandError> {
    select(
        loaded,
        &Selectors::default(),
        &[ResourceType::Model, ResourceType::Test, ResourceType::Analysis],
        IndirectSelection::Eager,
        &super::Quiet,
    )
}

/// Compiles `ids` and writes manifest.json, catalog.json, column_lineage.json and the site;
/// `events` hears when they are written.
pub(super) fn write_docs(
    parsed: &ParsedProject,
    graph: &Graph,
    ids: &[String],
    invocation: &Invocation,
    events: &dyn Events,
    empty: bool,
) -> Result<DocsReport, CommandError> {
    // As the run compiled them (`--empty` included), so target/compiled shows what ran.
    // As dbt's docs generate, `run_query` and introspection read the warehouse as it is.
    // (Views are not registered for them: that would compile every view twice.)
    let rt = super::runtime()?;
    let target = &parsed.project.settings.target;
    let session = crate::exec::Session::new(&target.warehouse_path, &target.schema)?;
    let opts = CompileOptions {
        existing: crate::exec::existing_relations(parsed),
        empty,
        warehouse: Some(crate::exec::warehouse::SessionWarehouse::new(session, rt.handle().clone())),
        ..Default::default()
    };
    let compiled = compile(parsed, ids, &opts);
    let target_dir = parsed.project.settings.target_dir();
    crate::report::write_compiled(&parsed.project.settings.root, &compiled).map_err(|source| CommandError::Write {
        what: format!("compiled SQL under `{}`", target_dir.display()),
        source,
    })?;
    // The site reads the manifest as a tree: built once, and that tree is what is written.
    let manifest = serde_json::to_value(crate::report::Manifest {
        parsed,
        graph,
        compiled: Some(&compiled),
        invocation,
    })
    .map_err(|e| CommandError::Write {
        what: "the manifest".into(),
        source: std::io::Error::other(e),
    })?;
    write_artifact(&target_dir.join("manifest.json"), &manifest)?;
    let views: BTreeMap<String, String> = compiled
        .iter()
        .filter(|(id, _)| parsed.node(id).is_some_and(|n| n.config.materialized == Materialization::View))
        .filter_map(|(id, c)| c.as_ref().ok().map(|c| (id.clone(), c.sql.clone())))
        .collect();
    let rt = runtime()?;
    let catalog = rt.block_on(async {
        let session = crate::exec::open_session(parsed)?;
        crate::exec::register_views(&session, parsed, &compiled);
        let metadata = crate::report::catalog_metadata(parsed, invocation);
        crate::exec::catalog::catalog(parsed, &session, &views, metadata).await
    })?;
    let lineage = rt.block_on(crate::report::column_lineage(parsed, &compiled));
    write_artifact(&target_dir.join("column_lineage.json"), &lineage)?;
    let count = |k: &str| catalog[k].as_object().map_or(0, |m| m.len());
    let catalog_path = target_dir.join("catalog.json");
    write_artifact(&catalog_path, &catalog)?;
    let warnings = catalog["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e.as_str().unwrap_or_default().to_owned())
        .collect();
    let status = read_json(&target_dir.join("node_status.json")).unwrap_or_default();
    let site_dir = target_dir.join("docs");
    let site = crate::docs::write_site(
        &site_dir,
        &crate::docs::Inputs {
            manifest: &manifest,
            catalog: &catalog,
            lineage: &lineage,
            status: &status,
        },
    )
    .map_err(|source| CommandError::Write {
        what: format!("the docs site under `{}`", site_dir.display()),
        source,
    })?;
    let report = DocsReport {
        nodes: count("nodes"),
        sources: count("sources"),
        catalog: catalog_path,
        warnings,
        site: site.index,
        site_nodes: site.nodes,
    };
    events.docs_written(&report);
    Ok(report)
}

/// `silt docs serve`: the server of the project's site (returned with the site's folder),
/// bound and ready to run.
pub fn docs_serve(
    project: &LoadOptions,
    host: &str,
    port: u16,
    events: Arc<dyn Events>,
) -> Result<(crate::docs::serve::Server, PathBuf), CommandError> {
    let inv = invocation("serve", project, &Selectors::default(), false);
    let loaded = load(project, &inv, false, false, events.as_ref())?;
    let site = loaded.parsed.project.settings.target_dir().join("docs");
    if !site.join("index.html").is_file() {
        return Err(CommandError::NoDocsSite(site));
    }
    let server = crate::docs::serve::Server::bind(&site, host, port).map_err(|source| CommandError::Listen {
        address: format!("{host}:{port}"),
        source,
    })?;
    Ok((server, site))
}
