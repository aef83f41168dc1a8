//! The parse stage: every node's Jinja rendered once to learn what it depends on and how it
//! is configured, then its relation named (`generate_schema_name`, `generate_alias_name`).
//!
//! As in dbt, this render runs with `execute` false and `is_incremental()` false; `ref` and
//! `source` check that their target exists (so a typo is reported at the call, with its
//! line) and return placeholder relations. The compile stage renders again with every
//! relation resolved.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value as Json, json};

pub use crate::par::map as parallel_map;
use crate::config::{ConfigMap, merge_into, string_list};
use crate::diagnostic::{Diagnostic, Diagnostics, Span, did_you_mean};
use crate::project::{Project, ProjectNode, ResourceType};
use crate::relation::{Relation, RelationKind};
use crate::template::{Globals, NodeContext, Phase, RefCall, Resolver, Templates};

/// How a node is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Materialization {
    View,
    Table,
    Incremental,
    Ephemeral,
    StreamingTable,
    Seed,
    Test,
    /// A unit test: the model run on given rows in memory.
    UnitTest,
    Analysis,
}

impl Materialization {
    pub fn as_str(self) -> &'static str {
        match self {
            Materialization::View => "view",
            Materialization::Table => "table",
            Materialization::Incremental => "incremental",
            Materialization::Ephemeral => "ephemeral",
            Materialization::StreamingTable => "streaming_table",
            Materialization::Seed => "seed",
            Materialization::Test => "test",
            Materialization::UnitTest => "unit_test",
            Materialization::Analysis => "analysis",
        }
    }

    /// Whether running the node writes a Delta table.
    pub fn writes_table(self) -> bool {
        matches!(
            self,
            Materialization::Table
                | Materialization::Incremental
                | Materialization::StreamingTable
                | Materialization::Seed
        )
    }
}

const MODEL_MATERIALIZATIONS: &[&str] = &["view", "table", "incremental", "ephemeral", "streaming_table"];

/// A node after the parse render.
#[derive(Debug, Clone)]
pub struct ParsedNode {
    pub node: ProjectNode,
    /// The final config: project tree, YAML, then inline `config()` calls.
    pub config: ConfigMap,
    pub enabled: bool,
    pub materialized: Materialization,
    pub relation: Relation,
    pub tags: Vec<String>,
    pub refs: Vec<RefCall>,
    pub sources: Vec<(String, String)>,
    /// Unique ids of the nodes and sources it reads, in first-use order.
    pub depends_on: Vec<String>,
    pub macros: Vec<String>,
}

/// A source table with its relation.
#[derive(Debug, Clone)]
pub struct ParsedSource {
    pub source: crate::project::SourceTable,
    pub relation: Relation,
    pub enabled: bool,
}

/// The parsed project: every node and source, with dependencies.
pub struct ParsedProject {
    pub project: Project,
    pub templates: Templates,
    pub nodes: Vec<ParsedNode>,
    pub sources: Vec<ParsedSource>,
    /// Index from unique id to position in `nodes`.
    pub index: HashMap<String, usize>,
    /// Index from unique id to position in `sources`.
    pub source_index: HashMap<String, usize>,
    /// What `ref` and `source` can reach.
    pub names: NameIndex,
}

impl ParsedProject {
    pub fn node(&self, unique_id: &str) -> Option<&ParsedNode> {
        self.index.get(unique_id).map(|&i| &self.nodes[i])
    }

