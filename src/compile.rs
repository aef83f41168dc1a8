//! The compile stage: each selected node rendered again with every `ref` and `source`
//! resolved to its relation, ephemeral models spliced in as CTEs, the result checked to be
//! one query. Synchronous and without DataFusion: what the warehouse holds (for
//! `is_incremental()`) comes in as a set of existing relations. It writes nothing (the
//! report stage writes `target/compiled/`), but it reads what is there, to skip checking
//! SQL that is unchanged since it was last checked.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde_json::Value as Json;

use crate::diagnostic::{Diagnostic, Span};
use crate::par::map as parallel_map;
use crate::parse::{Materialization, NameIndex, ParsedNode, ParsedProject, model_json};
use crate::relation::Relation;
use crate::template::warehouse::Warehouse;
use crate::template::{NodeContext, Phase, ResolveError, Resolver};

/// What the compile stage needs to know besides the project.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// `--full-refresh`.
    pub full_refresh: bool,
    /// Relations that exist in the warehouse, as `schema.identifier`.
    pub existing: HashSet<String>,
    /// `--empty`: every `ref` and `source` renders as a subquery with no rows.
    pub empty: bool,
    /// The warehouse `run_query` and `adapter.get_relation` ask; without one they fail.
    pub warehouse: Option<Arc<dyn Warehouse>>,
}

/// A node's SQL, ready to run.
#[derive(Debug, Clone)]
pub struct CompiledNode {
    pub unique_id: String,
    /// The SQL to run: the render with ephemeral CTEs spliced in.
    pub sql: String,
    /// The render alone, without CTEs (what an ephemeral contributes to others).
    pub rendered: String,
    /// `(unique id, " __dbt__cte__x as (\n...\n)")` for each ephemeral spliced in.
    pub extra_ctes: Vec<(String, String)>,
    /// Whether `is_incremental()` was true for this render.
    pub is_incremental: bool,
    /// Whether the render (or an ephemeral it inlines) asked the warehouse: the node is
    /// rendered again when it runs, once what it asks about is built.
    pub queried: bool,
    /// `target/compiled/<project>/<original_file_path>`, relative to the project root.
    pub compiled_path: String,
    /// Whether that file already holds exactly this SQL (nothing to write).
    pub on_disk: bool,
}

/// What a unit test changes in how its model renders (`overrides:` in its YAML).
#[derive(Debug, Clone, Default)]
pub struct RenderOverrides {
    pub vars: serde_json::Map<String, Json>,
    /// Macro name (without namespace) -> the value it returns.
    pub macros: serde_json::Map<String, Json>,
    pub env_vars: serde_json::Map<String, Json>,
    /// `is_incremental()`, when the test sets it.
    pub is_incremental: Option<bool>,
}

/// Compiles one model as a unit test renders it: with the test's overrides, and
/// `is_incremental()` false unless the test says otherwise.
pub fn compile_with_overrides(
    parsed: &ParsedProject,
    id: &str,
    overrides: RenderOverrides,
) -> Result<CompiledNode, Diagnostic> {
    let opts = CompileOptions::default();
    let mut compiler = Compiler::new(parsed, &opts);
    compiler.overrides = Some(overrides);
    let node = parsed
        .node(id)
        .ok_or_else(|| Diagnostic::error(format!("unknown node `{id}` (this is a bug)")))?;
    compiler.assemble(node)
}

/// Compiles the nodes `ids` (and the ephemerals they need). Every node gets a result.
pub fn compile(
    parsed: &ParsedProject,
    ids: &[String],
    opts: &CompileOptions,
) -> BTreeMap<String, Result<CompiledNode, Diagnostic>> {
    let compiler = Compiler::new(parsed, opts);
    let results = parallel_map(ids, |id| (id.clone(), compiler.compile_node(id)));
    results.into_iter().collect()
}

impl<'a> Compiler<'a> {
    fn new(parsed: &'a ParsedProject, opts: &'a CompileOptions) -> Compiler<'a> {
        Compiler {
            parsed,
            opts,
            names: parsed.names.clone(),
            relations: parsed.relations(),
            ephemerals: Mutex::new(HashMap::new()),
            overrides: None,
        }
    }
}

/// An ephemeral's render, the CTEs it needs, and whether any of them asked the warehouse.
type EphemeralResult = Result<(String, Vec<(String, String)>, bool), Diagnostic>;

/// A node's render: its SQL, the ephemerals it reads, `is_incremental()`, and whether it
/// asked the warehouse.
struct Rendered {
    sql: String,
    ephemerals: Vec<String>,
    is_incremental: bool,
    queried: bool,
}

