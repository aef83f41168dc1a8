//! The objects dbt templates talk to: `config`, `adapter`, `exceptions`, `dbt`,
//! `run_started_at`, `builtins`, and Python methods on strings, lists and dicts.

use std::fmt;
use std::io::Write;
use std::sync::Arc;

use minijinja::value::{Kwargs, Object, ObjectRepr, Value, ValueKind};
use minijinja::{Error, ErrorKind, State};
use serde_json::Value as Json;

use super::NodeContext;
use crate::relation::Relation;
use super::macros::{MacroIndex, MacroRef};

/// Carries the node context through a render (as the hidden `__silt_node` variable).
pub struct NodeHandle(pub Arc<NodeContext>);

impl fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<node>")
    }
}

impl Object for NodeHandle {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
}

/// `model`: the node as a dict, converted field by field when a template reads it (most
/// templates never do, and converting every node's dict up front is a cost on every render).
pub struct ModelObject(pub Arc<NodeContext>);

impl fmt::Debug for ModelObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<model>")
    }
}

impl Object for ModelObject {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let v = self.0.model.get(key.as_str()?)?;
        Some(Value::from(minijinja::value::Serde(v.clone())))
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        let keys: Vec<Value> = self
            .0
            .model
            .as_object()
            .map(|m| m.keys().map(|k| Value::from(k.as_str())).collect())
            .unwrap_or_default();
        minijinja::value::Enumerator::Values(keys)
    }
}

/// Writes a `log(..., info=True)` or `print()` line to standard error.
pub fn emit_log(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// `config(...)`, `config.get(key, default)`, `config.require(key)`.
pub struct ConfigObject(pub Arc<NodeContext>);

impl fmt::Debug for ConfigObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<config>")
    }
}

impl Object for ConfigObject {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call(self: &Arc<Self>, _state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let mut map = crate::config::ConfigMap::new();
        for arg in args {
            if let Ok(kwargs) = Kwargs::try_from(arg.clone()) {
                for key in kwargs.args() {
                    let v: Value = kwargs.get(key)?;
                    map.insert(crate::config::normalize_key(key), super::value_to_json(&v));
                }
            } else if arg.kind() == ValueKind::Map {
                if let Json::Object(obj) = super::value_to_json(arg) {
                    // dbt's `_transform_config`: both spellings in one call are an error.
                    for (old, new) in [("pre_hook", "pre-hook"), ("post_hook", "post-hook")] {
                        if obj.contains_key(old) && obj.contains_key(new) {
                            return Err(Error::new(
                                ErrorKind::InvalidOperation,
                                format!("Invalid config, has conflicting keys \"{old}\" and \"{new}\""),
                            ));
                        }
                    }
                    for (k, v) in obj {
                        map.insert(crate::config::normalize_key(&k), v);
                    }
                }
            } else {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "`config()` takes keyword arguments (`config(materialized='table')`), not {arg}"
                    ),
                ));
            }
        }
        // Configs are learnt in the parse phase; the compile phase renders the same calls
        // again and must not add them twice.
        if self.0.phase == super::Phase::Parse {
            self.0.capture().configs.push(map);
        }
        Ok(Value::from(""))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        if method == "set" {
            // dbt's `config.set(key, value)`: `config(key=value)` by another name.
            let [key, value] = args else {
                return Err(Error::new(ErrorKind::InvalidOperation, "`config.set` takes a key and a value"));
            };
            let key = key
                .as_str()
                .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "config keys are strings"))?;
            if self.0.phase == super::Phase::Parse {
                let mut map = crate::config::ConfigMap::new();
                map.insert(crate::config::normalize_key(key), super::value_to_json(value));
                self.0.capture().configs.push(map);
            }
            return Ok(Value::from(""));
        }
        let (key, default) = match args {
            [k] => (k, None),
            [k, d] if d.is_kwargs() => (
                k,
                Kwargs::try_from(d.clone())
                    .ok()
                    .and_then(|kw| kw.get::<Value>("default").ok()),
            ),
            [k, d] => (k, Some(d.clone())),
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("`config.{method}` takes a key and an optional default"),
                ));
            }
        };
        let key = key
            .as_str()
            .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "config keys are strings"))?;
        let config = self.0.effective_config();
        let found = config.get(&crate::config::normalize_key(key)).cloned();
        match method {
            "get" => Ok(match found {
                Some(Json::Null) | None => default.unwrap_or(Value::from(())),
                Some(v) => super::mutable::from_json(&v),
            }),
            "require" => match found {
                Some(v) if !v.is_null() => Ok(Value::from(minijinja::value::Serde(v))),
                _ => Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("config `{key}` is required but not set"),
                )),
            },
            "meta_get" | "meta_require" => {
                let meta = config.get("meta").and_then(|m| m.get(key)).cloned();
                match (meta, method) {
                    (Some(v), _) => Ok(Value::from(minijinja::value::Serde(v))),
                    (None, "meta_get") => Ok(default.unwrap_or(Value::from(()))),
                    (None, _) => Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!("meta key `{key}` is required but not set"),
                    )),
                }
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("config has no method `{method}`"),
            )),
        }
    }
}