    pub fn source(&self, unique_id: &str) -> Option<&ParsedSource> {
        self.source_index.get(unique_id).map(|&i| &self.sources[i])
    }
}

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
        )
        .map(|mut parts| {
            if opts.store_failures
                && node.resource_type == ResourceType::Test
                && !parts.config.contains_key("store_failures")
                && !parts.config.contains_key("store_failures_as")
            {
                parts.config.insert("store_failures".into(), Json::Bool(true));
            }
            parts
        })
    });
    // The nodes move into the parsed project (a large project's nodes are not copied).
    let owned = std::mem::take(&mut project.nodes);
    let mut nodes = Vec::with_capacity(owned.len());
    for (node, result) in owned.into_iter().zip(rendered) {
        match result {
            Ok(parts) => nodes.push(parts.into_node(node)),
            Err(d) => diags.push(d),
        }
    }
    let custom_names = templates.has_macro_override();
    for parsed in &mut nodes {
        if let Err(d) = name_relation(&templates, parsed, &project, custom_names) {
            diags.push(d);
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
    let hooked: Vec<&str> = nodes
        .iter()
        .filter(|n| {
            n.enabled
                && ["pre-hook", "post-hook"]
                    .iter()
                    .any(|k| !string_list(n.config.get(*k)).is_empty())
        })
        .map(|n| n.node.name.as_str())
        .collect();
    if !hooked.is_empty() {
        let shown: Vec<&str> = hooked.iter().take(5).copied().collect();
        let more = if hooked.len() > 5 {
            format!(" and {} more", hooked.len() - 5)
        } else {
            String::new()
        };
        diags.push(
            Diagnostic::warning(format!("pre-hook and post-hook configs are not run by Silt ({}{more})", shown.join(", ")))
                .with_note("warehouse hooks (grants, vacuum, analyze) have no meaning for Delta tables on DataFusion"),
        );
    }
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
    })
}


/// Names that `ref` and `source` can reach.
#[derive(Clone)]
pub struct NameIndex {
    /// ref-able name -> (unique id, resource type)
    pub refs: Arc<HashMap<String, (String, ResourceType)>>,
    /// (source, table) -> unique id
    pub sources: Arc<HashMap<(String, String), String>>,
    pub project_name: String,
}

impl NameIndex {
    pub fn new(project: &Project) -> NameIndex {
        let refs = project
            .nodes
            .iter()
            .filter(|n| {
                matches!(
                    n.resource_type,
                    ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
                )
            })
            .map(|n| (n.name.clone(), (n.unique_id.clone(), n.resource_type)))
            .collect();
        let sources = project
            .sources
            .iter()
            .map(|s| ((s.source_name.clone(), s.name.clone()), s.unique_id.clone()))
            .collect();
        NameIndex {
            refs: Arc::new(refs),
            sources: Arc::new(sources),
            project_name: project.settings.project.name.clone(),
        }
    }

    /// The unique id `ref(package, name)` means, or the message explaining why none.
    pub fn lookup_ref(&self, package: Option<&str>, name: &str) -> Result<&str, String> {
        if let Some(p) = package
            && p != self.project_name {
                return Err(format!(
                    "`ref('{p}', '{name}')` points into package `{p}`, but Silt does not support packages"
                ));
            }
        match self.refs.get(name) {
            Some((id, _)) => Ok(id),
            None => {
                let mut msg = format!("`ref` to unknown model `{name}`");
                if let Some(s) = did_you_mean(name, self.refs.keys().map(String::as_str)) {
                    msg.push_str(&format!("; did you mean `{s}`?"));
                }
                Err(msg)
            }
        }
    }

    pub fn lookup_source(&self, source: &str, table: &str) -> Result<&str, String> {
        if let Some(id) = self.sources.get(&(source.to_owned(), table.to_owned())) {
            return Ok(id);
        }
        let source_known = self.sources.keys().any(|(s, _)| s == source);
        if source_known {
            let tables: Vec<&str> = self
                .sources
                .keys()
                .filter(|(s, _)| s == source)
                .map(|(_, t)| t.as_str())
                .collect();
            let mut msg = format!("source `{source}` has no table `{table}`");
            if let Some(s) = did_you_mean(table, tables.iter().copied()) {
                msg.push_str(&format!("; did you mean `{s}`?"));
            }
            return Err(msg);
        }
        let names: Vec<&str> = self.sources.keys().map(|(s, _)| s.as_str()).collect();
        let mut msg = format!("`source` to unknown source `{source}`");
        if let Some(s) = did_you_mean(source, names.iter().copied()) {
            msg.push_str(&format!("; did you mean `{s}`?"));
        }
        Err(msg)
    }
}

