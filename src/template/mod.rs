//! Jinja as dbt users write it, on minijinja: the one module that uses minijinja.
//!
//! A [`Templates`] holds the environment for one project: the project's macros (callable
//! from any template by name, as in dbt), Silt's built-in `dbt.*` macros, and the globals
//! every template sees (`var`, `env_var`, `target`, `log`, `return`, `exceptions`,
//! `adapter`...). Each model, test or YAML value is rendered with a [`NodeContext`] that
//! provides what depends on the node (`ref`, `source`, `config`, `this`, `is_incremental`)
//! and captures what the render revealed: the refs, sources and macros it used and the
//! configs it set. Nodes render twice, as in dbt: in the parse phase to learn their
//! dependencies and configs, then in the compile phase with every relation resolved.
//!
//! Undefined names are errors (minijinja's strict mode), not empty strings.

mod datetime;
pub use datetime::python_timestamp_text;
mod macros;
mod modules;
mod mutable;
mod objects;
mod relation;
pub mod warehouse;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use minijinja::value::{Kwargs, Object, ObjectRepr, Rest, Value};
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior};
use serde_json::Value as Json;

use crate::config::{ConfigMap, merge_into};
use crate::diagnostic::{Diagnostic, Span, did_you_mean};
pub use macros::{MacroDef, MacroKind, scan_macros};
use objects::{AdapterObject, ConfigObject, Exceptions, Namespace};
use crate::relation::Relation;
#[cfg(test)]
use crate::relation::RelationKind;

/// The tests of dbt_utils that Silt has built in (as `test_<name>` macros).
pub const DBT_UTILS_TESTS: &[&str] = &[
    "accepted_range",
    "expression_is_true",
    "unique_combination_of_columns",
    "not_empty",
    "recency",
    "not_empty_string",
    "at_least_one",
    "not_constant",
    "not_accepted_values",
    "not_null_proportion",
];

/// Which of dbt's two rendering passes is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Learning dependencies and configs: `execute` is false, `is_incremental()` false.
    Parse,
    /// Producing SQL: every relation resolves to its real name.
    Compile,
}

/// Answers `ref` and `source` for one node.
pub trait Resolver: Send + Sync {
    /// `ref(name)`, `ref(package, name)`, `ref(name, version=v)` in a node of package `from`.
    fn resolve_ref(
        &self,
        from: &str,
        package: Option<&str>,
        name: &str,
        version: Option<&str>,
    ) -> Result<Relation, ResolveError>;
    /// `source(source_name, table_name)` in a node of package `from`.
    fn resolve_source(&self, from: &str, source: &str, table: &str) -> Result<Relation, ResolveError>;
}

/// Why a `ref` or `source` call names nothing it can read; the message suggests the
/// nearest name where there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("`ref('{package}', '{name}')` points into package `{package}`, which is not installed (declare it in packages.yml and run `silt deps`)")]
    Package { package: String, name: String },
    #[error("`ref` to unknown model `{name}`{}", suggest(.suggestion))]
    UnknownModel { name: String, suggestion: Option<String> },
    #[error("source `{source_name}` has no table `{table}`{}", suggest(.suggestion))]
    UnknownTable { source_name: String, table: String, suggestion: Option<String> },
    #[error("`source` to unknown source `{source_name}`{}", suggest(.suggestion))]
    UnknownSource { source_name: String, suggestion: Option<String> },
    #[error("`{0}` is disabled")]
    DisabledModel(String),
    #[error("source `{source_name}.{table}` is disabled")]
    DisabledSource { source_name: String, table: String },
    #[error("Silt was unable to infer all dependencies for the model \"{node}\": it refs `{name}` only where its parse did not see it (this typically happens when ref() is placed within a conditional block, or in a `statement` block, which only runs while executing). To fix this, add the following hint to the top of the model \"{node}\":\n\n-- depends_on: {{{{ ref('{name}') }}}}")]
    NotADependency { node: String, name: String },
}

fn suggest(suggestion: &Option<String>) -> String {
    suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default()
}

/// One `ref` call as written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RefCall {
    pub package: Option<String>,
    pub name: String,
    pub version: Option<String>,
}

/// What one render revealed about its node.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    pub refs: Vec<RefCall>,
    pub sources: Vec<(String, String)>,
    /// Each `config(...)` call's arguments, in call order.
    pub configs: Vec<ConfigMap>,
    /// Every macro called, directly or not (by its full name).
    pub macros: BTreeSet<String>,
    /// Whether the render asked the warehouse anything (`run_query`, `get_relation`...):
    /// such a node is rendered again just before it runs, when what it asks has been built.
    pub queried: bool,
}

/// The node-specific part of a render.
pub struct NodeContext {
    pub phase: Phase,
    pub resolver: Arc<dyn Resolver>,
    /// The node's own relation (`this`); none for nodes that have no relation.
    pub this: Option<Relation>,
    pub is_incremental: bool,
    /// `--empty`: `ref` and `source` give relations that read no rows.
    pub empty: bool,
    /// The node's config from the project file and its YAML, under any inline `config()`.
    pub config: ConfigMap,
    /// The `model` variable: the node as a dict (name, unique_id, path, config...).
    pub model: Json,
    /// Variables that override the project's for this render (unit test `overrides`).
    pub var_overrides: Option<serde_json::Map<String, Json>>,
    /// Macros whose result is fixed for this render (unit test `overrides.macros`).
    pub macro_overrides: Option<serde_json::Map<String, Json>>,
    /// Environment variables that override the process's (unit test `overrides.env_vars`).
    pub env_overrides: Option<serde_json::Map<String, Json>>,
    pub captured: Mutex<Captured>,
    /// The worker thread a hook runs in (`thread_id`), when rendered to run.
    pub thread_id: Option<String>,
    /// More variables for this render (`results`, `schemas` in `on-run-end`).
    pub extra: Vec<(&'static str, Json)>,
    /// The warehouse that `run_query` and `adapter.get_relation` ask, when one is open.
    pub warehouse: Option<Arc<dyn warehouse::Warehouse>>,
    /// What `statement(name)` blocks stored, for `load_result(name)`.
    pub results: Mutex<std::collections::HashMap<String, Value>>,
    /// The render context built for this node, reused by every macro call of one render
    /// (cleared when the render ends: it holds the node, so keeping it would be a cycle).
    context_cache: Mutex<Option<Value>>,
}

impl NodeContext {
    pub fn new(phase: Phase, resolver: Arc<dyn Resolver>) -> NodeContext {
        NodeContext {
            phase,
            resolver,
            this: None,
            is_incremental: false,
            empty: false,
            config: ConfigMap::new(),
            model: Json::Null,
            var_overrides: None,
            macro_overrides: None,
            env_overrides: None,
            captured: Mutex::new(Captured::default()),
            thread_id: None,
            extra: Vec::new(),
            warehouse: None,
            results: Mutex::new(std::collections::HashMap::new()),
            context_cache: Mutex::new(None),
        }
    }

