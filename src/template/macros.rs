//! Project macros callable by name from every template, with dbt's `return()`.
//!
//! minijinja binds a macro to the render state that defined it, and dbt makes every macro
//! of the project a global. So each macro file is loaded as a template with its macros
//! renamed (`{% macro x(` becomes `{% macro __silt_x(`, on the same line), and each macro
//! name is a global [`MacroRef`]. Calling one renders its file in a fresh state holding the
//! caller's node context and calls the renamed macro there. Because every call, even from a
//! sibling macro in the same file, goes through a `MacroRef`, dbt's `{{ return(x) }}` can be
//! implemented as an early exit: `return` parks the value in a per-thread slot and raises a
//! sentinel error that the `MacroRef` call catches.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use minijinja::value::{Kwargs, Object, ObjectRepr, Rest, Value};
use minijinja::{Environment, Error, ErrorKind, State};

use crate::diagnostic::{Diagnostic, Span};

/// The name under which Silt's built-in macros are loaded.
pub const BUILTIN_FILE: &str = "<silt builtins>";

const BUILTINS: &str = include_str!("builtins.sql");
/// Silt's built-in generic tests (dbt's and dbt_utils'), loaded as their own file.
pub const BUILTIN_TESTS_FILE: &str = "<silt builtin tests>";
const BUILTIN_TESTS: &str = include_str!("builtin_tests.sql");

/// What kind of block defined a macro.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacroKind {
    /// `{% macro name(...) %}`
    Macro,
    /// `{% test name(...) %}`: a generic data test, stored as the macro `test_<name>`.
    Test,
}

/// One macro as defined in a file.
#[derive(Debug, Clone)]
pub struct MacroDef {
    /// The name templates call it by (`test_<name>` for tests).
    pub name: String,
    pub kind: MacroKind,
    /// The file's display path, also the template's name.
    pub file: String,
    pub line: usize,
    /// Parameter names in order, with whether each has a default.
    pub params: Vec<(String, bool)>,
    /// The package: the project's name, or `dbt` for Silt's built-ins.
    pub package: String,
    /// The macro's own text, for the manifest.
    pub body: String,
    /// Whether its body reads Jinja's `kwargs` / `varargs` (it then takes arguments beyond
    /// its parameters).
    reads: (bool, bool),
    /// The rewritten definition alone, padded with newlines so that its lines are the
    /// file's: each macro is its own template, so a call evaluates one definition, not
    /// every macro of its file (dbt, too, only extracts the macros from a file).
    template: String,
}

impl MacroDef {
    fn impl_name(&self) -> String {
        format!("__silt_{}", self.name)
    }

    /// The name of the macro's own template: its file, then `#` and the macro.
    fn template_name(&self) -> String {
        format!("{}#{}", self.file, self.name)
    }

    /// dbt's unique id for it: `macro.<package>.<name>`.
    pub fn unique_id(&self) -> String {
        format!("macro.{}.{}", self.package, self.name)
    }
}