struct Compiler<'a> {
    parsed: &'a ParsedProject,
    opts: &'a CompileOptions,
    names: NameIndex,
    /// Every enabled node's and source's relation.
    relations: Arc<HashMap<String, Relation>>,
    /// Ephemeral renders, shared by every node that needs them.
    ephemerals: Mutex<HashMap<String, EphemeralResult>>,
    /// A unit test's overrides, applied to every render.
    overrides: Option<RenderOverrides>,
}

struct CompileResolver {
    names: NameIndex,
    relations: Arc<HashMap<String, Relation>>,
    /// The node rendering and what its parse found it depends on: a `ref` to anything else
    /// is an error, as in dbt (the graph would not order them).
    node: Option<(String, HashSet<String>)>,
}

impl Resolver for CompileResolver {
    fn resolve_ref(
        &self,
        from: &str,
        package: Option<&str>,
        name: &str,
        _version: Option<&str>,
    ) -> Result<Relation, ResolveError> {
        let id = self.names.lookup_ref(from, package, name)?;
        if let Some((node, depends_on)) = &self.node
            && !depends_on.contains(id)
        {
            return Err(ResolveError::NotADependency { node: node.clone(), name: name.to_owned() });
        }
        self.relations
            .get(id)
            .cloned()
            .ok_or_else(|| ResolveError::DisabledModel(name.to_owned()))
    }

    fn resolve_source(&self, from: &str, source: &str, table: &str) -> Result<Relation, ResolveError> {
        let id = self.names.lookup_source(from, source, table)?;
        self.relations
            .get(id)
            .cloned()
            .ok_or_else(|| ResolveError::DisabledSource { source_name: source.to_owned(), table: table.to_owned() })
    }
}

