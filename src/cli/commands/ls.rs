//! `silt ls`: resources printed as selectors, names, paths or JSON.

use std::sync::Arc;

use anyhow::Result;
use serde_json::json;
use silt::commands::ls::Options;
use silt::project::ResourceType;

use super::{exit_without_freeing, fail, header, load_options, selection};
use crate::cli::console::{Console, Mode};
use crate::cli::{Cli, LsFormat, Outcome, Printer, SelectArgs, report_diagnostics};

const DEFAULT_TYPES: &[ResourceType] = &[
    ResourceType::Model,
    ResourceType::Seed,
    ResourceType::Test,
    ResourceType::Source,
    ResourceType::Snapshot,
    ResourceType::UnitTest,
    ResourceType::Exposure,
];

pub fn run(cli: &Cli, printer: &Printer, args: &SelectArgs, output: LsFormat, resource_types: &[String]) -> Result<Outcome> {
    let mut types: Vec<ResourceType> = Vec::new();
    for t in resource_types.iter().flat_map(|t| t.split_whitespace()) {
        if t == "all" {
            types.extend(DEFAULT_TYPES);
            types.push(ResourceType::Analysis);
            continue;
        }
        match ResourceType::parse(t) {
            Some(rt) => types.push(rt),
            None => {
                let d = silt::diagnostic::Diagnostic::error(format!("unknown resource type `{t}`"))
                    .with_help("use model, seed, source, test, analysis, snapshot, unit_test, exposure or all");
                return Ok(report_diagnostics(printer, &d.into()));
            }
        }
    }
    if types.is_empty() {
        types.extend(DEFAULT_TYPES);
    }
    header(printer);
    let opts = Options {
        project: load_options(cli),
        selection: selection(args),
        types,
    };
    let report = match silt::commands::ls(&opts, Arc::new(Console::new(*printer, Mode::Other))) {
        Ok(r) => r,
        Err(e) => return fail(printer, e),
    };
    let parsed = &report.loaded.parsed;
    let mut out = String::new();
    for id in &report.ids {
        let line = if let Some(n) = parsed.node(id) {
            match output {
                LsFormat::Selector => n.node.fqn.join("."),
                LsFormat::Name => n.node.name.clone(),
                LsFormat::Path => n.node.package_path().to_owned(),
                LsFormat::Json => json!({
                    "name": n.node.name,
                    "resource_type": n.node.resource_type.as_str(),
                    "package_name": n.node.package,
                    "original_file_path": n.node.package_path(),
                    "unique_id": n.node.unique_id,
                    "alias": n.relation.identifier,
                    "config": silt::report::node_json(parsed, n, None)["config"],
                    "tags": n.config.tags,
                    "depends_on": {"macros": n.macros, "nodes": n.depends_on},
                })
                .to_string(),
            }
        } else if let Some(s) = parsed.source(id) {
            let t = &s.source;
            let path = parsed.project.settings.package_relative(&t.package, &t.original_file_path);
            match output {
                LsFormat::Selector => format!("source:{}.{}.{}", t.package, t.source_name, t.name),
                LsFormat::Name => format!("{}.{}", t.source_name, t.name),
                LsFormat::Path => path.to_owned(),
                LsFormat::Json => json!({
                    "name": t.name,
                    "resource_type": "source",
                    "package_name": t.package,
                    "original_file_path": path,
                    "unique_id": t.unique_id,
                    "source_name": t.source_name,
                    "config": {"enabled": s.enabled, "meta": t.meta, "tags": t.tags},
                    "tags": t.tags,
                })
                .to_string(),
            }
        } else {
            continue;
        };
        out.push_str(&line);
        out.push('\n');
    }
    printer.out(&out);
    exit_without_freeing(report);
    Ok(Outcome::Success)
}