struct ParseResolver {
    names: NameIndex,
    database: String,
    schema: String,
}

impl Resolver for ParseResolver {
    fn resolve_ref(
        &self,
        package: Option<&str>,
        name: &str,
        _version: Option<&str>,
    ) -> Result<Relation, String> {
        self.names.lookup_ref(package, name)?;
        Ok(Relation::new(
            &self.database,
            &self.schema,
            name,
            RelationKind::Table,
        ))
    }

    fn resolve_source(&self, source: &str, table: &str) -> Result<Relation, String> {
        self.names.lookup_source(source, table)?;
        Ok(Relation::new(
            &self.database,
            source,
            table,
            RelationKind::Table,
        ))
    }
}

/// What the parse render learns about a node, before the node itself joins it.
struct Parts {
    config: ConfigMap,
    enabled: bool,
    materialized: Materialization,
    relation: Relation,
    tags: Vec<String>,
    refs: Vec<RefCall>,
    sources: Vec<(String, String)>,
    depends_on: Vec<String>,
    macros: Vec<String>,
}

impl Parts {
    fn into_node(self, node: ProjectNode) -> ParsedNode {
        ParsedNode {
            node,
            config: self.config,
            enabled: self.enabled,
            materialized: self.materialized,
            relation: self.relation,
            tags: self.tags,
            refs: self.refs,
            sources: self.sources,
            depends_on: self.depends_on,
            macros: self.macros,
        }
    }
}

/// The `model` variable templates see: the node as a dict, as dbt exposes it.
pub fn model_json(node: &ProjectNode, config: &ConfigMap, relation: Option<&Relation>) -> Json {
    json!({
        "name": node.name,
        "unique_id": node.unique_id,
        "resource_type": node.resource_type.as_str(),
        "package_name": node.package,
        "path": node.path,
        "original_file_path": node.original_file_path,
        "fqn": node.fqn,
        "description": node.description,
        "config": Json::Object(config.clone().into_iter().collect()),
        "tags": string_list(config.get("tags")),
        "meta": node.meta,
        "schema": relation.map(|r| r.schema.clone()),
        "alias": relation.map(|r| r.identifier.clone()),
        "database": relation.map(|r| r.database.clone()),
        "raw_code": &*node.raw_code,
        "version": Json::Null,
    })
}

fn render_node(
    project: &Project,
    templates: &Templates,
    node: &ProjectNode,
    resolver: Arc<dyn Resolver>,
    this: Relation,
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
    let enabled = match config.get("enabled") {
        None | Some(Json::Null) => true,
        Some(v) if as_bool(v).is_some() => as_bool(v).unwrap_or(true),
        Some(other) => {
            return Err(config_error(
                project,
                node,
                "enabled",
                &format!("`enabled` must be true or false, not `{other}`"),
            ));
        }
    };
    let materialized = materialization(project, node, &config)?;
    check_config_types(project, node, &config)?;
    if node.resource_type == ResourceType::Test
        && let Err((key, message)) = crate::config::TestConfig::of(&config) {
            return Err(config_error(project, node, key, &message));
        }
    check_contract(project, node, &config, materialized)?;
    let tags = string_list(config.get("tags"));
    Ok(Parts {
        config,
        enabled,
        materialized,
        relation: Relation::new("", "", "", RelationKind::Table),
        tags,
        refs: captured.refs,
        sources: captured.sources,
        depends_on: Vec::new(),
        macros: captured.macros.into_iter().collect(),
    })
}