/// Finds the macros and tests of a macro file and rewrites it for loading. Returns the
/// rewritten text (same lines as the original) and the definitions.
pub fn scan_macros(
    file: &str,
    source: &str,
    package: &str,
) -> Result<(String, Vec<MacroDef>), Diagnostic> {
    let mut out = String::with_capacity(source.len() + 64);
    let mut defs = Vec::new();
    let mut rest = source;
    let mut offset = 0;
    let mut open: Option<(MacroKind, usize)> = None;
    // Where each macro's rewritten definition starts in `out`.
    let mut rewritten_starts: Vec<usize> = Vec::new();
    while let Some(start) = rest.find("{%") {
        // A comment is copied as it is: a macro in a comment is no macro.
        if let Some(c) = rest.find("{#").filter(|c| *c < start) {
            let stop = rest[c + 2..].find("#}").map_or(rest.len(), |e| c + 2 + e + 2);
            out.push_str(&rest[..stop]);
            offset += stop;
            rest = &rest[stop..];
            continue;
        }
        let tag_start = offset + start;
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("%}") else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let inner = &after[..end];
        let tag_text = &rest[start..start + 2 + end + 2];
        let body = inner
            .trim_start_matches('-')
            .trim_start_matches('+')
            .trim_start();
        let keyword: String = body
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        match keyword.as_str() {
            "raw" => {
                // Copy a raw block verbatim.
                let raw_end = after
                    .find("endraw")
                    .and_then(|i| after[i..].find("%}").map(|j| i + j + 2));
                let stop = raw_end.map_or(rest.len(), |e| start + 2 + e);
                out.push_str(&rest[start..stop]);
                offset += stop;
                rest = &rest[stop..];
                continue;
            }
            "macro" | "test" => {
                let kind = if keyword == "macro" {
                    MacroKind::Macro
                } else {
                    MacroKind::Test
                };
                let sig = body[keyword.len()..].trim_start();
                let name: String = sig
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let line = source[..tag_start].matches('\n').count() + 1;
                if name.is_empty() {
                    return Err(
                        Diagnostic::error(format!("`{{% {keyword} %}}` needs a name")).with_span(
                            Span::from_byte_range(
                                file,
                                source,
                                tag_start,
                                tag_start + tag_text.len(),
                            ),
                        ),
                    );
                }
                if open.is_some() {
                    return Err(Diagnostic::error(format!(
                        "`{name}` is defined inside another macro"
                    ))
                    .with_span(Span::from_byte_range(
                        file,
                        source,
                        tag_start,
                        tag_start + tag_text.len(),
                    ))
                    .with_help("close the previous macro with `{% endmacro %}` first"));
                }
                let full_name = if kind == MacroKind::Test {
                    format!("test_{name}")
                } else {
                    name.clone()
                };
                let params = parse_params(&sig[name.len()..]);
                let def = MacroDef {
                    name: full_name.clone(),
                    kind,
                    file: file.to_owned(),
                    line,
                    params,
                    package: package.to_owned(),
                    body: String::new(),
                    reads: (false, false),
                    template: String::new(),
                };
                // Keep the tag's whitespace control and everything after the name.
                let macro_out_start = out.len();
                let prefix_len = tag_text.find(&keyword).unwrap_or(2);
                let after_name = &sig[name.len()..];
                out.push_str(&tag_text[..prefix_len]);
                out.push_str("macro ");
                out.push_str(&def.impl_name());
                out.push_str(&after_name[..after_name.len().min(sig.len())]);
                out.push_str(&tag_text[2 + end..]);
                open = Some((kind, defs.len()));
                defs.push((def, tag_start));
                rewritten_starts.push(macro_out_start);
            }
            "endmacro" | "endtest" => {
                let kind = if keyword == "endmacro" {
                    MacroKind::Macro
                } else {
                    MacroKind::Test
                };
                let closing = open.take();
                match closing {
                    Some((open_kind, idx)) if open_kind == kind => {
                        let def_start = defs[idx].1;
                        defs[idx].0.body = source[def_start..tag_start + tag_text.len()].to_owned();
                        let body = &defs[idx].0.body;
                        defs[idx].0.reads = (reads_name(body, "kwargs"), reads_name(body, "varargs"));
                    }
                    _ => {
                        return Err(Diagnostic::error(format!(
                            "`{{% {keyword} %}}` without a matching opening block"
                        ))
                        .with_span(Span::from_byte_range(
                            file,
                            source,
                            tag_start,
                            tag_start + tag_text.len(),
                        )));
                    }
                }
                let prefix_len = tag_text.find(&keyword).unwrap_or(2);
                out.push_str(&tag_text[..prefix_len]);
                out.push_str("endmacro");
                out.push_str(&tag_text[prefix_len + keyword.len()..]);
                if let Some((_, idx)) = closing {
                    let def = &mut defs[idx].0;
                    def.template = "\n".repeat(def.line.saturating_sub(1)) + &out[rewritten_starts[idx]..];
                }
            }
            _ => out.push_str(tag_text),
        }
        let consumed = start + 2 + end + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    out.push_str(rest);
    if let Some((_, idx)) = open {
        let (def, start) = &defs[idx];
        return Err(
            Diagnostic::error(format!("macro `{}` is never closed", def.name))
                .with_span(Span::from_byte_range(file, source, *start, *start + 2))
                .with_help("add `{% endmacro %}` (or `{% endtest %}`)"),
        );
    }
    Ok((out, defs.into_iter().map(|(d, _)| d).collect()))
}

/// Parameter names from a signature such as `(model, column_name, n=3)`.
fn parse_params(sig: &str) -> Vec<(String, bool)> {
    let Some(open) = sig.find('(') else {
        return Vec::new();
    };
    let mut depth = 0;
    let mut current = String::new();
    let mut params = Vec::new();
    let mut quote: Option<char> = None;
    for c in sig[open + 1..].chars() {
        if let Some(q) = quote {
            current.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                current.push(c);
            }
            '(' | '[' | '{' => {
                depth += 1;
                current.push(c);
            }
            ')' | ']' | '}' if depth > 0 => {
                depth -= 1;
                current.push(c);
            }
            ')' => break,
            ',' if depth == 0 => {
                params.push(std::mem::take(&mut current));
            }
            _ => current.push(c),
        }
    }
    if !current.trim().is_empty() {
        params.push(current);
    }
    params
        .into_iter()
        .filter_map(|p| {
            let p = p.trim();
            if p.is_empty() {
                return None;
            }
            match p.split_once('=') {
                Some((name, _)) => Some((name.trim().to_owned(), true)),
                None => Some((p.to_owned(), false)),
            }
        })
        .collect()
}