    /// The project the node belongs to (the root project, or an installed package): where
    /// its unqualified macro names and its `var()`s are looked up first.
    pub fn package<'a>(&'a self, globals: &'a Globals) -> &'a str {
        self.model.get("package_name").and_then(Json::as_str).unwrap_or(&globals.project_name)
    }

    /// What was captured, leaving the context empty.
    pub fn take_captured(&self) -> Captured {
        std::mem::take(&mut *self.captured.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn capture(&self) -> std::sync::MutexGuard<'_, Captured> {
        self.captured.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The config as the node sees it so far: file and YAML configs under inline calls.
    fn effective_config(&self) -> ConfigMap {
        let mut config = self.config.clone();
        for c in &self.capture().configs {
            merge_into(&mut config, c);
        }
        config
    }
}

/// Project-wide values every template sees.
#[derive(Debug, Clone)]
pub struct Globals {
    pub project_name: String,
    /// The installed packages' names: each is a macro namespace (`dbt_utils.star`).
    pub packages: Vec<String>,
    /// The project's `dispatch:` search orders: macro namespace -> packages to search.
    pub dispatch: Vec<(String, Vec<String>)>,
    /// `target`: name, schema, type, threads, profile_name, database...
    pub target: Json,
    pub vars: Vars,
    pub invocation_id: String,
    pub run_started_at: chrono::DateTime<chrono::Utc>,
    /// `flags`: FULL_REFRESH, WHICH...
    pub flags: Json,
}

/// Variables: `--vars` over the project's, with project-scoped blocks (`vars: {proj: {...}}`).
#[derive(Debug, Clone, Default)]
pub struct Vars {
    pub cli: serde_json::Map<String, Json>,
    /// The root project's `vars`.
    pub project: serde_json::Map<String, Json>,
    /// Each installed package's own `vars`, by package name.
    pub packages: BTreeMap<String, serde_json::Map<String, Json>>,
}

impl Vars {
    /// Looks a variable up as dbt does for a node of `package`: `--vars`, then the root
    /// project's vars (scoped to the package, then global), then the package's own
    /// (scoped, then global).
    pub fn get(&self, package: &str, name: &str) -> Option<Json> {
        if let Some(v) = self.cli.get(name) {
            return Some(v.clone());
        }
        let in_project = |vars: &serde_json::Map<String, Json>| -> Option<Json> {
            if let Some(Json::Object(scoped)) = vars.get(package)
                && let Some(v) = scoped.get(name)
            {
                return Some(v.clone());
            }
            vars.get(name).cloned()
        };
        in_project(&self.project).or_else(|| self.packages.get(package).and_then(in_project))
    }

    /// Every variable visible to `package`, for error messages.
    pub fn visible(&self, package: &str) -> BTreeMap<String, Json> {
        let mut out: BTreeMap<String, Json> = BTreeMap::new();
        let mut add = |vars: &serde_json::Map<String, Json>| {
            for (k, v) in vars {
                if k != package {
                    out.insert(k.clone(), v.clone());
                }
            }
            if let Some(Json::Object(scoped)) = vars.get(package) {
                out.extend(scoped.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        };
        // Lowest precedence first: the package's own, then the root project's.
        if let Some(own) = self.packages.get(package) {
            add(own);
        }
        add(&self.project);
        out.extend(self.cli.iter().map(|(k, v)| (k.clone(), v.clone())));
        out
    }
}

/// A render that failed, with the place in the template (or its macro) at fault.
#[derive(Debug, Clone)]
pub struct RenderError {
    pub message: String,
    /// The template's name (a project file path) and the byte range, when known.
    pub template: Option<String>,
    pub line: Option<usize>,
    pub range: Option<std::ops::Range<usize>>,
    pub help: Option<String>,
}

impl RenderError {
    /// A diagnostic pointing into `source`, the text of the template the error is in
    /// (found through `sources` when the error is inside a macro file).
    pub fn to_diagnostic(
        &self,
        file: &str,
        source: &str,
        sources: &dyn Fn(&str) -> Option<Arc<str>>,
    ) -> Diagnostic {
        let (file, text): (String, Arc<str>) = match &self.template {
            Some(t) if t != file => match sources(t) {
                Some(text) => (t.clone(), text),
                None => (t.clone(), Arc::from("")),
            },
            _ => (file.to_owned(), Arc::from(source)),
        };
        let span = match (&self.range, self.line) {
            (Some(r), _) if r.end <= text.len() && !text.is_empty() => {
                Span::from_byte_range(file, &text, r.start, r.end)
            }
            (_, Some(line)) if !text.is_empty() => Span::line(file, &text, line),
            (_, Some(line)) => Span {
                line,
                column: 1,
                ..Span::file(file)
            },
            _ => Span::file(file),
        };
        let mut d = Diagnostic::error(self.message.clone()).with_span(span);
        if let Some(h) = &self.help {
            d = d.with_help(h.clone());
        }
        d
    }
}

/// The Jinja environment of one project.
pub struct Templates {
    env: Environment<'static>,
    globals: Arc<Globals>,
    macros: Arc<macros::MacroIndex>,
}

impl Templates {
    /// Builds the environment with the project's macros (already read from macro-paths)
    /// and Silt's built-in ones.
    /// `project_macros` are the macro files of the root project and of installed packages,
    /// as (display path, text, package).
    pub fn new(
        globals: Globals,
        project_macros: Vec<(String, String, String)>,
    ) -> Result<Templates, Vec<Diagnostic>> {
        let globals = Arc::new(globals);
        let mut env = Environment::new();
        // Node files are compiled on each render: caching 10,000 compiled templates cost
        // more in memory (and page faults) than compiling twice (see BENCHMARKS.md).
        // dbt renders with Jinja's default `Undefined`: a name never set prints as nothing,
        // iterates as empty and is false (dbt_utils' tests print variables they set only
        // under an `if`); reading an attribute of it or calling it is an error.
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.set_recursion_limit(500);
        // Debug mode would keep every template's source for error messages; Silt has the
        // sources itself (see `convert_error`), and rendering is faster without it.
        env.set_debug(false);
        env.set_unknown_method_callback(objects::python_methods);
        mutable::install(&mut env);
        datetime::install(&mut env);
        let macros = Arc::new(macros::MacroIndex::build(
            &globals,
            project_macros,
            &mut env,
        )?);
        macros.install(&mut env);
        install_globals(&mut env, &globals, &macros);
        macros.reserve(&env);
        Ok(Templates {
            env,
            globals,
            macros,
        })
    }

    pub fn globals(&self) -> &Globals {
        &self.globals
    }

    /// Every macro known, project ones first.
    pub fn macros(&self) -> impl Iterator<Item = &MacroDef> {
        self.macros.all()
    }

    /// The text of a macro file, for diagnostics inside macros.
    pub fn macro_source(&self, file: &str) -> Option<Arc<str>> {
        self.macros.source(file)
    }

    /// Whether a macro of this name exists (project or built in).
    pub fn has_macro(&self, name: &str) -> bool {
        self.macros.find(name).is_some()
    }

    /// Renders `source` (the file `name`) for a node.
    pub fn render(
        &self,
        name: &str,
        source: &str,
        node: Option<Arc<NodeContext>>,
    ) -> Result<String, RenderError> {
        let ctx = self.context(node.clone());
        let (text, points) = mutable::rewrite(source);
        let result = self.env.render_named_str(name, &text, ctx);
        if let Some(node) = node {
            node.context_cache.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
        result.map_err(|e| {
            convert_error_in(&e, name, &points, &|t| if t == name { Some(Arc::from(source)) } else { self.macros.source(t) })
        })
    }

    /// Renders a generic test node: `raw_code` calls the test's macro with
    /// `**_dbt_generic_test_kwargs`, the test's arguments rendered in the node's context as
    /// dbt renders them (`add_rendered_test_kwargs`): each string is a template, one that
    /// looks like `ref(...)`, `source(...)`, `var(...)`, `env_var(...)` or `doc(...)` is an
    /// expression, and a template that is one expression keeps its value (a relation stays
    /// a relation). `column_name` is passed as written.
    pub fn render_test(
        &self,
        name: &str,
        raw_code: &str,
        node: Arc<NodeContext>,
        kwargs: &serde_json::Map<String, Json>,
    ) -> Result<String, RenderError> {
        let mut ctx = self.context_map(Some(node.clone()));
        let base = Value::from(ctx.clone());
        let mut rendered: BTreeMap<String, Value> = BTreeMap::new();
        for (key, value) in kwargs {
            let v = if key == "column_name" {
                Value::from(minijinja::value::Serde(value.clone()))
            } else {
                self.native_value(value, &base)
                    .map_err(|e| convert_error(&e, name, &|t| self.macros.source(t)))
                    .map_err(|mut e| {
                        e.message = format!("in test argument `{key}`: {}", e.message);
                        e
                    })?
            };
            rendered.insert(key.clone(), v);
        }
        ctx.insert("_dbt_generic_test_kwargs", Value::from(rendered));
        let result = self.env.render_named_str(name, raw_code, Value::from(ctx));
        node.context_cache.lock().unwrap_or_else(|e| e.into_inner()).take();
        result.map_err(|e| convert_error(&e, name, &|t| self.macros.source(t)))
    }

    fn native_value(&self, value: &Json, ctx: &Value) -> Result<Value, Error> {
        match value {
            Json::String(s) => {
                let text = if looks_like_call(s) {
                    format!("{{{{ {s} }}}}")
                } else {
                    s.clone()
                };
                if let Some(expr) = single_expression(&text) {
                    let (expr, _) = mutable::rewrite_expr(expr);
                    let compiled = self.env.compile_expression(&expr)?;
                    return compiled.eval(ctx.clone());
                }
                if text.contains("{{") || text.contains("{%") {
                    return self.env.render_str(&mutable::rewrite(&text).0, ctx.clone()).map(Value::from);
                }
                Ok(Value::from(text))
            }
            Json::Array(items) => Ok(Value::from(
                items
                    .iter()
                    .map(|i| self.native_value(i, ctx))
                    .collect::<Result<Vec<_>, _>>()?,
            )),
            Json::Object(map) => {
                let mut out: indexmap::IndexMap<String, Value> = indexmap::IndexMap::new();
                for (k, v) in map {
                    out.insert(k.clone(), self.native_value(v, ctx)?);
                }
                Ok(Value::from_iter(out))
            }
            other => Ok(Value::from(minijinja::value::Serde(other.clone()))),
        }
    }

    /// The macro `name` of `package` (a project, or `dbt` for the built-in ones).
    pub fn macro_in(&self, package: &str, name: &str) -> Option<&MacroDef> {
        self.macros.find_in(package, name)
    }

    /// The macro a bare `name` finds in a node of package `local`.
    pub fn macro_for(&self, local: &str, name: &str) -> Option<&MacroDef> {
        self.macros.find_for(local, name)
    }

    /// The installed packages defining macro `name`.
    pub fn packages_defining(&self, name: &str) -> Vec<&str> {
        self.macros.packages_defining(name)
    }

    /// Calls a macro by name with positional arguments, returning its value (what it
    /// `return`ed, or its output).
    pub fn call_macro(
        &self,
        name: &str,
        args: Vec<Json>,
        node: Option<Arc<NodeContext>>,
    ) -> Result<Json, RenderError> {
        let Some(def) = self.macros.find(name) else {
            return Err(RenderError {
                message: format!("macro `{name}` is not defined"),
                template: None,
                line: None,
                range: None,
                help: None,
            });
        };
        let args: Vec<Value> = args
            .into_iter()
            .map(|a| Value::from(minijinja::value::Serde(a)))
            .collect();
        // Calling through a one-line template gives the macro a state holding the node's
        // context, exactly as a call from a model would.
        let mut ctx = self.context_map(node);
        ctx.insert(
            "__silt_macro",
            Value::from_object(macros::MacroRef::new(def.name.clone(), self.macros.clone())),
        );
        ctx.insert("__silt_args", Value::from(args));
        let call = "{%- set __silt_result = __silt_macro(*__silt_args) -%}";
        let tmpl = self
            .env
            .template_from_named_str("<macro call>", call)
            .map_err(|e| convert_error(&e, &def.file, &|t| self.macros.source(t)))?;
        let captured = tmpl
            .render_captured(Value::from(ctx))
            .map_err(|e| convert_error(&e, &def.file, &|t| self.macros.source(t)))?;
        let value = captured
            .state()
            .lookup("__silt_result")
            .unwrap_or(Value::UNDEFINED);
        Ok(value_to_json(&value))
    }

    fn context(&self, node: Option<Arc<NodeContext>>) -> Value {
        match node {
            Some(node) => node_context(&node, &self.globals, &self.macros),
            None => Value::from(self.context_map(None)),
        }
    }

    fn context_map(&self, node: Option<Arc<NodeContext>>) -> BTreeMap<&'static str, Value> {
        let mut ctx: BTreeMap<&'static str, Value> = BTreeMap::new();
        if let Some(node) = node {
            install_node(&mut ctx, &node, &self.globals);
            ctx.insert("__silt_node", Value::from_object(objects::NodeHandle(node)));
        } else {
            ctx.insert("execute", Value::from(false));
        }
        ctx
    }
}

/// The render context of a node: built once per render and shared with its macro calls.
fn node_context(node: &Arc<NodeContext>, globals: &Arc<Globals>, macros: &macros::MacroIndex) -> Value {
    let mut cache = node.context_cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(v) = cache.as_ref() {
        return v.clone();
    }
    let mut ctx: BTreeMap<&'static str, Value> = BTreeMap::new();
    install_node(&mut ctx, node, globals);
    ctx.insert("__silt_node", Value::from_object(objects::NodeHandle(node.clone())));
    // Every macro is a global, but a bare name reaches only the node's package's macros,
    // the root project's and dbt's, as in dbt: another package's macro of that name is
    // undefined here (dbt_expectations tests read `group_by`, a sibling macro's name, as
    // an unset variable).
    let hidden = macros.hidden_for(node.package(globals));
    let value = if hidden.is_empty() {
        Value::from(ctx)
    } else {
        // The package's hidden names are shared by all its nodes, not copied per render.
        Value::from_object(NodeScope { own: ctx, hidden })
    };
    *cache = Some(value.clone());
    value
}

/// A node's context when some macro names are hidden in its package: its own variables,
/// then the hidden names.
#[derive(Debug)]
struct NodeScope {
    own: BTreeMap<&'static str, Value>,
    hidden: Arc<std::collections::HashMap<String, Value>>,
}

impl Object for NodeScope {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        self.own.get(key).or_else(|| self.hidden.get(key)).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        let keys: Vec<Value> = self.own.keys().map(|k| Value::from(*k)).collect();
        minijinja::value::Enumerator::Values(keys)
    }
}

fn install_node(
    ctx: &mut BTreeMap<&'static str, Value>,
    node: &Arc<NodeContext>,
    globals: &Arc<Globals>,
) {
    let (n, g) = (node.clone(), globals.clone());
    ctx.insert(
        "ref",
        Value::from_function(move |args: Rest<Value>| -> Result<Value, Error> {
            call_ref(&n, n.package(&g), &args)
        }),
    );
    let (n, g) = (node.clone(), globals.clone());
    ctx.insert(
        "source",
        Value::from_function(
            move |source: String, table: String| -> Result<Value, Error> {
                n.capture().sources.push((source.clone(), table.clone()));
                n.resolver
                    .resolve_source(n.package(&g), &source, &table)
                    .map(|r| relation_value(&n, r))
                    .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))
            },
        ),
    );
    ctx.insert("config", Value::from_object(ConfigObject(node.clone())));
    ctx.insert("execute", Value::from(node.phase == Phase::Compile));
    let incremental = node.is_incremental && node.phase == Phase::Compile;
    ctx.insert("is_incremental", Value::from_function(move || incremental));
    match &node.this {
        Some(this) => ctx.insert("this", Value::from_object(this.clone())),
        None => ctx.insert("this", Value::UNDEFINED),
    };
    ctx.insert(
        "model",
        Value::from_object(objects::ModelObject(node.clone())),
    );
    if let Some(t) = &node.thread_id {
        ctx.insert("thread_id", Value::from(t.clone()));
    }
    for (name, value) in &node.extra {
        ctx.insert(name, Value::from(minijinja::value::Serde(value.clone())));
    }
    if let Some(env) = node.env_overrides.clone() {
        ctx.insert(
            "env_var",
            Value::from_function(
                move |name: String, default: Option<Value>| -> Result<Value, Error> {
                    match env.get(&name) {
                        Some(Json::String(s)) => Ok(Value::from(s.clone())),
                        Some(other) => Ok(Value::from(other.to_string())),
                        None => env_var(name, default),
                    }
                },
            ),
        );
    }
    let n = node.clone();
    let g = globals.clone();
    ctx.insert(
        "var",
        Value::from_function(
            move |name: String, default: Option<Value>| -> Result<Value, Error> {
                if let Some(v) = n.var_overrides.as_ref().and_then(|o| o.get(&name)) {
                    return Ok(Value::from(minijinja::value::Serde(v.clone())));
                }
                // dbt's parse pass treats a missing var as none; the compile pass reports it.
                let package = n.package(&g);
                if n.phase == Phase::Parse && default.is_none() && g.vars.get(package, &name).is_none() {
                    return Ok(Value::from(()));
                }
                lookup_var(&g, package, &name, default)
            },
        ),
    );
}

/// A relation `ref` or `source` gives: under `--empty`, one that reads no rows.
fn relation_value(node: &NodeContext, relation: Relation) -> Value {
    if node.empty {
        Value::from_object(relation::Limited(relation))
    } else {
        Value::from_object(relation)
    }
}

/// `ref(...)` in a node of package `from`.
fn call_ref(node: &NodeContext, from: &str, args: &[Value]) -> Result<Value, Error> {
    let (positional, kwargs): (Vec<&Value>, Option<Kwargs>) = match args.last() {
        Some(last) if last.is_kwargs() => (
            args[..args.len() - 1].iter().collect(),
            Kwargs::try_from(last.clone()).ok(),
        ),
        _ => (args.iter().collect(), None),
    };
    let strings: Vec<String> = positional
        .iter()
        .map(|v| {
            v.as_str().map(str::to_owned).ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("`ref` takes model names as strings, not {v}"),
                )
            })
        })
        .collect::<Result<_, _>>()?;
    let (package, name) = match strings.as_slice() {
        [name] => (None, name.clone()),
        [package, name] => (Some(package.clone()), name.clone()),
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "`ref` takes one or two names (model, or package and model), not {}",
                    strings.len()
                ),
            ));
        }
    };
    let mut version = None;
    if let Some(kwargs) = kwargs {
        for key in ["version", "v"] {
            if kwargs.has(key) {
                let v: Value = kwargs.get(key)?;
                version = Some(v.to_string());
            }
        }
        kwargs.assert_all_used()?;
    }
    node.capture().refs.push(RefCall {
        package: package.clone(),
        name: name.clone(),
        version: version.clone(),
    });
    node.resolver
        .resolve_ref(from, package.as_deref(), &name, version.as_deref())
        .map(|r| relation_value(node, r))
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))
}

