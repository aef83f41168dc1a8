//! `silt docs generate`: dbt's documentation artifacts.

use std::collections::BTreeMap;

use anyhow::Result;
use silt::compile::{CompileOptions, compile, write_compiled};
use silt::parse::Materialization;
use silt::project::ResourceType;

use super::{Invocation, load, runtime, select, write_artifact};
use crate::cli::{Cli, Outcome, Printer, SelectArgs};

pub fn generate(cli: &Cli, printer: &Printer) -> Result<Outcome> {
    let inv = Invocation::new("generate");
    let loaded = match load(cli, printer, &inv, false)? {
        Ok(l) => l,
        Err(outcome) => return Ok(outcome),
    };
    let parsed = &loaded.parsed;
    let args = SelectArgs::default();
    let ids = match select(
        printer,
        &loaded,
        &args,
        &[ResourceType::Model, ResourceType::Test, ResourceType::Analysis],
    ) {
        Ok(ids) => ids,
        Err(outcome) => return Ok(outcome),
    };
    let opts = CompileOptions {
        full_refresh: false,
        existing: silt::exec::existing_relations(parsed),
    };
    let compiled = compile(parsed, &ids, &opts);
    let target_dir = parsed.project.settings.target_dir();
    write_compiled(&parsed.project.settings.root, &compiled)
        .map_err(|e| anyhow::anyhow!("cannot write compiled SQL under `{}`: {e}", target_dir.display()))?;
    let invocation = inv.artifacts(cli, &args, false);
    write_artifact(
        &target_dir.join("manifest.json"),
        &silt::manifest::Manifest { parsed, graph: &loaded.graph, compiled: Some(&compiled), invocation: &invocation },
    )?;
    let views: BTreeMap<String, String> = compiled
        .iter()
        .filter(|(id, _)| parsed.node(id).is_some_and(|n| n.materialized == Materialization::View))
        .filter_map(|(id, c)| c.as_ref().ok().map(|c| (id.clone(), c.sql.clone())))
        .collect();
    let catalog = runtime()?.block_on(async {
        let session = silt::exec::open_session(parsed)?;
        silt::exec::register_views(&session, parsed, &compiled);
        silt::exec::catalog::catalog(parsed, &session, &views, silt::manifest::catalog_metadata(parsed, &invocation)).await
    });
    let catalog = catalog.map_err(|e| anyhow::anyhow!("{e}"))?;
    let count = |k: &str| catalog[k].as_object().map_or(0, |m| m.len());
    let (nodes, sources) = (count("nodes"), count("sources"));
    write_artifact(&target_dir.join("catalog.json"), &catalog)?;
    if let Some(errors) = catalog["errors"].as_array() {
        for e in errors {
            printer.info(&format!("warning: {}", e.as_str().unwrap_or_default()));
        }
    }
    printer.info(&format!(
        "Catalog written to {} ({nodes} nodes and {sources} sources that exist in the warehouse)",
        target_dir.join("catalog.json").display()
    ));
    Ok(Outcome::Success)
}