/// Every macro, by package and name, with the text of each file.
///
/// dbt's resolution (its `MacroNamespace`): an unqualified name is looked up in the
/// package of the node being rendered, then in the root project, then among the built-in
/// `dbt` macros; another installed package's macros are reached only as `package.name`.
/// The node decides, not the macro: a package macro calling a sibling by its bare name
/// from a root project's model does not find it (dbt says it is undefined too).
pub struct MacroIndex {
    /// Package -> name -> definition.
    packages: HashMap<String, HashMap<String, MacroDef>>,
    /// Names in the order they were first defined, for registering globals.
    order: Vec<String>,
    sources: HashMap<String, Arc<str>>,
    /// Each macro's template as compiled, by template name (`file#macro`).
    templates: HashMap<String, Arc<str>>,
    /// By package: the macro names a bare name does not reach from its nodes, with what
    /// stands for each there.
    hidden: std::sync::Mutex<HashMap<String, Arc<HashMap<String, Value>>>>,
    /// Globals Silt itself defines (`run_query`, `zip`...): a package's macro of that name
    /// never hides them.
    reserved: std::sync::OnceLock<std::collections::HashSet<String>>,
    globals: Arc<super::Globals>,
}

impl MacroIndex {
    /// Loads the built-in macros, then each project's (root and packages), into `env`.
    /// `files` are (display path, text, package).
    pub fn build(
        globals: &Arc<super::Globals>,
        files: Vec<(String, String, String)>,
        env: &mut Environment<'static>,
    ) -> Result<MacroIndex, Vec<Diagnostic>> {
        let mut index = MacroIndex {
            packages: HashMap::new(),
            order: Vec::new(),
            sources: HashMap::new(),
            templates: HashMap::new(),
            hidden: Default::default(),
            reserved: Default::default(),
            globals: globals.clone(),
        };
        let mut diags = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut all = vec![
            (BUILTIN_FILE.to_owned(), BUILTINS.to_owned(), "dbt".to_owned()),
            (BUILTIN_TESTS_FILE.to_owned(), BUILTIN_TESTS.to_owned(), "dbt".to_owned()),
        ];
        all.extend(files);
        for (file, source, package) in all {
            match scan_macros(&file, &source, &package) {
                Ok((_, defs)) => {
                    let text: Arc<str> = Arc::from(source.as_str());
                    let mut failed = false;
                    for def in &defs {
                        let template = super::mutable::rewrite(&def.template).0.into_owned();
                        let compiled: Arc<str> = Arc::from(template.as_str());
                        index.templates.insert(def.template_name(), compiled.clone());
                        if let Err(e) = env.add_template_owned(def.template_name(), template) {
                            // The error's range is in the macro's own template (`file#macro`).
                            let err = super::convert_error(&e, &file, &|t| {
                                Some(if t.contains('#') { compiled.clone() } else { text.clone() })
                            });
                            diags.push(err.to_diagnostic(&file, &source, &|_| None));
                            failed = true;
                            break;
                        }
                    }
                    if failed {
                        continue;
                    }
                    index.sources.insert(file.clone(), text);
                    for def in defs {
                        let own = index.packages.entry(def.package.clone()).or_default();
                        if let Some(existing) = own.get(&def.name) {
                            diags.push(
                                Diagnostic::error(format!("macro `{}` is defined twice", def.name))
                                    .with_span(Span::line(def.file.clone(), &source, def.line))
                                    .with_note(format!("first defined at {}:{}", existing.file, existing.line)),
                            );
                            continue;
                        }
                        if seen.insert(def.name.clone()) {
                            index.order.push(def.name.clone());
                        }
                        own.insert(def.name.clone(), def);
                    }
                }
                Err(d) => diags.push(d),
            }
        }
        if !diags.is_empty() {
            return Err(diags);
        }
        Ok(index)
    }

