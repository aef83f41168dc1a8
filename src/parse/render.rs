//! The parse render of one node: its Jinja run once to capture `ref`, `source`,
//! `config()` and macro calls, then its config merged, typed and checked.

use std::sync::Arc;

use serde_json::Value as Json;

use crate::config::merge_into;
use crate::diagnostic::Diagnostic;
use crate::project::{Project, ProjectNode, ResourceType};
use crate::relation::{Relation, RelationKind};
use crate::template::{NodeContext, Phase, RefCall, Resolver, Templates};

use super::checks::{check_contract, check_inline_config_keys, check_test_signature, config_error, test_render_error};
use super::config::NodeConfig;
use super::node::{ParsedNode, model_json};

/// What the parse render learns about a node, before the node itself joins it.
pub(super) struct Parts {
    config: NodeConfig,
    refs: Vec<RefCall>,
    sources: Vec<(String, String)>,
    macros: Vec<String>,
}

impl Parts {
    /// The node with what its render found; its relation is named and its dependencies
    /// resolved afterwards, once every node is known.
    pub(super) fn into_node(self, node: ProjectNode) -> ParsedNode {
        ParsedNode {
            node,
            config: self.config,
            relation: Relation::new("", "", "", RelationKind::Table),
            refs: self.refs,
            sources: self.sources,
            depends_on: Vec::new(),
            macros: self.macros,
        }
    }
}

/// Renders `node` once and types its config. `store_failures` is `--store-failures`: a test
/// keeps its failing rows unless its config says otherwise.
pub(super) fn render_node(
    project: &Project,
    templates: &Templates,
    node: &ProjectNode,
    resolver: Arc<dyn Resolver>,
    this: Relation,
    store_failures: bool,
) -> Result<Parts, Diagnostic> {
    let mut ctx = NodeContext::new(Phase::Parse, resolver);
    // As in dbt's parse pass, `this` is a stand-in until the node's config is known.
    ctx.this = Some(this);
    ctx.config = node.config.clone();
    ctx.model = model_json(node, &node.config, None);
    let ctx = Arc::new(ctx);
    if let Some(meta) = &node.test {
        check_test_signature(project, templates, node, meta)?;
        templates
            .render_test(&node.original_file_path, &node.raw_code, ctx.clone(), &meta.kwargs)
            .map_err(|e| test_render_error(project, templates, node, meta, &e))?;
    } else if !matches!(node.resource_type, ResourceType::Seed | ResourceType::UnitTest) {
        templates
            .render(&node.original_file_path, &node.raw_code, Some(ctx.clone()))
            .map_err(|e| {
                e.to_diagnostic(&node.original_file_path, &node.raw_code, &|f| {
                    templates.macro_source(f)
                })
            })?;
    }
    let captured = ctx.take_captured();
    check_inline_config_keys(project, node, &captured.configs)?;
    let mut config = node.config.clone();
    for inline in &captured.configs {
        merge_into(&mut config, inline);
    }
    if let Some(meta) = &node.test {
        // A generic test's YAML configs win over `config()` in its macro, as in dbt.
        merge_into(&mut config, &meta.yaml_config);
    }
    if node.resource_type == ResourceType::Test && !config.contains_key("schema") {
        // Where stored failures go (dbt's default test schema, appended to the target's).
        config.insert("schema".into(), Json::String("dbt_test__audit".into()));
    }
    if store_failures
        && node.resource_type == ResourceType::Test
        && !config.contains_key("store_failures")
        && !config.contains_key("store_failures_as")
    {
        config.insert("store_failures".into(), Json::Bool(true));
    }
    let config = NodeConfig::resolve(config, node.resource_type).map_err(|e| {
        let d = config_error(project, node, &e.key, &e.message);
        match e.help {
            Some(h) => d.with_help(h),
            None => d,
        }
    })?;
    check_contract(project, node, &config)?;
    Ok(Parts {
        config,
        refs: captured.refs,
        sources: captured.sources,
        macros: captured.macros.into_iter().collect(),
    })
}