/// `var(name)` for a node of `package`.
fn lookup_var(globals: &Globals, package: &str, name: &str, default: Option<Value>) -> Result<Value, Error> {
    match globals.vars.get(package, name) {
        // String values are templates themselves, rendered when read (as dbt does).
        Some(Json::String(s)) if s.contains("{{") || s.contains("{%") => {
            let target = (!globals.target.is_null()).then_some(&globals.target);
            render_simple("var", &s, &globals.vars, target, None)
                .map(Value::from)
                .map_err(|e| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        format!("in var `{name}`: {}", e.message),
                    )
                })
        }
        Some(v) => Ok(mutable::from_json(&v)),
        None => match default {
            Some(d) => Ok(d),
            None => {
                let visible = globals.vars.visible(package);
                let names: Vec<&str> = visible.keys().map(String::as_str).collect();
                let mut msg = format!("required var `{name}` not found");
                if let Some(s) = did_you_mean(name, names.iter().copied()) {
                    msg.push_str(&format!(" (did you mean `{s}`?)"));
                }
                msg.push_str("; set it under `vars:` in the project file or pass `--vars`");
                Err(Error::new(ErrorKind::InvalidOperation, msg))
            }
        },
    }
}

fn env_var(name: String, default: Option<Value>) -> Result<Value, Error> {
    match std::env::var(&name) {
        Ok(v) => Ok(Value::from(v)),
        Err(_) => match default {
            Some(d) => Ok(Value::from(d.to_string())),
            None => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("environment variable `{name}` is required but not set (give `env_var` a default to make it optional)"),
            )),
        },
    }
}

