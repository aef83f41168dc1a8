//! The parse stage: every node's Jinja rendered once to learn what it depends on and how it
//! is configured, then its relation named (`generate_schema_name`, `generate_alias_name`).
//!
//! As in dbt, this render runs with `execute` false and `is_incremental()` false; `ref` and
//! `source` check that their target exists (so a typo is reported at the call, with its
//! line) and return placeholder relations. The compile stage renders again with every
//! relation resolved.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;

use crate::config::as_bool;
use crate::diagnostic::Diagnostics;
use crate::par::map as parallel_map;
use crate::project::Project;
use crate::relation::{Relation, RelationKind};
use crate::template::{Globals, Resolver, Templates};

mod checks;
mod config;
mod deps;
mod names;
mod naming;
mod node;
mod render;

pub use checks::config_error;
pub use config::{ConfigError, HardDeletes, Hook, IncrementalStrategy, SnapshotColumns, SnapshotConfig, SnapshotStrategy, Materialization, NodeConfig, OnSchemaChange, Severity, TestConfig};
pub use deps::call_span;
pub use names::NameIndex;
pub use node::{ParsedNode, ParsedProject, ParsedSource, model_json};

use deps::resolve_dependencies;
use names::ParseResolver;
use naming::{check_relation_clashes, name_relation};
use render::{Failure, render_node};

/// Options that change how nodes parse.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    pub invocation_id: String,
    pub full_refresh: bool,
    /// The command being run (`run`, `compile`...), for `flags.WHICH`.
    pub which: String,
    /// `--store-failures`: tests keep their failing rows unless their config says not.
    pub store_failures: bool,
}

/// Parses a loaded project.
pub fn parse(mut project: Project, opts: &ParseOptions) -> Result<ParsedProject, Diagnostics> {
    let settings = &project.settings;
    let globals = Globals {
        project_name: settings.project.name.clone(),
        packages: settings.packages.iter().map(|p| p.name.clone()).collect(),
        dispatch: settings.project.dispatch.clone(),
        target: settings.target.jinja.clone(),
        vars: settings.vars.clone(),
        invocation_id: opts.invocation_id.clone(),
        run_started_at: chrono::Utc::now(),
        flags: json!({"FULL_REFRESH": opts.full_refresh, "WHICH": opts.which, "STORE_FAILURES": opts.store_failures}),
    };
    let templates =
        Templates::new(globals, project.macro_files.clone()).map_err(Diagnostics)?;
    let mut diags = Diagnostics::new();
    let names = NameIndex::new(&project);
    let resolver: Arc<dyn Resolver> = Arc::new(ParseResolver {
        names: names.clone(),
        database: settings.target.database.clone(),
        schema: settings.target.schema.clone(),
    });

    // Render every node, in parallel: rendering dominates parsing a large project.
    let placeholder = |name: &str| {
        Relation::new(
            &settings.target.database,
            &settings.target.schema,
            name,
            RelationKind::Table,
        )
    };
    let rendered = parallel_map(&project.nodes, |node| {
        render_node(
            &project,
            &templates,
            node,
            resolver.clone(),
            placeholder(&node.name),
            opts.store_failures,
        )
    });
    // The nodes move into the parsed project (a large project's nodes are not copied).
    let owned = std::mem::take(&mut project.nodes);
    let mut nodes = Vec::with_capacity(owned.len());
    for (node, result) in owned.into_iter().zip(rendered) {
        match result {
            Ok(parts) => nodes.push(parts.into_node(node, None)),
            Err(Failure { diagnostic, fallback: Some(parts) }) => nodes.push(parts.into_node(node, Some(diagnostic))),
            Err(Failure { diagnostic, fallback: None }) => diags.push(diagnostic),
        }
    }
    let custom_names = templates.has_macro_override();
    for parsed in &mut nodes {
        if let Err(d) = name_relation(&templates, parsed, &project, custom_names) {
            // A name the node's own config gives: that node's error alone.
            if parsed.error.is_none() {
                parsed.error = Some(d);
            }
        }
    }
    let sources: Vec<ParsedSource> = project
        .sources
        .iter()
        .map(|s| ParsedSource {
            relation: Relation::new(&s.database, &s.schema, &s.identifier, RelationKind::Table),
            enabled: s.config.get("enabled").and_then(as_bool).unwrap_or(true),
            source: s.clone(),
        })
        .collect();
    let index: HashMap<String, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.node.unique_id.clone(), i))
        .collect();
    let source_index: HashMap<String, usize> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| (s.source.unique_id.clone(), i))
        .collect();
    resolve_dependencies(&mut nodes, &index, &sources, &names, &mut diags);
    check_relation_clashes(&nodes, &mut diags);
    diags.sort();
    if diags.has_errors() {
        return Err(diags);
    }
    let mut project = project;
    project.warnings.extend(diags.0);
    Ok(ParsedProject {
        project,
        templates,
        nodes,
        sources,
        index,
        source_index,
        names,
        relations: Default::default(),
    })
}