    /// Registers every macro name as a global of `env`.
    pub fn install(self: &Arc<Self>, env: &mut Environment<'static>) {
        for name in &self.order {
            env.add_global(name.clone(), Value::from_object(MacroRef::new(name.clone(), self.clone())));
        }
        // Another package's macro name in a node is undefined to `is defined` and `default`.
        let absent = |v: &Value| v.is_undefined() || v.downcast_object_ref::<HiddenMacro>().is_some();
        env.add_test("defined", move |v: Value| !absent(&v));
        env.add_test("undefined", move |v: Value| absent(&v));
        // Jinja's `default(value, default_value='', boolean=false)`, by position or name.
        let default = move |v: Value, other: Option<Value>, boolean: Option<bool>, kwargs: Kwargs| -> Result<Value, Error> {
            let other = match kwargs.get::<Option<Value>>("default_value")? {
                Some(o) => Some(o),
                None => other,
            };
            let boolean = kwargs.get::<Option<bool>>("boolean")?.or(boolean).unwrap_or(false);
            kwargs.assert_all_used()?;
            let missing = absent(&v) || (boolean && !v.is_true());
            Ok(if missing { other.unwrap_or_else(|| Value::from("")) } else { v })
        };
        env.add_filter("default", default);
        env.add_filter("d", default);
    }

    /// The macro names that a bare name in a node of package `local` does not reach (each
    /// only another installed package defines).
    pub fn hidden_for(&self, local: &str) -> Arc<HashMap<String, Value>> {
        let mut cache = self.hidden.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(local.to_owned())
            .or_insert_with(|| {
                Arc::new(
                    self.order
                        .iter()
                        .filter(|n| self.find_for(local, n).is_none())
                        .filter(|n| !self.reserved.get().is_some_and(|r| r.contains(n.as_str())))
                        .map(|n| {
                            let p = self.packages_defining(n).first().map(|p| p.to_string()).unwrap_or_default();
                            let message = format!(
                                "macro `{n}` is not defined here: package `{p}` defines it, and another package's macros are called by their package name, as `{p}.{n}`"
                            );
                            (n.clone(), Value::from_object(HiddenMacro { message }))
                        })
                        .collect(),
                )
            })
            .clone()
    }

    /// Records the globals Silt defines itself, once they are installed.
    pub fn reserve(&self, env: &Environment<'static>) {
        let names = env
            .globals()
            .filter(|(_, v)| v.downcast_object_ref::<MacroRef>().is_none())
            .map(|(n, _)| n.to_owned())
            .collect();
        let _ = self.reserved.set(names);
    }

    /// The root project's name.
    pub fn root(&self) -> &str {
        &self.globals.project_name
    }

    /// The package bare macro names are looked up in first: the node's, else the root's.
    pub fn local<'a>(&'a self, node: Option<&'a super::NodeContext>) -> &'a str {
        node.map_or(self.root(), |n| n.package(&self.globals))
    }

    /// The macro an unqualified `name` finds outside any package's node: the root
    /// project's, else the built-in one.
    pub fn find(&self, name: &str) -> Option<&MacroDef> {
        self.find_for(&self.globals.project_name, name)
    }

    /// The macro an unqualified `name` finds in a node of package `local`: its own
    /// package's, then the root project's, then the built-in one.
    pub fn find_for(&self, local: &str, name: &str) -> Option<&MacroDef> {
        self.find_in(local, name)
            .or_else(|| self.find_in(&self.globals.project_name, name))
            .or_else(|| self.find_in("dbt", name))
    }

    /// The installed packages defining `name`, for a hint when a bare name finds nothing.
    pub fn packages_defining(&self, name: &str) -> Vec<&str> {
        let mut found: Vec<&str> = self
            .packages
            .iter()
            .filter(|(p, defs)| *p != "dbt" && defs.contains_key(name))
            .map(|(p, _)| p.as_str())
            .collect();
        found.sort_unstable();
        found
    }