fn install_globals(
    env: &mut Environment<'static>,
    globals: &Arc<Globals>,
    macros: &Arc<macros::MacroIndex>,
) {
    let g = globals.clone();
    env.add_function("var", move |name: String, default: Option<Value>| {
        lookup_var(&g, &g.project_name, &name, default)
    });
    env.add_function("env_var", env_var);
    env.add_global(
        "target",
        Value::from(minijinja::value::Serde(globals.target.clone())),
    );
    env.add_global("project_name", Value::from(globals.project_name.clone()));
    env.add_global("invocation_id", Value::from(globals.invocation_id.clone()));
    // Outside a worker (on-run-start, on-run-end), as dbt's main thread is named.
    env.add_global("thread_id", Value::from("MainThread"));
    env.add_global(
        "run_started_at",
        Value::from_object(datetime::PyDateTime::utc(globals.run_started_at)),
    );
    env.add_global(
        "flags",
        Value::from(minijinja::value::Serde(globals.flags.clone())),
    );
    env.add_global("exceptions", Value::from_object(Exceptions));
    env.add_global("api", Value::from_object(warehouse::Api));
    env.add_function("run_query", |state: &State, sql: String| warehouse::run_query(state, &sql));
    env.add_function("load_result", |state: &State, name: String| warehouse::load_result(state, &name));
    env.add_function("store_result", |state: &State, name: String, kwargs: Kwargs| {
        warehouse::store_result(state, &name, kwargs)
    });
    env.add_function("load_relation", |state: &State, relation: Value| warehouse::load_relation(state, &relation));
    env.add_global("adapter", Value::from_object(AdapterObject(macros.clone())));
    env.add_global(
        "dbt",
        Value::from_object(Namespace::builtin(macros.clone())),
    );
    // dbt_utils' tests are built in, so `dbt_utils.accepted_range` in YAML works without
    // the package; its other macros are not, and saying so beats an undefined name. An
    // installed dbt_utils replaces the stand-in.
    if !globals.packages.iter().any(|p| p == "dbt_utils") {
        env.add_global(
            "dbt_utils",
            Value::from_object(Namespace::stand_in("dbt_utils", DBT_UTILS_TESTS, macros.clone())),
        );
    }
    for project in std::iter::once(&globals.project_name).chain(&globals.packages) {
        env.add_global(project.clone(), Value::from_object(Namespace::project(project, macros.clone())));
    }
    env.add_global("builtins", Value::from_object(objects::Builtins));
    env.add_global("modules", Value::from_object(modules::Modules));
    env.add_function(
        "log",
        |msg: Value, kwargs: Kwargs| -> Result<String, Error> {
            let info: bool = kwargs.get::<Option<bool>>("info")?.unwrap_or(false);
            kwargs.assert_all_used()?;
            if info {
                objects::emit_log(&msg.to_string());
            }
            Ok(String::new())
        },
    );
    env.add_function("print", |msg: Value| -> String {
        objects::emit_log(&msg.to_string());
        String::new()
    });
    env.add_function("return", macros::return_value);
    env.add_function(
        "tojson",
        |v: Value, kwargs: Kwargs| -> Result<String, Error> {
            let sort: bool = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false);
            kwargs.assert_all_used()?;
            let json = value_to_json(&v);
            let json = if sort { sort_json(json) } else { json };
            serde_json::to_string(&json)
                .map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))
        },
    );
    env.add_function(
        "fromjson",
        |s: String, default: Option<Value>| -> Result<Value, Error> {
            match serde_json::from_str::<Json>(&s) {
                Ok(v) => Ok(mutable::from_json(&v)),
                // As dbt's: text that does not parse gives `default` (None).
                Err(_) => Ok(default.unwrap_or(Value::from(()))),
            }
        },
    );
    env.add_function("toyaml", |v: Value| -> Result<String, Error> {
        crate::yaml::to_yaml_string(&value_to_json(&v))
            .map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))
    });
    env.add_function(
        "fromyaml",
        |s: String, default: Option<Value>| -> Result<Value, Error> {
            match crate::yaml::from_yaml_string(&s) {
                Ok(v) => Ok(mutable::from_json(&v)),
                // As dbt's: text that does not parse gives `default` (None).
                Err(_) => Ok(default.unwrap_or(Value::from(()))),
            }
        },
    );
    // dbt's `zip` and `set` give `default` (None) where Python raises a TypeError; the
    // `_strict` forms raise.
    fn zip_lists(lists: &[Value]) -> Result<Value, Error> {
        let lists: Vec<Vec<Value>> = lists
            .iter()
            .map(|l| l.try_iter().map(|i| i.collect()))
            .collect::<Result<_, _>>()?;
        let n = lists.iter().map(Vec::len).min().unwrap_or(0);
        Ok(Value::from(
            (0..n)
                .map(|i| Value::from(lists.iter().map(|l| l[i].clone()).collect::<Vec<_>>()))
                .collect::<Vec<_>>(),
        ))
    }
    fn unique(items: &Value) -> Result<Value, Error> {
        let mut out: Vec<Value> = Vec::new();
        for item in items.try_iter()? {
            if !out.contains(&item) {
                out.push(item);
            }
        }
        Ok(Value::from(out))
    }
    fn default_of(kwargs: &Kwargs) -> Result<Value, Error> {
        let d = kwargs.get::<Option<Value>>("default")?.unwrap_or(Value::from(()));
        kwargs.assert_all_used()?;
        Ok(d)
    }
    env.add_function("zip", |lists: Rest<Value>, kwargs: Kwargs| -> Result<Value, Error> {
        let default = default_of(&kwargs)?;
        Ok(zip_lists(&lists).unwrap_or(default))
    });
    env.add_function("zip_strict", |lists: Rest<Value>| zip_lists(&lists));
    env.add_function("set", |items: Value, kwargs: Kwargs| -> Result<Value, Error> {
        let default = default_of(&kwargs)?;
        Ok(unique(&items).unwrap_or(default))
    });
    env.add_function("set_strict", |items: Value| unique(&items));
    // dbt's `diff_of_two_dicts`: for each key of `a`, the values not under the same key
    // of `b` (keys and values compared case-insensitively), as dbt's grant macros use it.
    env.add_function("diff_of_two_dicts", |a: Value, b: Value| -> Result<Value, Error> {
        let fold = |v: &Value| v.as_str().map(str::to_lowercase).unwrap_or_else(|| v.to_string().to_lowercase());
        let mut theirs: Vec<(String, Vec<String>)> = Vec::new();
        for k in b.try_iter()? {
            let vals = b.get_item(&k)?;
            theirs.push((fold(&k), vals.try_iter()?.map(|v| fold(&v)).collect()));
        }
        let mut out: indexmap::IndexMap<String, Value> = indexmap::IndexMap::new();
        for k in a.try_iter()? {
            let vals = a.get_item(&k)?;
            match theirs.iter().find(|(t, _)| *t == fold(&k)) {
                Some((_, other)) => {
                    let diff: Vec<Value> = vals.try_iter()?.filter(|v| !other.contains(&fold(v))).collect();
                    if !diff.is_empty() {
                        out.insert(k.as_str().map_or_else(|| k.to_string(), str::to_owned), Value::from(diff));
                    }
                }
                None => {
                    out.insert(k.as_str().map_or_else(|| k.to_string(), str::to_owned), vals);
                }
            }
        }
        Ok(Value::from(minijinja::value::Serde(out)))
    });
    env.add_global("try_or_compiler_error", Value::from_object(objects::TryOrCompilerError));
    env.add_function("local_md5", |s: String| -> String {
        use md5::Digest;
        format!("{:x}", md5::Md5::digest(s.as_bytes()))
    });
    env.add_filter("as_bool", |v: Value| -> Value {
        match v.as_str() {
            Some(s) if s.eq_ignore_ascii_case("true") => Value::from(true),
            Some(s) if s.eq_ignore_ascii_case("false") => Value::from(false),
            _ => v,
        }
    });
    env.add_filter("as_number", |v: Value| -> Value {
        match v.as_str() {
            Some(s) => s
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| s.trim().parse::<f64>().map(Value::from))
                .unwrap_or(v),
            None => v,
        }
    });
    env.add_filter("as_text", |v: Value| -> String { v.to_string() });
    env.add_filter("as_native", |v: Value| -> Value {
        match v
            .as_str()
            .and_then(|s| crate::yaml::from_yaml_string(s).ok())
        {
            Some(j) => Value::from(minijinja::value::Serde(j)),
            None => v,
        }
    });
}