impl Compiler<'_> {
    /// Renders a node with relations resolved; returns the SQL and the ephemerals it read.
    fn render(&self, node: &ParsedNode) -> Result<Rendered, Diagnostic> {
        if let Some(e) = &node.error {
            return Err(e.clone());
        }
        let templates = &self.parsed.templates;
        let is_incremental = node.config.materialized == Materialization::Incremental
            && self.opts.existing.contains(&node.relation.key())
            && !node.config.refreshes_fully(self.opts.full_refresh);
        let ctx = self.context(node, is_incremental);
        let is_incremental = ctx.is_incremental;
        let ctx = Arc::new(ctx);
        let rendered = match &node.node.test {
            Some(meta) => templates.render_test(
                &node.node.original_file_path,
                &meta.call(),
                ctx.clone(),
                &meta.kwargs,
            ),
            None => templates.render(
                &node.node.original_file_path,
                &node.node.raw_code,
                Some(ctx.clone()),
            ),
        };
        let sql = rendered.map_err(|e| {
            let d = e.to_diagnostic(&node.node.original_file_path, &node.node.raw_code, &|f| {
                templates.macro_source(f)
            });
            match &node.node.test {
                // The test's own template is generated: point at its YAML entry.
                Some(meta) if e.template.as_deref().is_none_or(|t| t == node.node.original_file_path) => {
                    d.with_span(self.parsed.project.span(meta.at))
                }
                _ => d,
            }
        })?;
        let captured = ctx.take_captured();
        let queried = captured.queried;
        let mut ephemerals = Vec::new();
        for r in &captured.refs {
            if let Ok(id) = self.names.lookup_ref(&node.node.package, r.package.as_deref(), &r.name)
                && self
                    .parsed
                    .node(id)
                    .is_some_and(|n| n.config.materialized == Materialization::Ephemeral)
                    && !ephemerals.iter().any(|e| e == id)
                {
                    ephemerals.push(id.to_owned());
                }
        }
        Ok(Rendered { sql, ephemerals, is_incremental, queried })
    }

    /// The context a node renders in.
    fn context(&self, node: &ParsedNode, is_incremental: bool) -> NodeContext {
        let checked = node.error.is_none() && !node.node.unique_id.starts_with("sql_operation.");
        let resolver = Arc::new(CompileResolver {
            names: self.names.clone(),
            relations: self.relations.clone(),
            node: checked.then(|| (node.node.name.clone(), node.depends_on.iter().cloned().collect())),
        });
        let mut ctx = NodeContext::new(Phase::Compile, resolver);
        ctx.is_incremental = is_incremental;
        ctx.empty = self.opts.empty;
        if let Some(o) = &self.overrides {
            ctx.is_incremental = o.is_incremental.unwrap_or(false)
                && node.config.materialized == Materialization::Incremental;
            ctx.var_overrides = Some(o.vars.clone());
            ctx.macro_overrides = Some(o.macros.clone());
            ctx.env_overrides = Some(o.env_vars.clone());
        }
        ctx.this = Some(node.relation.clone());
        ctx.config = node.config.raw.clone();
        ctx.model = model_json(&node.node, &node.config.raw, Some(&node.relation));
        ctx.warehouse = self.opts.warehouse.clone();
        ctx
    }

    /// The CTEs a node needs, dependencies first, without duplicates (dbt's
    /// `_recursively_prepend_ctes`).
    fn ctes_for(
        &self,
        ephemerals: &[String],
        stack: &mut Vec<String>,
    ) -> Result<(Vec<(String, String)>, bool), Diagnostic> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut queried = false;
        for id in ephemerals {
            if stack.contains(id) {
                // The graph stage rejects cycles; this guards the recursion regardless.
                return Err(Diagnostic::error(format!(
                    "ephemeral model `{id}` depends on itself"
                )));
            }
            let (rendered, nested, asked) = self.ephemeral(id, stack)?;
            queried |= asked;
            for (nid, sql) in nested {
                if !out.iter().any(|(o, _)| *o == nid) {
                    out.push((nid, sql));
                }
            }
            if !out.iter().any(|(o, _)| o == id) {
                let name = self
                    .parsed
                    .node(id)
                    .map_or_else(|| id.clone(), |n| n.relation.identifier.clone());
                out.push((id.clone(), format!(" {name} as (\n{rendered}\n)")));
            }
        }
        Ok((out, queried))
    }

    fn ephemeral(&self, id: &str, stack: &mut Vec<String>) -> EphemeralResult {
        if let Some(done) = self
            .ephemerals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
        {
            return done.clone();
        }
        let node = self
            .parsed
            .node(id)
            .ok_or_else(|| Diagnostic::error(format!("unknown node `{id}` (this is a bug)")))?;
        stack.push(id.to_owned());
        let result = self.render(node).and_then(|r| {
            let (ctes, asked) = self.ctes_for(&r.ephemerals, stack)?;
            Ok((r.sql, ctes, r.queried || asked))
        });
        stack.pop();
        let result = result.map_err(|d| {
            Diagnostic::error(format!(
                "ephemeral model `{}` failed to compile: {}",
                node.node.name, d.message
            ))
            .with_span_opt(d.span.clone())
            .with_help_opt(d.help.clone())
        });
        self.ephemerals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_owned(), result.clone());
        result
    }

    fn compile_node(&self, id: &str) -> Result<CompiledNode, Diagnostic> {
        let node = self
            .parsed
            .node(id)
            .ok_or_else(|| Diagnostic::error(format!("unknown node `{id}` (this is a bug)")))?;
        let compiled = self.assemble(node)?;
        let sql = &compiled.sql;
        let compiled_path = format!(
            "{}/compiled/{}/{}",
            self.parsed.project.settings.project.target_path,
            node.node.package,
            node.node.compiled_rel_path()
        );
        // Only SQL that passed this check is written to target/compiled/, so SQL identical
        // to what is there passed it before: skip parsing it again (the slowest part of
        // compiling an unchanged large project).
        let unchanged = std::fs::read(self.parsed.project.settings.root.join(&compiled_path)).is_ok_and(|old| old == sql.as_bytes());
        if node.config.materialized != Materialization::Seed && !unchanged
            && let Err(e) = crate::sql::check_query(sql) {
                let span = match (e.line, e.column) {
                    (Some(l), Some(c)) => Span::at(compiled_path.clone(), sql, l, c, 1),
                    (Some(l), None) => Span::line(compiled_path.clone(), sql, l),
                    _ => Span::file(node.node.original_file_path.clone()),
                };
                return Err(Diagnostic::error(format!(
                    "SQL syntax error in {} `{}`: {}",
                    node.node.resource_type.as_str(),
                    node.node.name,
                    e.message
                ))
                .with_span(span)
                .with_note(format!(
                    "in the compiled SQL of {}",
                    node.node.original_file_path
                )));
            }
        Ok(CompiledNode {
            compiled_path,
            on_disk: unchanged,
            ..compiled
        })
    }

    /// A node's SQL: its render, with the ephemerals it reads spliced in as CTEs.
    fn assemble(&self, node: &ParsedNode) -> Result<CompiledNode, Diagnostic> {
        let id = &node.node.unique_id;
        let Rendered { sql: rendered, ephemerals, is_incremental, queried } = self.render(node)?;
        let (extra_ctes, asked) = self.ctes_for(&ephemerals, &mut vec![id.clone()])?;
        let cte_sql: Vec<String> = extra_ctes.iter().map(|(_, s)| s.clone()).collect();
        let sql = crate::sql::inject_ctes(&rendered, &cte_sql);
        Ok(CompiledNode {
            unique_id: id.clone(),
            sql,
            rendered,
            extra_ctes,
            is_incremental,
            queried: queried || asked,
            compiled_path: String::new(),
            on_disk: false,
        })
    }
}

