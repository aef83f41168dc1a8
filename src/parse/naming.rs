//! Naming each node's relation: dbt's `generate_schema_name` and `generate_alias_name`
//! (the project's own macros when it overrides them), kept inside the warehouse, and no
//! two nodes building one relation.

use std::collections::HashMap;

use serde_json::Value as Json;

use crate::diagnostic::{Diagnostic, Diagnostics, Span};
use crate::project::Project;
use crate::relation::{Relation, RelationKind};
use crate::template::Templates;

use super::checks::config_error;
use super::config::Materialization;
use super::node::{ParsedNode, model_json};

impl Templates {
    /// Whether the project overrides how schemas or aliases are named (so the macros must
    /// run for every node; otherwise Silt applies dbt's defaults directly).
    pub(super) fn has_macro_override(&self) -> bool {
        self.macros().any(|m| {
            m.package != "dbt"
                && matches!(
                    m.name.as_str(),
                    "generate_schema_name"
                        | "default__generate_schema_name"
                        | "datafusion__generate_schema_name"
                        | "generate_alias_name"
                        | "default__generate_alias_name"
                        | "datafusion__generate_alias_name"
                        | "generate_database_name"
                )
        })
    }
}

pub(super) fn name_relation(
    templates: &Templates,
    parsed: &mut ParsedNode,
    project: &Project,
    custom: bool,
) -> Result<(), Diagnostic> {
    let target = &project.settings.target;
    let custom_schema = parsed.config.schema.clone();
    let custom_alias = parsed.config.alias.clone();
    let (schema, alias) = if custom {
        let node_json = model_json(&parsed.node, &parsed.config.raw, None);
        let call = |name: &str, arg: Option<String>| -> Result<String, Diagnostic> {
            let v = templates
                .call_macro(
                    name,
                    vec![arg.map_or(Json::Null, Json::String), node_json.clone()],
                    None,
                )
                .map_err(|e| {
                    e.to_diagnostic(
                        &parsed.node.original_file_path,
                        &parsed.node.raw_code,
                        &|f| templates.macro_source(f),
                    )
                })?;
            Ok(match v {
                Json::String(s) => s.trim().to_owned(),
                other => other.to_string(),
            })
        };
        (
            call("generate_schema_name", custom_schema)?,
            call("generate_alias_name", custom_alias)?,
        )
    } else {
        let schema = match custom_schema {
            Some(s) => format!("{}_{}", target.schema, s.trim()),
            None => target.schema.clone(),
        };
        (
            schema,
            custom_alias
                .map(|a| a.trim().to_owned())
                .unwrap_or_else(|| parsed.node.name.clone()),
        )
    };
    // A snapshot's `target_schema` is used as written, as dbt does (`schema` goes through
    // `generate_schema_name` like any node's).
    let schema = match parsed.config.snapshot.as_ref().and_then(|s| s.target_schema.clone()) {
        Some(t) => t,
        None => schema,
    };
    // Names become folders under the warehouse: keep them inside it.
    let bad = |n: &str| {
        n.is_empty() || n == "." || n == ".." || n == "null" || n.contains(['/', '\\', '\0'])
    };
    for (key, value) in [("schema", &schema), ("alias", &alias)] {
        if bad(value) {
            return Err(config_error(
                project,
                &parsed.node,
                key,
                &format!(
                    "`{value}` is not a valid {key} name (names cannot be empty, `.`, `..` or `null`, or contain slashes)"
                ),
            ));
        }
    }
    let kind = match parsed.config.materialized {
        Materialization::View => RelationKind::View,
        Materialization::Ephemeral => RelationKind::Cte,
        _ => RelationKind::Table,
    };
    let identifier = if kind == RelationKind::Cte {
        crate::relation::ephemeral_cte_name(&parsed.node.name)
    } else {
        alias
    };
    let database = parsed
        .config
        .snapshot
        .as_ref()
        .and_then(|s| s.target_database.clone())
        .or_else(|| parsed.config.database.clone())
        .unwrap_or_else(|| target.database.clone());
    parsed.relation = Relation::new(&database, &schema, &identifier, kind);
    Ok(())
}

pub(super) fn check_relation_clashes(nodes: &[ParsedNode], diags: &mut Diagnostics) {
    let mut seen: HashMap<(String, String), &ParsedNode> = HashMap::new();
    for n in nodes.iter().filter(|n| {
        n.config.enabled && n.config.materialized.builds_relation() && n.error.is_none()
    }) {
        let key = (n.relation.schema.clone(), n.relation.identifier.clone());
        if let Some(first) = seen.insert(key, n) {
            diags.push(
                Diagnostic::error(format!(
                    "`{}` and `{}` both build the relation `{}`",
                    first.node.name, n.node.name, n.relation
                ))
                .with_span(Span::file(n.node.original_file_path.clone()))
                .with_help("give one of them another `alias` or `schema`"),
            );
        }
    }
}
