//! `silt docs generate`: dbt's documentation artifacts and the docs site; `silt docs
//! serve`: the site over HTTP.

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
    let Some(ids) = documented(printer, &loaded) else {
        return Ok(Outcome::Failure);
    };
    let invocation = inv.artifacts(cli, &SelectArgs::default(), false);
    write_docs(printer, &loaded.parsed, &loaded.graph, &ids, &invocation)?;
    Ok(Outcome::Success)
}

/// What the docs cover: every enabled model, test and analysis (seeds, sources and unit
/// tests come from the manifest as they are). `None` when selection failed (reported).
pub fn documented(printer: &Printer, loaded: &silt::Loaded) -> Option<Vec<String>> {
    select(
        printer,
        loaded,
        &SelectArgs::default(),
        &[ResourceType::Model, ResourceType::Test, ResourceType::Analysis],
    )
    .ok()
}

/// Compiles `ids` and writes manifest.json, catalog.json, column_lineage.json and the site
/// in target/docs/; returns the site's page.
pub fn write_docs(
    printer: &Printer,
    parsed: &silt::parse::ParsedProject,
    graph: &silt::graph::Graph,
    ids: &[String],
    invocation: &silt::manifest::Invocation,
) -> Result<std::path::PathBuf> {
    let opts = CompileOptions {
        full_refresh: false,
        existing: silt::exec::existing_relations(parsed),
    };
    let compiled = compile(parsed, ids, &opts);
    let target_dir = parsed.project.settings.target_dir();
    write_compiled(&parsed.project.settings.root, &compiled)
        .map_err(|e| anyhow::anyhow!("cannot write compiled SQL under `{}`: {e}", target_dir.display()))?;
    // The site reads the manifest as a tree: built once, and that tree is what is written.
    let manifest = serde_json::to_value(silt::manifest::Manifest { parsed, graph, compiled: Some(&compiled), invocation })?;
    write_artifact(&target_dir.join("manifest.json"), &manifest)?;
    let views: BTreeMap<String, String> = compiled
        .iter()
        .filter(|(id, _)| parsed.node(id).is_some_and(|n| n.config.materialized == Materialization::View))
        .filter_map(|(id, c)| c.as_ref().ok().map(|c| (id.clone(), c.sql.clone())))
        .collect();
    let rt = runtime()?;
    let catalog = rt.block_on(async {
        let session = silt::exec::open_session(parsed)?;
        silt::exec::register_views(&session, parsed, &compiled);
        silt::exec::catalog::catalog(parsed, &session, &views, silt::manifest::catalog_metadata(parsed, invocation)).await
    });
    let catalog = catalog.map_err(|e| anyhow::anyhow!("{e}"))?;
    let lineage = rt.block_on(column_lineage(parsed, &compiled));
    write_artifact(&target_dir.join("column_lineage.json"), &lineage)?;
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
    let status: serde_json::Value = std::fs::read(target_dir.join("node_status.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let site_dir = target_dir.join("docs");
    let site = silt::docs::write_site(
        &site_dir,
        &silt::docs::Inputs { manifest: &manifest, catalog: &catalog, lineage: &lineage, status: &status },
    )
    .map_err(|e| anyhow::anyhow!("cannot write the docs site under `{}`: {e}", site_dir.display()))?;
    printer.info(&format!("Docs site written to {} ({} nodes)", site.index.display(), site.nodes));
    Ok(site.index)
}

/// Serves target/docs/ until the process is stopped.
pub fn serve(cli: &Cli, printer: &Printer, host: &str, port: u16) -> Result<Outcome> {
    let inv = Invocation::new("serve");
    let loaded = match load(cli, printer, &inv, false)? {
        Ok(l) => l,
        Err(outcome) => return Ok(outcome),
    };
    let site = loaded.parsed.project.settings.target_dir().join("docs");
    if !site.join("index.html").is_file() {
        printer.err_line(&format!(
            "there is no docs site in `{}`: run `silt docs generate` first",
            site.display()
        ));
        return Ok(Outcome::Failure);
    }
    let server = silt::docs::serve::Server::bind(&site, host, port)
        .map_err(|e| anyhow::anyhow!("cannot listen on {host}:{port}: {e}"))?;
    let addr = server.local_addr()?;
    printer.info(&format!("Serving the docs of `{}` at http://{addr}/ (Ctrl-C to stop)", site.display()));
    server.run()?;
    Ok(Outcome::Success)
}

/// `target/column_lineage.json`: for each model that plans, each column's upstream columns
/// as `{"node": unique id (or the relation when it is not in the project), "column": name}`.
async fn column_lineage(
    parsed: &silt::parse::ParsedProject,
    compiled: &BTreeMap<String, Result<silt::compile::CompiledNode, silt::diagnostic::Diagnostic>>,
) -> serde_json::Value {
    use serde_json::json;
    let Ok(session) = silt::exec::open_session(parsed) else {
        return json!({});
    };
    silt::exec::register_views(&session, parsed, compiled);
    // Relations as plans name them (`schema.identifier`) -> unique ids.
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    for n in &parsed.nodes {
        ids.insert(n.relation.key(), n.node.unique_id.clone());
    }
    for s in &parsed.sources {
        ids.insert(s.relation.key(), s.source.unique_id.clone());
    }
    let mut out = serde_json::Map::new();
    for (id, c) in compiled {
        let (Some(n), Ok(c)) = (parsed.node(id), c) else { continue };
        if n.node.resource_type != ResourceType::Model {
            continue;
        }
        let Ok(columns) = silt::exec::lineage::of_query(&session, &c.sql).await else {
            continue;
        };
        let mut cols = serde_json::Map::new();
        for (column, ups) in columns {
            let ups: Vec<serde_json::Value> = ups
                .into_iter()
                .map(|(relation, col)| {
                    let relation = relation.strip_prefix("silt.").unwrap_or(&relation).to_owned();
                    json!({"node": ids.get(&relation).cloned().unwrap_or(relation), "column": col})
                })
                .collect();
            cols.insert(column, json!(ups));
        }
        out.insert(id.clone(), serde_json::Value::Object(cols));
    }
    serde_json::Value::Object(out)
}