/// dbt's `looks_like_func`: `^\s*(env_var|ref|var|source|doc)\s*\(.+\)\s*$`.
fn looks_like_call(s: &str) -> bool {
    let t = s.trim();
    ["env_var", "ref", "var", "source", "doc"].iter().any(|f| {
        t.strip_prefix(f)
            .map(str::trim_start)
            .is_some_and(|rest| rest.starts_with('(') && rest.ends_with(')') && rest.len() > 2)
    })
}

/// The expression of a template that is exactly `{{ expr }}`, if it is one.
fn single_expression(text: &str) -> Option<&str> {
    let t = text.trim();
    let inner = t.strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.trim_start_matches('-').trim_end_matches('-');
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") {
        return None;
    }
    Some(inner.trim())
}

fn sort_json(v: Json) -> Json {
    match v {
        Json::Object(map) => {
            let sorted: BTreeMap<String, Json> =
                map.into_iter().map(|(k, v)| (k, sort_json(v))).collect();
            Json::Object(sorted.into_iter().collect())
        }
        Json::Array(items) => Json::Array(items.into_iter().map(sort_json).collect()),
        other => other,
    }
}

/// A template value as JSON (objects render as strings).
pub fn value_to_json(v: &Value) -> Json {
    if v.is_undefined() || v.is_none() {
        return Json::Null;
    }
    if v.downcast_object_ref::<Relation>().is_some() {
        return Json::String(v.to_string());
    }
    serde_json::to_value(v).unwrap_or_else(|_| Json::String(v.to_string()))
}