/// An enforced contract must be one Silt can check: columns declared, constraints of
/// known types with what they need. (Types are checked when the model is planned.)
fn check_contract(
    project: &Project,
    node: &ProjectNode,
    config: &ConfigMap,
    materialized: Materialization,
) -> Result<(), Diagnostic> {
    let enforced = config
        .get("contract")
        .and_then(|c| c.get("enforced"))
        .and_then(as_bool)
        .unwrap_or(false);
    if !enforced || node.resource_type != ResourceType::Model {
        return Ok(());
    }
    let model_span = || match node.yaml {
        Some(at) => project.span(at),
        None => Span::file(node.original_file_path.clone()),
    };
    let name = &node.name;
    if materialized == Materialization::Ephemeral {
        return Err(config_error(
            project,
            node,
            "contract",
            "contracts are enforced on models that produce a relation, not on ephemeral ones",
        ));
    }
    if node.columns.is_empty() {
        return Err(Diagnostic::error(format!(
            "`{name}` has an enforced contract but its YAML declares no columns"
        ))
        .with_span(model_span())
        .with_help("list each column with its `data_type` under `columns:`"));
    }
    const KINDS: &[&str] = &["not_null", "check", "unique", "primary_key", "foreign_key", "custom"];
    let check = |c: &Json, span: &dyn Fn() -> Span, model_level: bool| -> Result<(), Diagnostic> {
        let kind = c.get("type").and_then(Json::as_str).unwrap_or("");
        if !KINDS.contains(&kind) {
            let mut d = Diagnostic::error(format!(
                "constraint type `{kind}` of `{name}` is not one of {}",
                KINDS.join(", ")
            ))
            .with_span(span());
            if let Some(s) = did_you_mean(kind, KINDS.iter().copied()) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            return Err(d);
        }
        let has = |k: &str| c.get(k).is_some_and(|v| !v.is_null() && v != &Json::String(String::new()));
        if kind == "check" && !has("expression") {
            return Err(Diagnostic::error(format!(
                "a `check` constraint of `{name}` needs an `expression`"
            ))
            .with_span(span()));
        }
        if model_level && matches!(kind, "unique" | "primary_key" | "not_null") && !has("columns") {
            return Err(Diagnostic::error(format!(
                "the model-level `{kind}` constraint of `{name}` needs `columns`"
            ))
            .with_span(span()));
        }
        Ok(())
    };
    for col in node.columns.values() {
        let span = || match col.at {
            Some(at) => project.span(at),
            None => model_span(),
        };
        for c in &col.constraints {
            check(c, &span, false)?;
        }
    }
    for c in &node.constraints {
        check(c, &model_span, true)?;
    }
    Ok(())
}