/// `adapter`: `dispatch`, `quote`, the type name, and the warehouse's introspection
/// (`execute`, `get_relation`, `get_columns_in_relation`... in `warehouse`).
pub struct AdapterObject(pub Arc<MacroIndex>);

impl fmt::Debug for AdapterObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<adapter>")
    }
}

impl Object for AdapterObject {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "dispatch" => {
                let node = super::state_node(state);
                let local = self.0.local(node.as_deref());
                let name = args.first().and_then(Value::as_str).ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        "`adapter.dispatch` takes a macro name",
                    )
                })?;
                let kwargs = args.last().and_then(|a| Kwargs::try_from(a.clone()).ok());
                let namespace = args
                    .get(1)
                    .filter(|a| a.as_str().is_some())
                    .cloned()
                    .or_else(|| kwargs.as_ref().and_then(|k| k.get::<Option<Value>>("macro_namespace").ok().flatten()))
                    .filter(|v| !v.is_none());
                if let Some(ns) = namespace.as_ref().and_then(Value::as_str) {
                    let search = self.0.dispatch_packages(ns);
                    return match self.0.dispatch_in(local, name, &search) {
                        Ok(def) => Ok(Value::from_object(MacroRef::in_package(
                            &def.package,
                            def.name.clone(),
                            self.0.clone(),
                        ))),
                        Err(tried) => Err(Error::new(
                            ErrorKind::InvalidOperation,
                            format!(
                                "in dispatch: no macro named `{name}` found within namespace `{ns}` (searched for {})",
                                tried.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
                            ),
                        )),
                    };
                }
                let def = self.0.dispatch(local, name).ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        format!("no implementation of macro `{name}` for dispatch (looked for `datafusion__{name}` and `default__{name}`)"),
                    )
                })?;
                Ok(Value::from_object(MacroRef::in_package(
                    &def.package,
                    def.name.clone(),
                    self.0.clone(),
                )))
            }
            "quote" => {
                let s = args.first().map(|v| v.to_string()).unwrap_or_default();
                Ok(Value::from(crate::relation::quote_ident(&s)))
            }
            "type" => Ok(Value::from("datafusion")),
            "execute" => {
                let (sql, kwargs): (String, Kwargs) = minijinja::value::from_args(args)?;
                let fetch: Option<bool> = kwargs.get("fetch")?;
                let _: Option<bool> = kwargs.get("auto_begin")?;
                let _: Option<Value> = kwargs.get("limit")?;
                kwargs.assert_all_used()?;
                super::warehouse::execute(state, &sql, fetch.unwrap_or(false))
            }
            "get_columns_in_relation" => {
                let (relation,): (Value,) = minijinja::value::from_args(args)?;
                super::warehouse::get_columns(state, &relation)
            }
            "get_relation" => {
                let (positional, kwargs) = match args.split_last() {
                    Some((last, rest)) if last.is_kwargs() => (rest, Some(Kwargs::try_from(last.clone())?)),
                    _ => (args, None),
                };
                let pick = |i: usize, key: &str| -> Result<String, Error> {
                    let v = match (positional.get(i), &kwargs) {
                        (Some(v), _) => Some(v.clone()),
                        (None, Some(k)) => k.get::<Option<Value>>(key)?,
                        (None, None) => None,
                    };
                    Ok(v.filter(|v| !v.is_none()).map(|v| v.to_string()).unwrap_or_default())
                };
                let (d, s, i) = (pick(0, "database")?, pick(1, "schema")?, pick(2, "identifier")?);
                if let Some(k) = &kwargs {
                    k.assert_all_used()?;
                }
                super::warehouse::get_relation(state, &d, &s, &i)
            }
            "list_relations_without_caching" => {
                let (relation,): (Value,) = minijinja::value::from_args(args)?;
                super::warehouse::list_relations(state, &relation)
            }
            "check_schema_exists" => {
                let (_database, schema): (Value, String) = minijinja::value::from_args(args)?;
                super::warehouse::schema_exists(state, &schema)
            }
            "list_schemas" => super::warehouse::list_schemas(state),
            // Relation and schema changes, as statements on the warehouse.
            "drop_schema" | "create_schema" | "drop_relation" | "truncate_relation" | "rename_relation" => {
                let rel = |v: &Value| -> Result<Relation, Error> {
                    v.downcast_object_ref::<Relation>().cloned().ok_or_else(|| {
                        Error::new(ErrorKind::InvalidOperation, format!("`adapter.{method}` takes a relation, not {v}"))
                    })
                };
                let q = crate::relation::quote_ident;
                let sql = match (method, args) {
                    ("drop_schema", [r]) => format!("drop schema if exists {} cascade", q(&rel(r)?.schema)),
                    ("create_schema", [r]) => format!("create schema if not exists {}", q(&rel(r)?.schema)),
                    ("drop_relation", [r]) => {
                        let r = rel(r)?;
                        let what = if r.kind == crate::relation::RelationKind::View { "view" } else { "table" };
                        format!("drop {what} if exists {}.{}", q(&r.schema), q(&r.identifier))
                    }
                    ("truncate_relation", [r]) => {
                        let r = rel(r)?;
                        format!("truncate table {}.{}", q(&r.schema), q(&r.identifier))
                    }
                    ("rename_relation", [from, to]) => {
                        let (from, to) = (rel(from)?, rel(to)?);
                        format!("alter table {}.{} rename to {}", q(&from.schema), q(&from.identifier), q(&to.identifier))
                    }
                    _ => {
                        return Err(Error::new(
                            ErrorKind::InvalidOperation,
                            format!("`adapter.{method}` takes {}", if method == "rename_relation" { "two relations" } else { "a relation" }),
                        ));
                    }
                };
                super::warehouse::execute(state, &sql, false).map(|_| Value::from(""))
            }
            "get_missing_columns" => {
                let (from, to): (Value, Value) = minijinja::value::from_args(args)?;
                super::warehouse::missing_columns(state, &from, &to)
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("`adapter` has no method `{method}`"),
            )),
        }
    }
}