fn state_node(state: &State) -> Option<Arc<NodeContext>> {
    state
        .lookup("__silt_node")
        .and_then(|v| v.downcast_object::<objects::NodeHandle>())
        .map(|h| h.0.clone())
}

/// Turns a minijinja error into a render error, naming dbt constructs Silt does not have.
/// `sources` gives the text of a template by name: minijinja only keeps it in debug mode,
/// which costs every render, so Silt looks the text up itself when an error needs it.
fn convert_error(e: &Error, name: &str, sources: &dyn Fn(&str) -> Option<Arc<str>>) -> RenderError {
    convert_error_in(e, name, &mutable::Edits::default(), sources)
}

/// As [`convert_error`], for a template `name` whose text [`mutable::rewrite`] changed at
/// `points`: a range in it is mapped back to the original text.
fn convert_error_in(
    e: &Error,
    name: &str,
    points: &mutable::Edits,
    sources: &dyn Fn(&str) -> Option<Arc<str>>,
) -> RenderError {
    // The root cause carries the most specific location (e.g. inside a macro).
    let mut inner: &Error = e;
    while let Some(src) = std::error::Error::source(inner).and_then(|s| s.downcast_ref::<Error>()) {
        if src.line().is_none() {
            break;
        }
        inner = src;
    }
    let located = if inner.line().is_some() { inner } else { e };
    let range = located.range().map(|r| {
        if located.name().is_none_or(|t| t == name) {
            points.map_back(r.start)..points.map_back(r.end)
        } else {
            r
        }
    });
    // A macro's template (`file#macro`) keeps its file's lines; the range is moved onto
    // the file by line and column.
    let in_macro = located.name().is_some_and(|t| t.contains('#'));
    let detail = located.detail().or(e.detail()).unwrap_or("").to_owned();
    let mut help = None;
    let message = match located.kind() {
        ErrorKind::UndefinedError => {
            let what = undefined_name(located, range.clone(), sources).unwrap_or_default();
            if what.is_empty() {
                "undefined value in template".to_owned()
            } else {
                format!("`{what}` is undefined")
            }
        }
        ErrorKind::UnknownFunction => {
            let what = detail
                .trim_start_matches("unknown function")
                .trim()
                .trim_end_matches(" is unknown")
                .trim_matches('`')
                .to_owned();
            if what.is_empty() {
                "unknown function".to_owned()
            } else {
                format!("unknown function `{what}`")
            }
        }
        ErrorKind::SyntaxError => {
            if let Some(tag) = unsupported_tag(&detail) {
                help = Some(tag.1.to_owned());
                format!("`{{% {} %}}` blocks are not supported", tag.0)
            } else {
                format!("Jinja syntax error: {detail}")
            }
        }
        ErrorKind::UnknownMethod
            if detail.contains("append")
                || detail.contains("extend")
                || detail.contains("update") =>
        {
            help = Some("lists and dicts made in a template (`[]`, `{}`, `dict()`, `|list`) change in place; this one came from a function or a config: copy it first with `|list` or `dict(...)`".to_owned());
            format!("cannot mutate a value: {detail}")
        }
        _ => {
            if detail.is_empty() {
                located.kind().to_string()
            } else {
                detail.clone()
            }
        }
    };
    RenderError {
        message,
        // A macro's template is named `file#macro`: errors name the file.
        template: located
            .name()
            .map(|n| n.split('#').next().unwrap_or(n).to_owned())
            .or_else(|| Some(name.to_owned())),
        line: located.line(),
        range: match (in_macro, located.name()) {
            (true, Some(t)) => range.and_then(|r| macro_range_in_file(t, r, sources)),
            _ => range,
        },
        help,
    }
}