/// A node's hooks, rendered as they run (in the worker `thread`, after the node's own SQL
/// was compiled with `is_incremental`), in dbt's order: pre-hooks outside the
/// transaction, then inside it; post-hooks inside, then outside. Hooks that render to
/// nothing are left out, as dbt's `run_hooks` does.
pub fn render_hooks(
    parsed: &ParsedProject,
    node: &ParsedNode,
    is_incremental: bool,
    thread: &str,
    warehouse: Option<Arc<dyn Warehouse>>,
) -> Result<RenderedHooks, Diagnostic> {
    let mut out = RenderedHooks::default();
    if node.config.pre_hook.is_empty() && node.config.post_hook.is_empty() {
        return Ok(out);
    }
    let opts = CompileOptions {
        warehouse,
        ..Default::default()
    };
    let compiler = Compiler::new(parsed, &opts);
    let templates = &parsed.templates;
    let render = |kind: &str, hook: &crate::parse::Hook| -> Result<Option<String>, Diagnostic> {
        let mut ctx = compiler.context(node, is_incremental);
        ctx.thread_id = Some(thread.to_owned());
        let name = format!("{} ({kind})", node.node.original_file_path);
        let sql = templates.render(&name, &hook.sql, Some(Arc::new(ctx))).map_err(|e| {
            let d = e.to_diagnostic(&name, &hook.sql, &|f| templates.macro_source(f));
            Diagnostic::error(format!("in a {kind} of `{}`: {}", node.node.name, d.message))
                .with_span_opt(d.span.clone())
                .with_help_opt(d.help.clone())
        })?;
        let sql = sql.trim();
        Ok((!sql.is_empty()).then(|| sql.to_owned()))
    };
    let (pre, post) = (&node.config.pre_hook, &node.config.post_hook);
    for hook in pre.iter().filter(|h| !h.transaction).chain(pre.iter().filter(|h| h.transaction)) {
        out.pre.extend(render("pre-hook", hook)?);
    }
    for hook in post.iter().filter(|h| h.transaction).chain(post.iter().filter(|h| !h.transaction)) {
        out.post.extend(render("post-hook", hook)?);
    }
    Ok(out)
}

/// An `on-run-start` or `on-run-end` hook of `package`, rendered to run (`extra` adds
/// `results`, `schemas` and `database_schemas` at the end of a run). `name` names it in
/// errors.
pub fn render_run_hook(
    parsed: &ParsedProject,
    package: &str,
    name: &str,
    sql: &str,
    extra: Vec<(&'static str, Json)>,
    warehouse: Option<Arc<dyn Warehouse>>,
) -> Result<String, Diagnostic> {
    let opts = CompileOptions {
        warehouse: warehouse.clone(),
        ..Default::default()
    };
    let compiler = Compiler::new(parsed, &opts);
    let resolver = Arc::new(CompileResolver {
        names: compiler.names.clone(),
        relations: compiler.relations.clone(),
        node: None,
    });
    let mut ctx = NodeContext::new(Phase::Compile, resolver);
    ctx.model = serde_json::json!({"package_name": package, "name": name, "resource_type": "operation"});
    ctx.extra = extra;
    ctx.warehouse = warehouse;
    let templates = &parsed.templates;
    let rendered = templates.render(name, sql, Some(Arc::new(ctx))).map_err(|e| {
        let d = e.to_diagnostic(name, sql, &|f| templates.macro_source(f));
        Diagnostic::error(format!("in hook {name}: {}", d.message))
            .with_span_opt(d.span.clone())
            .with_help_opt(d.help.clone())
    })?;
    Ok(rendered.trim().to_owned())
}

/// A node's hooks as SQL to run.
#[derive(Debug, Clone, Default)]
pub struct RenderedHooks {
    pub pre: Vec<String>,
    pub post: Vec<String>,
}

/// Compiles SQL given on the command line (`--inline`) as if it were a model named
/// `inline_query`.
pub fn compile_inline(
    parsed: &ParsedProject,
    sql: &str,
    opts: &CompileOptions,
) -> Result<CompiledNode, Diagnostic> {
    let project = &parsed.project.settings.project;
    let node = crate::project::ProjectNode {
        unique_id: format!("sql_operation.{}.inline_query", project.name),
        resource_type: crate::project::ResourceType::Model,
        name: "inline_query".into(),
        package: project.name.clone(),
        path: "inline_query.sql".into(),
        original_file_path: "<inline>".into(),
        fqn: vec![project.name.clone(), "inline_query".into()],
        raw_code: Arc::from(sql),
        ..Default::default()
    };
    let parsed_node = ParsedNode {
        config: Default::default(),
        relation: Relation::new(
            &parsed.project.settings.target.database,
            &parsed.project.settings.target.schema,
            "inline_query",
            crate::relation::RelationKind::View,
        ),
        refs: Vec::new(),
        sources: Vec::new(),
        depends_on: Vec::new(),
        macros: Vec::new(),
        node,
        error: None,
    };
    Compiler::new(parsed, opts).assemble(&parsed_node)
}