    /// The macro `name` of `package`.
    pub fn find_in(&self, package: &str, name: &str) -> Option<&MacroDef> {
        self.packages.get(package)?.get(name)
    }

    /// The packages `adapter.dispatch(name, macro_namespace)` searches, in order, as dbt
    /// does: the project's `dispatch:` search order for the namespace; else, for an
    /// installed package, the root project then the package; else every macro by name.
    pub fn dispatch_packages(&self, namespace: &str) -> Vec<Option<String>> {
        let g = &self.globals;
        if let Some((_, order)) = g.dispatch.iter().find(|(ns, _)| ns == namespace) {
            return order.iter().cloned().map(Some).collect();
        }
        if g.packages.iter().any(|p| p == namespace) {
            return vec![Some(g.project_name.clone()), Some(namespace.to_owned())];
        }
        vec![None]
    }

    /// The text of a macro file, or of one macro's template as compiled (`file#macro`).
    pub fn source(&self, file: &str) -> Option<Arc<str>> {
        if file.contains('#') {
            return self.templates.get(file).cloned();
        }
        self.sources.get(file).cloned()
    }

    /// Every macro: the projects' first, by name, then the built-in ones.
    pub fn all(&self) -> impl Iterator<Item = &MacroDef> {
        let mut defs: Vec<&MacroDef> = self.packages.values().flat_map(HashMap::values).collect();
        defs.sort_by(|a, b| (a.package == "dbt", &a.name, &a.package).cmp(&(b.package == "dbt", &b.name, &b.package)));
        defs.into_iter()
    }

    /// The implementation `adapter.dispatch(name)` picks in a node of package `local`:
    /// `datafusion__name`, then `default__name`, then `name` itself, each found as a bare
    /// name is.
    pub fn dispatch(&self, local: &str, name: &str) -> Option<&MacroDef> {
        ["datafusion__", "default__", ""]
            .iter()
            .find_map(|prefix| self.find_for(local, &format!("{prefix}{name}")))
    }

    /// `adapter.dispatch(name, macro_namespace)` in a node of package `local`: the
    /// packages are searched in order (a `None` entry finds a bare name), each for
    /// `datafusion__name` then `default__name`. Returns the macro, or every name tried.
    pub fn dispatch_in(
        &self,
        local: &str,
        name: &str,
        packages: &[Option<String>],
    ) -> Result<&MacroDef, Vec<String>> {
        let mut tried = Vec::new();
        for package in packages {
            for prefix in ["datafusion__", "default__"] {
                let wanted = format!("{prefix}{name}");
                let found = match package {
                    None => self.find_for(local, &wanted),
                    Some(p) => self.find_in(p, &wanted),
                };
                match found {
                    Some(def) => return Ok(def),
                    None => tried.push(match package {
                        None => wanted,
                        Some(p) => format!("{p}.{wanted}"),
                    }),
                }
            }
        }
        Err(tried)
    }
}

thread_local! {
    /// One slot per macro call in progress on this thread, for `return()`.
    static RETURN_SLOTS: RefCell<Vec<Option<Value>>> = const { RefCell::new(Vec::new()) };
}

const RETURN_SENTINEL: &str = "\u{0}silt-return";
const MAX_DEPTH: usize = 200;

/// `return(value)`: ends the current macro with `value` as its result.
pub fn return_value(value: Option<Value>) -> Result<Value, Error> {
    let parked = RETURN_SLOTS.with(|slots| {
        let mut slots = slots.borrow_mut();
        match slots.last_mut() {
            Some(slot) => {
                *slot = Some(value.unwrap_or(Value::from(())));
                true
            }
            None => false,
        }
    });
    if !parked {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "`return()` can only be used inside a macro",
        ));
    }
    Err(Error::new(ErrorKind::InvalidOperation, RETURN_SENTINEL))
}

/// A macro, callable from any template: by its name alone (resolved for the node being
/// rendered), or in one package (`package.name`).
#[derive(Debug)]
pub struct MacroRef {
    name: String,
    package: Option<String>,
    index: Arc<MacroIndex>,
}

impl std::fmt::Debug for MacroIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MacroIndex({} macro names)", self.order.len())
    }
}