/// A byte range of macro template `template` (`file#macro`) as the same lines and columns
/// of its file.
fn macro_range_in_file(
    template: &str,
    r: std::ops::Range<usize>,
    sources: &dyn Fn(&str) -> Option<Arc<str>>,
) -> Option<std::ops::Range<usize>> {
    let text = sources(template)?;
    let file = sources(template.split('#').next()?)?;
    let at = |offset: usize| -> Option<usize> {
        let before = text.get(..offset)?;
        let line = before.matches('\n').count();
        let column = offset - before.rfind('\n').map_or(0, |i| i + 1);
        let start = if line == 0 { 0 } else { file.match_indices('\n').nth(line - 1)?.0 + 1 };
        let end = file[start..].find('\n').map_or(file.len(), |i| start + i);
        Some((start + column).min(end))
    };
    let (start, end) = (at(r.start)?, at(r.end)?);
    (start <= end).then_some(start..end)
}

fn undefined_name(
    e: &Error,
    range: Option<std::ops::Range<usize>>,
    sources: &dyn Fn(&str) -> Option<Arc<str>>,
) -> Option<String> {
    let src: Arc<str> = match e.template_source() {
        Some(s) => Arc::from(s),
        // A macro's own template (`file#macro`), where the range points.
        None => sources(e.name()?)?,
    };
    let mut range = range?;
    // An attribute's span starts at its dot: name the value it is read from too
    // (`modules.datetime.x`, not `.datetime.x`).
    if src.get(range.clone())?.starts_with('.') {
        let head = src.get(..range.start)?;
        let kept = head.trim_end_matches(|c: char| c.is_alphanumeric() || c == '_' || c == '.');
        range.start = kept.len();
    }
    let text = src.get(range)?.trim();
    let text = text.trim_start_matches("{{").trim_end_matches("}}").trim();
    Some(text.to_owned())
}