/// A macro namespace: `dbt.<macro>` for built-ins, `<project>.<macro>` for the root
/// project's or an installed package's.
pub struct Namespace {
    index: Arc<MacroIndex>,
    kind: NamespaceKind,
}

enum NamespaceKind {
    /// `dbt`: Silt's built-in macros, dispatched (`dbt.datediff` is `default__datediff`).
    Builtin,
    /// A project's macros: the root project's or an installed package's.
    Package(String),
    /// A package that is not installed but whose tests Silt has built in (`dbt_utils`); its
    /// other macros fail with a clear error.
    StandIn(&'static str, &'static [&'static str]),
}

impl Namespace {
    pub fn builtin(index: Arc<MacroIndex>) -> Namespace {
        Namespace {
            index,
            kind: NamespaceKind::Builtin,
        }
    }

    /// The macros of the project (root or package) named `name`.
    pub fn project(name: &str, index: Arc<MacroIndex>) -> Namespace {
        Namespace {
            index,
            kind: NamespaceKind::Package(name.to_owned()),
        }
    }

    /// A package whose tests Silt has built in; its other macros fail with a clear error.
    pub fn stand_in(name: &'static str, tests: &'static [&'static str], index: Arc<MacroIndex>) -> Namespace {
        Namespace {
            index,
            kind: NamespaceKind::StandIn(name, tests),
        }
    }
}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<namespace>")
    }
}

impl Object for Namespace {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        match &self.kind {
            NamespaceKind::StandIn(package, tests) => {
                let known = name.strip_prefix("test_").is_some_and(|t| tests.contains(&t));
                if !known {
                    let message = format!(
                        "`{package}.{name}` is not available: package `{package}` is not installed (declare it in packages.yml and run `silt deps`); Silt has these {package} tests built in: {}",
                        tests.join(", ")
                    );
                    return Some(Value::from_function(move |_: minijinja::value::Rest<Value>| -> Result<Value, Error> {
                        Err(Error::new(ErrorKind::InvalidOperation, message.clone()))
                    }));
                }
                // The test as the project defines it, else Silt's built-in one.
                let def = self.index.find(name)?;
                Some(Value::from_object(MacroRef::new(def.name.clone(), self.index.clone())))
            }
            NamespaceKind::Builtin => {
                let def = self.index.dispatch(self.index.root(), name)?;
                Some(Value::from_object(MacroRef::in_package(&def.package, def.name.clone(), self.index.clone())))
            }
            NamespaceKind::Package(package) => {
                let def = self.index.find_in(package, name)?;
                Some(Value::from_object(MacroRef::in_package(package, def.name.clone(), self.index.clone())))
            }
        }
    }
}