impl MacroRef {
    pub fn new(name: String, index: Arc<MacroIndex>) -> MacroRef {
        MacroRef { name, package: None, index }
    }

    /// The macro `name` of `package`, whatever node calls it.
    pub fn in_package(package: &str, name: String, index: Arc<MacroIndex>) -> MacroRef {
        MacroRef {
            name,
            package: Some(package.to_owned()),
            index,
        }
    }
}

impl Object for MacroRef {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "name" => Some(Value::from(self.name.clone())),
            _ => None,
        }
    }

    fn call(self: &Arc<Self>, state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let node = super::state_node(state);
        let def = match &self.package {
            Some(p) => self.index.find_in(p, &self.name),
            None => self.index.find_for(self.index.local(node.as_deref()), &self.name),
        };
        let def = def.ok_or_else(|| {
            let message = match &self.package {
                Some(p) => format!("macro `{p}.{}` is not defined", self.name),
                None => {
                    let mut m = format!("macro `{}` is not defined", self.name);
                    if let Some(p) = self.index.packages_defining(&self.name).first() {
                        m.push_str(&format!(
                            " here: package `{p}` defines it, and another package's macros are called by their package name, as `{p}.{}`",
                            self.name
                        ));
                    }
                    m
                }
            };
            Error::new(ErrorKind::InvalidOperation, message)
        })?;
        if let Some(node) = &node {
            node.capture().macros.insert(def.unique_id());
            // A unit test's `overrides.macros` fixes what the macro returns.
            if let Some(v) = node.macro_overrides.as_ref().and_then(|o| o.get(&self.name)) {
                return Ok(Value::from(minijinja::value::Serde(v.clone())));
            }
        }
        let args = eager_caller(state, args)?;
        let ctx = match &node {
            Some(node) => super::node_context(node, &self.index.globals, &self.index),
            None => Value::from(std::collections::BTreeMap::from([("execute", Value::from(false))])),
        };
        let (args, ctx) = implicit_arguments(def, args, ctx)?;
        let depth = RETURN_SLOTS.with(|s| {
            let mut s = s.borrow_mut();
            s.push(None);
            s.len()
        });
        let result = if depth > MAX_DEPTH {
            Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "macro `{}` recursed more than {MAX_DEPTH} levels deep",
                    self.name
                ),
            ))
        } else {
            state.env().get_template(&def.template_name()).and_then(|tmpl| {
                let mut captured = tmpl.render_captured(ctx)?;
                let impl_name = def.impl_name();
                captured.with_state_mut(|st| {
                    let f = st.lookup(&impl_name).ok_or_else(|| {
                        Error::new(
                            ErrorKind::UnknownFunction,
                            format!("macro `{}` not found in {}", def.name, def.file),
                        )
                    })?;
                    f.call(st, &args)
                })
            })
        };
        let returned = RETURN_SLOTS.with(|s| s.borrow_mut().pop().flatten());
        match (result, returned) {
            (_, Some(v)) => Ok(v),
            (Ok(v), None) => Ok(v),
            (Err(e), None) => Err(e),
        }
    }
}