/// A generic test must name a test that exists, with the arguments its macro takes.
fn check_test_signature(
    project: &Project,
    templates: &Templates,
    node: &ProjectNode,
    meta: &crate::project::generic_tests::TestMetadata,
) -> Result<(), Diagnostic> {
    // Locating a YAML node re-reads its file: only for an error.
    let span = || project.span(meta.at);
    let shown = match &meta.namespace {
        Some(ns) => format!("{ns}.{}", meta.name),
        None => meta.name.clone(),
    };
    match meta.namespace.as_deref() {
        None | Some("dbt") => {}
        Some(ns) if ns == project.settings.project.name => {}
        Some("dbt_utils") => {
            if !crate::template::DBT_UTILS_TESTS.contains(&meta.name.as_str()) {
                return Err(Diagnostic::error(format!(
                    "test `{shown}` is not available: Silt does not install packages"
                ))
                .with_span(span())
                .with_help(format!(
                    "Silt has these dbt_utils tests built in: {}; or define `{{% test {} %}}` in the project",
                    crate::template::DBT_UTILS_TESTS.join(", "),
                    meta.name
                )));
            }
        }
        Some(ns) => {
            return Err(Diagnostic::error(format!(
                "test `{shown}` comes from package `{ns}`, and Silt does not install packages"
            ))
            .with_span(span())
            .with_help(format!(
                "define `{{% test {} %}}` in the project (macros/ or tests/generic/) and use it as `{}`",
                meta.name, meta.name
            )));
        }
    }
    let macro_name = format!("test_{}", meta.name);
    let Some((params, any_keyword)) = templates.macro_params(&macro_name) else {
        let known: Vec<String> = templates
            .macros()
            .filter(|m| m.kind == crate::template::MacroKind::Test)
            .filter_map(|m| m.name.strip_prefix("test_").map(str::to_owned))
            .collect();
        let mut d = Diagnostic::error(format!("unknown data test `{shown}`")).with_span(span());
        d = match did_you_mean(&meta.name, known.iter().map(String::as_str)) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help(
                "define it with `{% test name(model, column_name) %}` in macros/ or tests/generic/",
            ),
        };
        return Err(d);
    };
    for key in meta.kwargs.keys() {
        if any_keyword || params.iter().any(|(p, _)| p == key) {
            continue;
        }
        let d = if key == "column_name" {
            Diagnostic::error(format!(
                "test `{shown}` does not take a column, but it is declared on column `{}`",
                meta.column_name.as_deref().unwrap_or("")
            ))
            .with_help("declare it under the model's own `data_tests:`")
        } else {
            let mut d = Diagnostic::error(format!("test `{shown}` has no argument `{key}`"));
            let names: Vec<&str> = params
                .iter()
                .map(|(p, _)| p.as_str())
                .filter(|p| *p != "model")
                .collect();
            d = match did_you_mean(key, names.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("its arguments are: {}", names.join(", "))),
            };
            d
        };
        let _ = node;
        return Err(d.with_span(argument_span(project, meta, key).unwrap_or_else(span)));
    }
    for (param, has_default) in &params {
        if !has_default && !meta.kwargs.contains_key(param) {
            let d = if param == "column_name" {
                Diagnostic::error(format!(
                    "test `{shown}` tests a column: declare it under a column's `data_tests:`"
                ))
            } else {
                Diagnostic::error(format!("test `{shown}` needs the argument `{param}`"))
            };
            return Err(d.with_span(span()));
        }
    }
    Ok(())
}

/// Where a test's argument `key` is written: beside the test's name, or under `arguments:`.
fn argument_span(
    project: &Project,
    meta: &crate::project::generic_tests::TestMetadata,
    key: &str,
) -> Option<Span> {
    let entry = project.yaml_node(meta.at)?;
    let args = match entry.as_map() {
        Some([only]) => &only.value,
        _ => entry,
    };
    let found = args
        .entry(key)
        .or_else(|| args.get("arguments").and_then(|a| a.entry(key)))?;
    Some(project.yaml_files[meta.at.file].span(found.key_id))
}

/// A render error of a generic test: inside a macro file it points there; otherwise at
/// the test's YAML entry, since the test's own template is generated.
fn test_render_error(
    project: &Project,
    templates: &Templates,
    node: &ProjectNode,
    meta: &crate::project::generic_tests::TestMetadata,
    e: &crate::template::RenderError,
) -> Diagnostic {
    let d = e.to_diagnostic(&node.original_file_path, &node.raw_code, &|f| {
        templates.macro_source(f)
    });
    let in_macro = e
        .template
        .as_deref()
        .is_some_and(|t| t != node.original_file_path);
    let d = Diagnostic {
        message: format!("in test `{}`: {}", node.name, d.message),
        ..d
    };
    if in_macro {
        d.with_note(format!("the test is declared at {}", project.span(meta.at)))
    } else {
        d.with_span(project.span(meta.at))
    }
}

/// Every key of a `config()` call must be one dbt knows for the node's kind (dbt stores
/// unknown keys silently, so a typo such as `unnique_key` would do nothing).
fn check_inline_config_keys(
    project: &Project,
    node: &ProjectNode,
    configs: &[ConfigMap],
) -> Result<(), Diagnostic> {
    let definition = match node.resource_type {
        ResourceType::Model | ResourceType::Analysis => "ModelConfig",
        ResourceType::Seed => "SeedConfig",
        ResourceType::Test => "DataTestConfig",
        ResourceType::Snapshot => "SnapshotConfig",
        _ => return Ok(()),
    };
    let known = crate::settings::schema::config_keys(definition);
    for config in configs {
        for key in config.keys() {
            let plain = key.replace('-', "_");
            if known.iter().any(|k| *k == *key || *k == plain) {
                continue;
            }
            let mut d = config_error(project, node, key, &format!("unknown config key `{key}`"));
            if let Some(s) = did_you_mean(key, known.iter().map(String::as_str)) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            return Err(d);
        }
    }
    Ok(())
}