/// `exceptions.raise_compiler_error(msg)`, `exceptions.warn(msg)`...
#[derive(Debug)]
pub struct Exceptions;

impl Object for Exceptions {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let msg = args.first().map(|v| v.to_string()).unwrap_or_default();
        let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::from(()));
        let attr = |v: &Value, name: &str| v.get_attr(name).ok().filter(|a| !a.is_undefined()).unwrap_or(Value::from(()));
        let fail = |m: String| Err(Error::new(ErrorKind::InvalidOperation, m));
        // dbt's messages (dbt/context/exceptions_jinja.py and the errors it raises).
        match method {
            "raise_compiler_error"
            | "raise_database_error"
            | "raise_not_implemented"
            | "raise_dependency_error"
            | "raise_fail_fast_error" => fail(msg),
            "missing_config" => fail(format!(
                "Model '{}' does not define a required config parameter '{}'.",
                attr(&arg(0), "unique_id"),
                arg(1)
            )),
            "missing_materialization" => {
                let adapter = arg(1).to_string();
                let searched = if adapter == "default" { "'default'".to_owned() } else { format!("'default' and '{adapter}'") };
                fail(format!(
                    "No materialization '{}' was found for adapter {adapter}! (searched types {searched})",
                    attr(&attr(&arg(0), "config"), "materialized")
                ))
            }
            "missing_relation" => fail(format!("Relation {} not found!", arg(0))),
            "relation_wrong_type" => {
                let relation = arg(0);
                fail(format!(
                    "Trying to create {} {relation}, but it currently exists as a {}. Either drop {relation} manually, or run dbt with `--full-refresh` and dbt will drop it for you.",
                    arg(1),
                    attr(&relation, "type")
                ))
            }
            "column_type_missing" => fail(format!(
                "Contracted models require data_type to be defined for each column. Please ensure that the column name and data_type are defined within the YAML configuration for the {} column(s).",
                arg(0)
            )),
            "warn" => {
                emit_log(&format!("warning: {msg}"));
                Ok(Value::from(""))
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("`exceptions` has no method `{method}`"),
            )),
        }
    }
}

/// `builtins.ref` / `builtins.source` / `builtins.config`: the originals, for projects that
/// override `ref`. They resolve to whatever the node context defines.
#[derive(Debug)]
pub struct Builtins;

impl Object for Builtins {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "ref" | "source" | "config" => {
                let f = state.lookup(method).ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        format!("`builtins.{method}` is not available here"),
                    )
                })?;
                f.call(state, args)
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("`builtins` has no `{method}`"),
            )),
        }
    }
}

/// dbt's `try_or_compiler_error(message, func, *args, **kwargs)`: the call's value, or a
/// compiler error with `message` when it fails.
#[derive(Debug)]
pub struct TryOrCompilerError;

impl Object for TryOrCompilerError {
    fn call(self: &Arc<Self>, state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let [message, func, rest @ ..] = args else {
            return Err(Error::new(
                ErrorKind::MissingArgument,
                "try_or_compiler_error(message, func, *args) needs a message and a function",
            ));
        };
        func.call(state, rest)
            .map_err(|_| Error::new(ErrorKind::InvalidOperation, message.to_string()))
    }
}