/// Whether `body` uses the word `name` (not as part of a longer name).
fn reads_name(body: &str, name: &str) -> bool {
    body.match_indices(name).any(|(i, _)| {
        let before = body[..i].chars().next_back();
        let after = body[i + name.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !word(before) && !word(after)
    })
}

/// Jinja's `kwargs` and `varargs`: a macro whose body reads them takes keyword and
/// positional arguments beyond its parameters, which it finds there (dbt_utils'
/// `not_null_proportion` reads `kwargs.get('at_least')`). Other macros reject extra
/// arguments, as Jinja does.
fn implicit_arguments(def: &MacroDef, args: Vec<Value>, ctx: Value) -> Result<(Vec<Value>, Value), Error> {
    let (wants_kwargs, wants_varargs) = def.reads;
    if !wants_kwargs && !wants_varargs {
        return Ok((args, ctx));
    }
    let known = |k: &str| k == "caller" || def.params.iter().any(|(p, _)| p == k);
    let (mut positional, kwargs) = match args.last().and_then(|a| Kwargs::try_from(a.clone()).ok()) {
        Some(kw) => (args[..args.len() - 1].to_vec(), Some(kw)),
        None => (args, None),
    };
    let mut pass: Vec<(String, Value)> = Vec::new();
    let mut extras: Vec<(String, Value)> = Vec::new();
    if let Some(kw) = &kwargs {
        for key in kw.args() {
            let v: Value = kw.peek(key)?;
            if known(key) || !wants_kwargs {
                pass.push((key.to_owned(), v));
            } else {
                extras.push((key.to_owned(), v));
            }
        }
    }
    let mut varargs = Vec::new();
    if wants_varargs && positional.len() > def.params.len() {
        varargs = positional.split_off(def.params.len());
    }
    let extras: indexmap::IndexMap<Value, Value> = extras.into_iter().map(|(k, v)| (Value::from(k), v)).collect();
    let extra_kwargs = crate::template::mutable::mutable(Value::from_object(extras));
    if !pass.is_empty() {
        positional.push(Value::from(Kwargs::from_iter(pass)));
    }
    let ctx = minijinja::context! {
        kwargs => extra_kwargs,
        varargs => crate::template::mutable::MutList::value(varargs),
        ..ctx
    };
    Ok((positional, ctx))
}

/// What a bare name of another package's macro is in a node: as dbt, not that macro. It
/// is false, empty and prints as nothing, as an unset variable (dbt_expectations reads
/// `group_by`, a sibling macro's name, as one); calling it names the package to call it by.
#[derive(Debug)]
pub struct HiddenMacro {
    message: String,
}

impl Object for HiddenMacro {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Iterable
    }

    fn is_true(self: &Arc<Self>) -> bool {
        false
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Empty
    }

    fn call(self: &Arc<Self>, _state: &mut State<'_, '_>, _args: &[Value]) -> Result<Value, Error> {
        Err(Error::new(ErrorKind::InvalidOperation, self.message.clone()))
    }

    fn render(self: &Arc<Self>, _f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Ok(())
    }
}

/// `{% call m() %}body{% endcall %}` passes a `caller` macro bound to the calling state,
/// which the macro's own state cannot call. Render the body now, in the calling state, and
/// pass a function returning it (dbt's callers are called without arguments).
fn eager_caller(state: &mut State<'_, '_>, args: &[Value]) -> Result<Vec<Value>, Error> {
    let Some(last) = args.last() else {
        return Ok(Vec::new());
    };
    let Ok(kwargs) = Kwargs::try_from(last.clone()) else {
        return Ok(args.to_vec());
    };
    if !kwargs.has("caller") {
        return Ok(args.to_vec());
    }
    let mut pairs: Vec<(String, Value)> = Vec::new();
    for key in kwargs.args() {
        let v: Value = kwargs.peek(key)?;
        if key == "caller" {
            let body = v.call(state, &[])?.to_string();
            pairs.push((
                key.to_owned(),
                Value::from_function(move |_: Rest<Value>| body.clone()),
            ));
        } else {
            pairs.push((key.to_owned(), v));
        }
    }
    let mut out = args[..args.len() - 1].to_vec();
    out.push(Value::from(Kwargs::from_iter(pairs)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_macro_and_test_blocks_on_the_same_lines() {
        let src = "{% macro cents(col, scale=2) -%}\n({{ col }} / 100)\n{%- endmacro %}\n\n{% test positive(model, column_name) %}\nselect 1\n{% endtest %}\n";
        let (out, defs) = scan_macros("macros/m.sql", src, "shop").unwrap();
        assert_eq!(out.lines().count(), src.lines().count());
        assert!(
            out.contains("{% macro __silt_cents(col, scale=2) -%}"),
            "{out}"
        );
        assert!(
            out.contains("{% macro __silt_test_positive(model, column_name) %}"),
            "{out}"
        );
        assert!(out.contains("{% endmacro %}\n"), "{out}");
        assert_eq!(defs.len(), 2);
        assert_eq!(
            defs[0].params,
            vec![("col".to_owned(), false), ("scale".to_owned(), true)]
        );
        assert_eq!(defs[1].name, "test_positive");
        assert_eq!(defs[1].line, 5);
        assert!(defs[0].body.starts_with("{% macro cents"));
    }

    #[test]
    fn unclosed_macro_is_an_error() {
        let err = scan_macros("macros/m.sql", "{% macro x() %}\nselect 1\n", "shop").unwrap_err();
        assert_eq!(err.message, "macro `x` is never closed");
    }
}