fn materialization(
    project: &Project,
    node: &ProjectNode,
    config: &ConfigMap,
) -> Result<Materialization, Diagnostic> {
    match node.resource_type {
        ResourceType::Seed => return Ok(Materialization::Seed),
        ResourceType::Test => return Ok(Materialization::Test),
        ResourceType::UnitTest => return Ok(Materialization::UnitTest),
        ResourceType::Analysis => return Ok(Materialization::Analysis),
        _ => {}
    }
    let value = config
        .get("materialized")
        .and_then(Json::as_str)
        .unwrap_or("view");
    Ok(match value {
        "view" => Materialization::View,
        "table" => Materialization::Table,
        "incremental" => Materialization::Incremental,
        "ephemeral" => Materialization::Ephemeral,
        "streaming_table" => Materialization::StreamingTable,
        other => {
            let mut d = config_error(
                project,
                node,
                "materialized",
                &format!("materialization `{other}` is not supported"),
            );
            d = match did_you_mean(other, MODEL_MATERIALIZATIONS.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!(
                    "Silt materializes models as {}",
                    MODEL_MATERIALIZATIONS.join(", ")
                )),
            };
            return Err(d);
        }
    })
}

fn check_config_types(
    project: &Project,
    node: &ProjectNode,
    config: &ConfigMap,
) -> Result<(), Diagnostic> {
    let check_str = |key: &str| -> Result<(), Diagnostic> {
        match config.get(key) {
            None | Some(Json::Null) | Some(Json::String(_)) => Ok(()),
            Some(other) => Err(config_error(
                project,
                node,
                key,
                &format!("`{key}` must be a string, not `{other}`"),
            )),
        }
    };
    for key in [
        "schema",
        "alias",
        "database",
        "incremental_strategy",
        "on_schema_change",
        "materialized",
        "delimiter",
    ] {
        check_str(key)?;
    }
    if let Some(v) = config.get("unique_key") {
        let ok = match v {
            Json::Null | Json::String(_) => true,
            Json::Array(items) => items.iter().all(Json::is_string),
            _ => false,
        };
        if !ok {
            return Err(config_error(
                project,
                node,
                "unique_key",
                "`unique_key` must be a column name or a list of column names",
            ));
        }
    }
    if let Some(v) = config.get("incremental_strategy").and_then(Json::as_str) {
        const STRATEGIES: &[&str] = &["append", "merge", "delete+insert", "insert_overwrite"];
        if !STRATEGIES.contains(&v) {
            let d = config_error(
                project,
                node,
                "incremental_strategy",
                &format!("incremental strategy `{v}` is not supported"),
            )
            .with_help(format!("use one of: {}", STRATEGIES.join(", ")));
            return Err(d);
        }
    }
    if let Some(v) = config.get("on_schema_change").and_then(Json::as_str) {
        const MODES: &[&str] = &["ignore", "fail", "append_new_columns", "sync_all_columns"];
        if !MODES.contains(&v) {
            let mut d = config_error(
                project,
                node,
                "on_schema_change",
                &format!("`on_schema_change: {v}` is not a mode"),
            );
            d = d.with_help(match did_you_mean(v, MODES.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("use one of: {}", MODES.join(", ")),
            });
            return Err(d);
        }
    }
    for key in ["full_refresh", "quote_columns"] {
        match config.get(key) {
            None | Some(Json::Null) => {}
            Some(v) if as_bool(v).is_some() => {}
            Some(other) => {
                return Err(config_error(
                    project,
                    node,
                    key,
                    &format!("`{key}` must be true or false, not `{other}`"),
                ));
            }
        }
    }
    if let Some(v) = config.get("column_types")
        && !matches!(v, Json::Object(_) | Json::Null) {
            return Err(config_error(
                project,
                node,
                "column_types",
                "`column_types` must map column names to types",
            ));
        }
    Ok(())
}