fn unsupported_tag(detail: &str) -> Option<(&'static str, &'static str)> {
    const TAGS: &[(&str, &str)] = &[
        (
            "materialization",
            "Silt has built-in materializations only: view, table, incremental, ephemeral",
        ),
        ("snapshot", "snapshots are not supported yet"),
        (
            "docs",
            "doc blocks belong in `.md` files under the docs paths",
        ),
        (
            "call",
            "`{% call %}` works only with macros that take a `caller`",
        ),
    ];
    TAGS.iter().copied().find(|(tag, _)| {
        detail.contains(&format!("`{tag}`"))
            || detail.ends_with(&format!("statement {tag}"))
            || detail.contains(&format!("'{tag}'"))
    })
}

#[cfg(test)]
mod tests;

/// Renders a string from the project or profiles file. These files are read before macros
/// exist, so only `env_var`, `var` (command-line vars and, for the project file, its own)
/// and `target` (once the profile is known) are available.
pub fn render_settings_value(
    name: &str,
    source: &str,
    vars: &Vars,
    target: Option<&Json>,
) -> Result<String, RenderError> {
    render_simple(name, source, vars, target, None)
}

/// Renders a description, where `doc('name')` returns a doc block's text.
pub fn render_description(
    name: &str,
    source: &str,
    vars: &Vars,
    target: Option<&Json>,
    docs: &BTreeMap<String, String>,
) -> Result<String, RenderError> {
    render_simple(name, source, vars, target, Some(docs))
}

fn render_simple(
    name: &str,
    source: &str,
    vars: &Vars,
    target: Option<&Json>,
    docs: Option<&BTreeMap<String, String>>,
) -> Result<String, RenderError> {
    if !source.contains("{{") && !source.contains("{%") {
        return Ok(source.to_owned());
    }
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_debug(true);
    let globals = Arc::new(Globals {
        project_name: String::new(),
        packages: Vec::new(),
        dispatch: Vec::new(),
        target: target.cloned().unwrap_or(Json::Null),
        vars: vars.clone(),
        invocation_id: String::new(),
        run_started_at: chrono::Utc::now(),
        flags: Json::Null,
    });
    let g = globals.clone();
    env.add_function("var", move |name: String, default: Option<Value>| {
        lookup_var(&g, &g.project_name, &name, default)
    });
    env.add_function("env_var", |name: String, default: Option<Value>| -> Result<Value, Error> {
        match std::env::var(&name) {
            Ok(v) => Ok(Value::from(v)),
            Err(_) => default.map(|d| Value::from(d.to_string())).ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("environment variable `{name}` is required but not set (give `env_var` a default to make it optional)"),
                )
            }),
        }
    });
    if let Some(t) = target {
        env.add_global("target", Value::from(minijinja::value::Serde(t.clone())));
    }
    if let Some(docs) = docs {
        let docs = docs.clone();
        env.add_function("doc", move |args: Rest<String>| -> Result<String, Error> {
            let doc_name = match args.as_slice() {
                [n] => n.clone(),
                [p, n] => format!("{p}.{n}"),
                _ => {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "`doc` takes a doc block name",
                    ));
                }
            };
            docs.get(&doc_name).cloned().ok_or_else(|| {
                let mut msg = format!("doc block `{doc_name}` is not defined");
                if let Some(s) = did_you_mean(&doc_name, docs.keys().map(String::as_str).filter(|k| !k.contains('.'))) {
                    msg.push_str(&format!(" (did you mean `{s}`?)"));
                }
                Error::new(ErrorKind::InvalidOperation, msg)
            })
        });
    }
    env.render_named_str(name, source, ())
        .map_err(|e| convert_error(&e, name, &|_| Some(Arc::from(source))))
}
