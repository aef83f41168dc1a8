//! The parse render of one node: its Jinja run once to capture `ref`, `source`,
//! `config()` and macro calls, then its config merged, typed and checked.

use std::sync::Arc;

use serde_json::Value as Json;

use crate::config::merge_into;
use crate::diagnostic::Diagnostic;
use crate::project::{Project, ProjectNode, ResourceType};
use crate::relation::{Relation, RelationKind};
use crate::template::{Captured, NodeContext, Phase, RefCall, Resolver, Templates};

use super::checks::{check_contract, check_inline_config_keys, check_test_signature, config_error, test_render_error};
use super::config::NodeConfig;
use super::node::{ParsedNode, model_json};

/// What the parse render learns about a node, before the node itself joins it.
pub(super) struct Parts {
    config: NodeConfig,
    refs: Vec<RefCall>,
    sources: Vec<(String, String)>,
    macros: Vec<String>,
    /// The node's `config()` calls merged: configs as written, for `unrendered_config`.
    inline: crate::config::ConfigMap,
}

impl Parts {
    /// The node with what its render found; its relation is named and its dependencies
    /// resolved afterwards, once every node is known.
    pub(super) fn into_node(self, mut node: ProjectNode, error: Option<Diagnostic>) -> ParsedNode {
        // As in dbt, `config()` calls win over the project file and YAML here too.
        merge_into(&mut node.unrendered_config, &self.inline);
        ParsedNode {
            node,
            config: self.config,
            relation: Relation::new("", "", "", RelationKind::Table),
            refs: self.refs,
            sources: self.sources,
            depends_on: Vec::new(),
            macros: self.macros,
            error,
        }
    }
}

/// A node whose parse failed.
pub(super) struct Failure {
    pub diagnostic: Diagnostic,
    /// When the error is the node's alone (its Jinja or config): what is known of it, so it
    /// stays in the project and fails when it runs, as in dbt. `None`: the project's error
    /// (a generic test's YAML, a `ref` to nothing), which stops parsing.
    pub fallback: Option<Parts>,
}

impl From<Diagnostic> for Failure {
    fn from(diagnostic: Diagnostic) -> Failure {
        Failure { diagnostic, fallback: None }
    }
}

/// What is known of a node whose render or config failed: the config from the project
/// file and YAML, and what it reads from the calls captured before the error and the
/// literal `ref(...)` / `source(...)` calls in its code.
fn fallback(node: &ProjectNode, resolver: &dyn Resolver, captured: Captured) -> Option<Parts> {
    let own_error = matches!(
        node.resource_type,
        ResourceType::Model | ResourceType::Seed | ResourceType::Analysis | ResourceType::Snapshot
    ) || (node.resource_type == ResourceType::Test && node.test.is_none());
    if !own_error {
        return None;
    }
    let (mut refs, mut sources) = (captured.refs, captured.sources);
    // A `ref` or `source` naming nothing is the project's error, as in dbt.
    let from = node.package.as_str();
    if refs.iter().any(|r| resolver.resolve_ref(from, r.package.as_deref(), &r.name, None).is_err())
        || sources.iter().any(|(s, t)| resolver.resolve_source(from, s, t).is_err())
    {
        return None;
    }
    let (static_refs, static_sources) = literal_calls(&node.raw_code);
    for r in static_refs {
        if !refs.contains(&r) && resolver.resolve_ref(from, r.package.as_deref(), &r.name, None).is_ok() {
            refs.push(r);
        }
    }
    for s in static_sources {
        if !sources.contains(&s) && resolver.resolve_source(from, &s.0, &s.1).is_ok() {
            sources.push(s);
        }
    }
    // The config as far as it is valid: each key at fault is dropped in turn.
    let mut raw = node.config.clone();
    for inline in &captured.configs {
        merge_into(&mut raw, inline);
    }
    let mut config = None;
    for _ in 0..16 {
        match NodeConfig::resolve(raw.clone(), node.resource_type) {
            Ok(c) => {
                config = Some(c);
                break;
            }
            Err(e) if raw.shift_remove(&e.key).is_some() => {}
            Err(_) => break,
        }
    }
    let mut config = config.unwrap_or_default();
    if let Some(enabled) = raw.get("enabled").and_then(crate::config::as_bool) {
        config.enabled = enabled;
    }
    Some(Parts {
        config,
        refs,
        sources,
        macros: captured.macros.into_iter().collect(),
        inline: inline_configs(&captured.configs),
    })
}

/// A node's `config()` calls merged in order.
fn inline_configs(calls: &[crate::config::ConfigMap]) -> crate::config::ConfigMap {
    let mut out = crate::config::ConfigMap::new();
    for c in calls {
        merge_into(&mut out, c);
    }
    out
}

/// The `ref('...')` and `source('...', '...')` calls of a template whose arguments are
/// string literals.
fn literal_calls(code: &str) -> (Vec<RefCall>, Vec<(String, String)>) {
    let (mut refs, mut sources) = (Vec::new(), Vec::new());
    for func in ["ref", "source"] {
        let pattern = format!("{func}(");
        let mut from = 0;
        while let Some(at) = code[from..].find(&pattern) {
            let start = from + at;
            from = start + pattern.len();
            let before = code[..start].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                continue;
            }
            let Some(args) = literal_args(&code[from..]) else { continue };
            match (func, args.as_slice()) {
                ("ref", [name]) => refs.push(RefCall { package: None, name: name.clone(), version: None }),
                ("ref", [package, name]) => refs.push(RefCall { package: Some(package.clone()), name: name.clone(), version: None }),
                ("source", [s, t]) => sources.push((s.clone(), t.clone())),
                _ => {}
            }
        }
    }
    (refs, sources)
}