pub use crate::config::as_bool;

/// An error about a config key, pointing at where the node sets it: its own file's
/// `config()` call, else its YAML, else the project file.
pub fn config_error(project: &Project, node: &ProjectNode, key: &str, message: &str) -> Diagnostic {
    let d = Diagnostic::error(format!(
        "{message} (in {} `{}`)",
        node.resource_type.as_str(),
        node.name
    ));
    d.with_span(config_span(project, node, key))
}

/// Where a node's config key is set: its file's `config()` call wins, then its YAML
/// properties, then the project file (the same order as the configs merge).
fn config_span(project: &Project, node: &ProjectNode, key: &str) -> Span {
    let text = &node.raw_code;
    if let Some(pos) = find_config_key(text, key) {
        return Span::from_byte_range(node.original_file_path.clone(), text, pos, pos + key.len());
    }
    if let Some(at) = node.yaml {
        let doc = &project.yaml_files[at.file];
        let entry = project.yaml_node(at).and_then(|item| {
            // A generic test's entry is `- name: {args}`: its configs are one level down.
            let item = match (&node.test, item.as_map()) {
                (Some(_), Some([only])) => &only.value,
                _ => item,
            };
            item.get("config")
                .and_then(|c| c.entry(key))
                .or_else(|| item.entry(key))
        });
        if let Some(e) = entry {
            return doc.span(e.key_id);
        }
    }
    let project_doc = &project.settings.project.doc;
    for spelling in [format!("+{key}:"), format!("{key}:")] {
        if let Some(line) = project_doc
            .source
            .lines()
            .position(|l| l.trim_start().starts_with(&spelling))
        {
            return Span::line(project_doc.file.clone(), &project_doc.source, line + 1);
        }
    }
    match &node.patch_path {
        Some(p) => Span::file(p.split("://").nth(1).unwrap_or(p).to_owned()),
        None => Span::file(node.original_file_path.clone()),
    }
}

/// The position of `key=` inside any `config(...)` call of a file.
fn find_config_key(text: &str, key: &str) -> Option<usize> {
    let mut search = 0;
    while let Some(found) = text[search..].find("config(") {
        let start = search + found;
        if let Some(pos) = find_key_in_call(text, start, key) {
            return Some(pos);
        }
        search = start + "config(".len();
    }
    None
}

fn find_key_in_call(text: &str, start: usize, key: &str) -> Option<usize> {
    let end = text[start..]
        .find(")}}")
        .or_else(|| text[start..].find(") }}"))
        .map_or(text.len(), |e| start + e);
    let region = &text[start..end];
    let mut from = 0;
    while let Some(i) = region[from..].find(key) {
        let at = from + i;
        let before_ok = at == 0
            || !region.as_bytes()[at - 1].is_ascii_alphanumeric()
                && region.as_bytes()[at - 1] != b'_';
        let after = &region[at + key.len()..];
        if before_ok && after.trim_start().starts_with('=') {
            return Some(start + at);
        }
        from = at + key.len();
    }
    None
}