/// Python's methods on strings, lists and dicts, which dbt macros use freely.
pub fn python_methods(
    _state: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    let arg_str = |i: usize| -> Result<String, Error> {
        args.get(i)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("`{method}` takes a string argument"),
                )
            })
    };
    let unknown = || {
        Error::new(
            ErrorKind::UnknownMethod,
            format!("{} has no method `{method}`", value.kind()),
        )
    };
    match value.kind() {
        ValueKind::String => {
            let s = value.as_str().unwrap_or_default();
            let out = match method {
                "upper" => Value::from(s.to_uppercase()),
                "lower" => Value::from(s.to_lowercase()),
                "strip" | "lstrip" | "rstrip" => {
                    let chars: Option<String> =
                        args.first().and_then(Value::as_str).map(str::to_owned);
                    let pred = |c: char| match &chars {
                        Some(set) => set.contains(c),
                        None => c.is_whitespace(),
                    };
                    Value::from(match method {
                        "strip" => s.trim_matches(pred),
                        "lstrip" => s.trim_start_matches(pred),
                        _ => s.trim_end_matches(pred),
                    })
                }
                "split" => {
                    let parts: Vec<Value> = match args.first().and_then(Value::as_str) {
                        Some(sep) => s.split(sep).map(Value::from).collect(),
                        None => s.split_whitespace().map(Value::from).collect(),
                    };
                    // Python's `split` gives a new list, which code goes on to change.
                    super::mutable::MutList::value(parts)
                }
                "replace" => Value::from(s.replace(&arg_str(0)?, &arg_str(1)?)),
                "startswith" => Value::from(s.starts_with(&arg_str(0)?)),
                "endswith" => Value::from(s.ends_with(&arg_str(0)?)),
                "title" => Value::from(
                    s.split(' ')
                        .map(|w| {
                            let mut c = w.chars();
                            c.next().map_or(String::new(), |f| {
                                f.to_uppercase().collect::<String>() + &c.as_str().to_lowercase()
                            })
                        })
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                "capitalize" => {
                    let mut c = s.chars();
                    Value::from(c.next().map_or(String::new(), |f| {
                        f.to_uppercase().collect::<String>() + &c.as_str().to_lowercase()
                    }))
                }
                "find" => Value::from(
                    s.find(&arg_str(0)?)
                        .map_or(-1, |i| s[..i].chars().count() as i64),
                ),
                "count" => Value::from(s.matches(&arg_str(0)?).count() as i64),
                "join" => {
                    let items = args.first().ok_or_else(unknown)?.try_iter()?;
                    Value::from(items.map(|v| v.to_string()).collect::<Vec<_>>().join(s))
                }
                "isdigit" => Value::from(!s.is_empty() && s.chars().all(|c| c.is_ascii_digit())),
                "isupper" => Value::from(
                    s.chars().any(char::is_alphabetic) && !s.chars().any(char::is_lowercase),
                ),
                "islower" => Value::from(
                    s.chars().any(char::is_alphabetic) && !s.chars().any(char::is_uppercase),
                ),
                "format" => {
                    let mut out = String::new();
                    let mut i = 0;
                    let mut rest = s;
                    while let Some(p) = rest.find("{}") {
                        out.push_str(&rest[..p]);
                        out.push_str(&args.get(i).map(|v| v.to_string()).unwrap_or_default());
                        i += 1;
                        rest = &rest[p + 2..];
                    }
                    out.push_str(rest);
                    Value::from(out)
                }
                _ => return Err(unknown()),
            };
            Ok(out)
        }
        ValueKind::Map => match method {
            "items" => Ok(Value::from(
                value
                    .try_iter()?
                    .map(|k| {
                        let v = value.get_item(&k).unwrap_or(Value::UNDEFINED);
                        Value::from(vec![k, v])
                    })
                    .collect::<Vec<_>>(),
            )),
            "keys" => Ok(Value::from(value.try_iter()?.collect::<Vec<_>>())),
            "values" => Ok(Value::from(
                value
                    .try_iter()?
                    .map(|k| value.get_item(&k).unwrap_or(Value::UNDEFINED))
                    .collect::<Vec<_>>(),
            )),
            "get" => {
                let key = args
                    .first()
                    .ok_or_else(|| Error::new(ErrorKind::MissingArgument, "`get` needs a key"))?;
                let found = value.get_item(key).ok().filter(|v| !v.is_undefined());
                Ok(found.unwrap_or_else(|| args.get(1).cloned().unwrap_or(Value::from(()))))
            }
            "copy" => Ok(value.clone()),
            _ => Err(unknown()),
        },
        ValueKind::Seq => match method {
            "index" => {
                let target = args.first().ok_or_else(|| {
                    Error::new(ErrorKind::MissingArgument, "`index` needs a value")
                })?;
                value
                    .try_iter()?
                    .position(|v| &v == target)
                    .map(|i| Value::from(i as i64))
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::InvalidOperation,
                            format!("{target} is not in list"),
                        )
                    })
            }
            "count" => {
                let target = args.first().cloned().unwrap_or(Value::UNDEFINED);
                Ok(Value::from(
                    value.try_iter()?.filter(|v| v == &target).count() as i64,
                ))
            }
            "copy" => Ok(value.clone()),
            _ => Err(unknown()),
        },
        _ => Err(unknown()),
    }
}