/// `'a', "b")` -> `["a", "b"]`: string literals separated by commas up to `)`.
fn literal_args(text: &str) -> Option<Vec<String>> {
    let mut args = Vec::new();
    let mut rest = text.trim_start();
    loop {
        let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        let end = rest[1..].find(quote)? + 1;
        args.push(rest[1..end].to_owned());
        rest = rest[end + 1..].trim_start();
        match rest.chars().next()? {
            ',' => rest = rest[1..].trim_start(),
            ')' => return Some(args),
            _ => return None,
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
) -> Result<Parts, Failure> {
    let mut ctx = NodeContext::new(Phase::Parse, resolver.clone());
    // As in dbt's parse pass, `this` is a stand-in until the node's config is known.
    ctx.this = Some(this);
    ctx.config = node.config.clone();
    ctx.model = model_json(node, &node.config, None);
    let ctx = Arc::new(ctx);
    if let Some(meta) = &node.test {
        check_test_signature(project, templates, node, meta)?;
        templates
            .render_test(&node.original_file_path, &meta.call(), ctx.clone(), &meta.kwargs)
            .map_err(|e| test_render_error(project, templates, node, meta, &e))?;
    } else if !matches!(node.resource_type, ResourceType::Seed | ResourceType::UnitTest)
        && let Err(e) = templates.render(&node.original_file_path, &node.raw_code, Some(ctx.clone()))
    {
        let diagnostic = e.to_diagnostic(&node.original_file_path, &node.raw_code, &|f| templates.macro_source(f));
        return Err(Failure {
            diagnostic,
            fallback: fallback(node, resolver.as_ref(), ctx.take_captured()),
        });
    }
    let mut captured = ctx.take_captured();
    let configured = configure(project, node, &captured, store_failures).and_then(|config| {
        // As dbt, hooks are rendered now to learn what they read: a model's hook that
        // refs another model depends on it; a seed's may not read anything.
        let hooks = hook_calls(project, templates, node, &config, ctx.clone())?;
        Ok((config, hooks))
    });
    match configured {
        Ok((config, hooks)) => {
            for r in hooks.refs {
                if !captured.refs.contains(&r) {
                    captured.refs.push(r);
                }
            }
            for s in hooks.sources {
                if !captured.sources.contains(&s) {
                    captured.sources.push(s);
                }
            }
            captured.macros.extend(hooks.macros);
            Ok(Parts {
                config,
                inline: inline_configs(&captured.configs),
                refs: captured.refs,
                sources: captured.sources,
                macros: captured.macros.into_iter().collect(),
            })
        }
        Err(diagnostic) => Err(Failure {
            diagnostic,
            fallback: fallback(node, resolver.as_ref(), captured),
        }),
    }
}

/// Renders a node's hooks in its parse context; what they called.
fn hook_calls(
    project: &Project,
    templates: &Templates,
    node: &ProjectNode,
    config: &NodeConfig,
    ctx: Arc<NodeContext>,
) -> Result<Captured, Diagnostic> {
    let hooks: Vec<(&str, &super::config::Hook)> = config
        .pre_hook
        .iter()
        .map(|h| ("pre-hook", h))
        .chain(config.post_hook.iter().map(|h| ("post-hook", h)))
        .collect();
    if hooks.is_empty() || node.resource_type == ResourceType::Test {
        return Ok(Captured::default());
    }
    for (kind, hook) in &hooks {
        let name = format!("{} ({kind})", node.original_file_path);
        if let Err(e) = templates.render(&name, &hook.sql, Some(ctx.clone())) {
            let d = e.to_diagnostic(&name, &hook.sql, &|f| templates.macro_source(f));
            return Err(config_error(project, node, kind, &format!("in a {kind}: {}", d.message)));
        }
    }
    let captured = ctx.take_captured();
    if node.resource_type == ResourceType::Seed && (!captured.refs.is_empty() || !captured.sources.is_empty()) {
        let list: Vec<String> = hooks.iter().map(|(k, h)| format!("- {}: \"{}\"", k.replace('-', "_"), h.sql)).collect();
        return Err(config_error(
            project,
            node,
            hooks[0].0,
            &format!(
                "Seeds cannot depend on other nodes. Silt found a pre- or post-hook on seed `{}` that calls 'ref' or 'source', directly or through macros; its hooks:\n{}",
                node.unique_id,
                list.join("\n")
            ),
        ));
    }
    Ok(captured)
}

/// The node's config: the project file's and YAML's, then its `config()` calls, typed and
/// checked.
fn configure(project: &Project, node: &ProjectNode, captured: &Captured, store_failures: bool) -> Result<NodeConfig, Diagnostic> {
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
    let mut config = config;
    if let Some(d) = config.strategy_error.take() {
        // Placed now, reported when an incremental run needs the strategy.
        let placed = config_error(project, node, "incremental_strategy", &d.message);
        config.strategy_error = Some(Box::new(match d.help {
            Some(h) => placed.with_help(h),
            None => placed,
        }));
    }
    Ok(config)
}