impl Templates {
    /// Whether the project overrides how schemas or aliases are named (so the macros must
    /// run for every node; otherwise Silt applies dbt's defaults directly).
    fn has_macro_override(&self) -> bool {
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

fn name_relation(
    templates: &Templates,
    parsed: &mut ParsedNode,
    project: &Project,
    custom: bool,
) -> Result<(), Diagnostic> {
    let target = &project.settings.target;
    let custom_schema = parsed
        .config
        .get("schema")
        .and_then(Json::as_str)
        .map(str::to_owned);
    let custom_alias = parsed
        .config
        .get("alias")
        .and_then(Json::as_str)
        .map(str::to_owned);
    let (schema, alias) = if custom {
        let node_json = model_json(&parsed.node, &parsed.config, None);
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
    let kind = match parsed.materialized {
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
        .get("database")
        .and_then(Json::as_str)
        .unwrap_or(&target.database)
        .to_owned();
    parsed.relation = Relation::new(&database, &schema, &identifier, kind);
    Ok(())
}

fn resolve_dependencies(
    nodes: &mut [ParsedNode],
    index: &HashMap<String, usize>,
    sources: &[ParsedSource],
    names: &NameIndex,
    diags: &mut Diagnostics,
) {
    let mut enabled: HashMap<String, bool> = nodes
        .iter()
        .map(|n| (n.node.unique_id.clone(), n.enabled))
        .collect();
    for s in sources {
        enabled.insert(s.source.unique_id.clone(), s.enabled);
    }
    // A test of something disabled is disabled with it (dbt does the same, silently).
    for node in nodes.iter_mut() {
        let attached = match (&node.node.test, &node.node.unit) {
            (Some(meta), _) => Some(meta.attached_node.clone()),
            (_, Some(unit)) => names.lookup_ref(None, &unit.model).ok().map(str::to_owned),
            _ => None,
        };
        if let Some(a) = attached
            && !enabled.get(&a).copied().unwrap_or(false) {
                node.enabled = false;
            }
    }
    for node in nodes.iter_mut() {
        if !node.enabled {
            continue;
        }
        let mut deps: Vec<String> = Vec::new();
        if let Some(unit) = &node.node.unit
            && let Ok(id) = names.lookup_ref(None, &unit.model) {
                deps.push(id.to_owned());
            }
        for r in &node.refs {
            // The parse render already rejected unknown names.
            let Ok(id) = names.lookup_ref(r.package.as_deref(), &r.name) else {
                continue;
            };
            if !enabled.get(id).copied().unwrap_or(false) || !index.contains_key(id) {
                diags.push(
                    Diagnostic::error(format!(
                        "`{}` refers to `{}`, which is disabled",
                        node.node.name, r.name
                    ))
                    .with_span(call_span(&node.node, &r.name)),
                );
                continue;
            }
            if !deps.iter().any(|d| d == id) {
                deps.push(id.to_owned());
            }
        }
        for (s, t) in &node.sources {
            let Ok(id) = names.lookup_source(s, t) else {
                continue;
            };
            if sources
                .iter()
                .any(|src| src.source.unique_id == id && !src.enabled)
            {
                diags.push(
                    Diagnostic::error(format!(
                        "`{}` reads source `{s}.{t}`, which is disabled",
                        node.node.name
                    ))
                    .with_span(call_span(&node.node, t)),
                );
                continue;
            }
            if !deps.iter().any(|d| d == id) {
                deps.push(id.to_owned());
            }
        }
        node.depends_on = deps;
    }
}

/// Where a node's file mentions `name` inside a `ref(`/`source(` call, for errors found
/// after rendering.
pub fn call_span(node: &ProjectNode, name: &str) -> Span {
    let text = &node.raw_code;
    for call in ["ref(", "source("] {
        let mut from = 0;
        while let Some(i) = text[from..].find(call) {
            let start = from + i;
            let end = text[start..]
                .find(')')
                .map_or(text.len(), |e| start + e + 1);
            if text[start..end].contains(&format!("'{name}'"))
                || text[start..end].contains(&format!("\"{name}\""))
            {
                return Span::from_byte_range(node.original_file_path.clone(), text, start, end);
            }
            from = end.max(start + 1);
        }
    }
    Span::file(node.original_file_path.clone())
}

fn check_relation_clashes(nodes: &[ParsedNode], diags: &mut Diagnostics) {
    let mut seen: HashMap<(String, String), &ParsedNode> = HashMap::new();
    for n in nodes.iter().filter(|n| {
        n.enabled && n.materialized.writes_table()
            || n.enabled && n.materialized == Materialization::View
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
