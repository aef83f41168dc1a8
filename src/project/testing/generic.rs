//! Generic data tests declared in YAML (`data_tests:`, or the older `tests:`, on models,
//! seeds, sources and their columns), turned into test nodes named exactly as dbt names
//! them, so that `run_results.json` lines up with dbt's for the same project.
//!
//! dbt's naming (`synthesize_generic_test_names` and `SchemaGenericTestParser` in
//! dbt-core): the name is the test, the target and the flattened arguments; names of 64
//! characters or more get a short alias with an md5; the unique id ends with the last ten
//! hex digits of an md5 over the name and Python's `repr` of the test's metadata. Those
//! Python spellings (`True`, `None`, `1.0`, `['a', 'b']`) are reproduced here.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value as Json};

use crate::project::{Project, ProjectNode, ResourceType, YamlRef};
use crate::config::{ConfigMap, merge_into, string_list};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::yaml::{Node, NodeId, Yaml, YamlDoc};

/// Keys of a test entry that are configs, not arguments (dbt's `TestBuilder.CONFIG_ARGS`).
pub const CONFIG_ARGS: &[&str] = &[
    "severity",
    "tags",
    "enabled",
    "where",
    "limit",
    "warn_if",
    "error_if",
    "fail_calc",
    "store_failures",
    "store_failures_as",
    "meta",
    "database",
    "schema",
    "alias",
];

/// What a generic test is (dbt's `test_metadata`, with where it came from).
#[derive(Debug, Clone)]
pub struct TestMetadata {
    /// The test's name without namespace: `not_null`, `accepted_range`, a project test.
    pub name: String,
    /// `dbt_utils` in `dbt_utils.accepted_range`.
    pub namespace: Option<String>,
    /// The arguments as written, not yet rendered, with `column_name` and `model`.
    pub kwargs: Map<String, Json>,
    /// The column the test is declared on (quoted when the column is).
    pub column_name: Option<String>,
    /// The unique id of the model, seed or source the test is declared on.
    pub attached_node: String,
    /// The properties key and target name: `models.orders`, `sources.shop`.
    pub file_key_name: String,
    /// The configs given in the test's YAML entry, rendered: they win over `config()`
    /// calls in the test's macro (dbt applies them last).
    pub yaml_config: ConfigMap,
    /// The test's entry in its YAML file.
    pub at: YamlRef,
}

impl TestMetadata {
    /// The macro that implements the test: `test_<name>`, or `<namespace>.test_<name>`.
    pub fn macro_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}.test_{}", self.name),
            None => format!("test_{}", self.name),
        }
    }

    /// The template that runs the test: its macro called with the test's arguments. (The
    /// node's `raw_code` adds its YAML configs, as dbt writes it.)
    pub fn call(&self) -> String {
        format!("{{{{ {}(**_dbt_generic_test_kwargs) }}}}", self.macro_name())
    }
}

/// A generic test's configs from its YAML entry as a `config()` call, as dbt appends it to
/// the test's `raw_code` (so a changed config changes the code `state:` compares): the
/// keys of `CONFIG_ARGS` first in that order, then the others as written, strings in
/// double quotes and the rest as Python prints them.
fn config_call(config: &ConfigMap) -> String {
    let ordered = CONFIG_ARGS
        .iter()
        .filter_map(|k| config.get_key_value(*k))
        .chain(config.iter().filter(|(k, _)| !CONFIG_ARGS.contains(&k.as_str())));
    let args: Vec<String> = ordered
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| match v {
            Json::String(s) => format!("{k}=\"{}\"", s.replace('"', "\\\"")),
            other => format!("{k}={}", py_repr(other)),
        })
        .collect();
    if args.is_empty() {
        String::new()
    } else {
        format!("{{{{ config({}) }}}}", args.join(","))
    }
}

/// The parts of a test entry (`- unique`, `- accepted_values: {values: [...]}`,
/// `- {test_name: unique, name: my_test}`).
struct TestEntry {
    namespace: Option<String>,
    name: String,
    args: Map<String, Json>,
    config: ConfigMap,
    custom_name: Option<String>,
    description: String,
}

/// A test entry of a target, with the column it is declared on (name and tags), if any.
type Entry = (YamlRef, Option<(String, Vec<String>)>);

/// Something a test can be declared on.
struct Target<'a> {
    unique_id: &'a str,
    /// `orders`, or `<source>_<table>` for a source table.
    name: String,
    /// `ref('orders')` or `source('shop', 'orders')`.
    model_arg: String,
    /// `models.orders`, `sources.shop`.
    file_key_name: String,
    is_source: bool,
    /// The tests of the target itself, then each column's, with the column's name and tags.
    entries: Vec<Entry>,
    /// The YAML file that declared the target.
    file: Option<usize>,
}

/// Adds a test node for every generic test the project's YAML declares.
pub(crate) fn add_generic_tests(project: &mut Project, diags: &mut Diagnostics) {
    let mut targets: Vec<Target> = Vec::new();
    for n in &project.nodes {
        let file_key_name = match n.resource_type {
            ResourceType::Model => "models",
            ResourceType::Seed => "seeds",
            ResourceType::Snapshot => "snapshots",
            _ => continue,
        };
        targets.push(Target {
            unique_id: &n.unique_id,
            name: n.name.clone(),
            model_arg: format!("ref('{}')", n.name),
            file_key_name: format!("{file_key_name}.{}", n.name),
            is_source: false,
            entries: entries_of(&n.tests, &n.columns),
            file: n.yaml.map(|y| y.file),
        });
    }
    for s in &project.sources {
        targets.push(Target {
            unique_id: &s.unique_id,
            name: format!("{}_{}", s.source_name, s.name),
            model_arg: format!("source('{}', '{}')", s.source_name, s.name),
            file_key_name: format!("sources.{}", s.source_name),
            is_source: true,
            entries: entries_of(&s.tests, &s.columns),
            file: Some(s.yaml.file),
        });
    }
    // Test entries are found by id; index each file that has any, once.
    let mut indexes: HashMap<usize, HashMap<NodeId, &Node>> = HashMap::new();
    let mut new_nodes: Vec<ProjectNode> = Vec::new();
    let mut seen: HashMap<String, YamlRef> = HashMap::new();
    for target in &targets {
        let Some(file) = target.file else { continue };
        if target.entries.is_empty() {
            continue;
        }
        let doc = &project.yaml_files[file];
        // The test belongs to the project of the file that declares it.
        let project_name = project.yaml_packages[file].clone();
        let in_project = project
            .settings
            .project_named(&project_name)
            .filter(|p| p.is_package())
            .and_then(|p| doc.file.strip_prefix(p.dir.as_str()))
            .and_then(|f| f.strip_prefix('/'))
            .unwrap_or(&doc.file);
        let index = indexes.entry(file).or_insert_with(|| index_doc(doc));
        // dbt's fqn of a generic test: the YAML file's folders below the first one.
        let parts: Vec<&str> = in_project.split('/').collect();
        let dirs: Vec<String> = if parts.len() > 2 {
            parts[1..parts.len() - 1].iter().map(|s| (*s).to_owned()).collect()
        } else {
            Vec::new()
        };
        for (at, column) in &target.entries {
            let Some(node) = index.get(&at.node).copied() else {
                continue;
            };
            let entry = match read_entry(doc, node) {
                Ok(e) => e,
                Err(d) => {
                    diags.push(d);
                    continue;
                }
            };
            match build_node(project, doc, &project_name, &dirs, target, *at, column.as_ref(), entry) {
                Ok(test) => {
                    if let Some(first) = seen.insert(test.unique_id.clone(), *at) {
                        let where_first = project.span(first);
                        diags.push(
                            Diagnostic::error(format!(
                                "test `{}` is declared twice with the same arguments",
                                test.name
                            ))
                            .with_span(doc.span(at.node))
                            .with_note(format!("first declared at {where_first}"))
                            .with_help("give one of them a `name:`, or remove the duplicate"),
                        );
                        continue;
                    }
                    new_nodes.push(test);
                }
                Err(d) => diags.push(d),
            }
        }
    }
    project.nodes.extend(new_nodes);
}

fn entries_of(
    tests: &[YamlRef],
    columns: &indexmap::IndexMap<String, crate::project::Column>,
) -> Vec<Entry> {
    let mut out: Vec<Entry> =
        tests.iter().map(|t| (*t, None)).collect();
    for col in columns.values() {
        let name = if col.quote == Some(true) {
            crate::relation::quote_ident(&col.name)
        } else {
            col.name.clone()
        };
        for t in &col.tests {
            out.push((*t, Some((name.clone(), col.tags.clone()))));
        }
    }
    out
}

fn index_doc(doc: &YamlDoc) -> HashMap<NodeId, &Node> {
    let mut index = HashMap::new();
    doc.root.walk(&mut |n| {
        index.insert(n.id, n);
    });
    index
}

/// Whether `s` is a Jinja-style identifier.
fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn read_entry(doc: &YamlDoc, node: &Node) -> Result<TestEntry, Diagnostic> {
    let (full_name, name_id, args_node): (String, NodeId, Option<&Node>) = match &node.value {
        Yaml::String(s) => (s.clone(), node.id, None),
        Yaml::Map(entries) => {
            if let Some(t) = node.get("test_name") {
                let Some(name) = t.as_str() else {
                    return Err(Diagnostic::error("`test_name` must be a string")
                        .with_span(doc.span(t.id)));
                };
                (name.to_owned(), t.id, Some(node))
            } else if entries.len() == 1 {
                let e = &entries[0];
                (e.key.clone(), e.key_id, Some(&e.value))
            } else {
                let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
                return Err(Diagnostic::error(format!(
                    "a test must be a name, or a mapping with one key (the test's name), not a mapping of {}",
                    keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                ))
                .with_span(doc.span(node.id))
                .with_help("indent the arguments under the test's name, e.g. `- accepted_values:` then `values: [...]` below it"));
            }
        }
        _ => {
            return Err(Diagnostic::error(format!(
                "a test must be a name or a mapping, not {}",
                node.kind()
            ))
            .with_span(doc.span(node.id)));
        }
    };
    let (namespace, name) = match full_name.split_once('.') {
        Some((ns, n)) => (Some(ns.to_owned()), n.to_owned()),
        None => (None, full_name.clone()),
    };
    if !is_ident(&name) || namespace.as_deref().is_some_and(|n| !is_ident(n)) {
        return Err(Diagnostic::error(format!("`{full_name}` is not a valid test name"))
            .with_span(doc.span(name_id)));
    }
    let mut args = Map::new();
    let mut config = ConfigMap::new();
    let mut custom_name = None;
    let mut description = String::new();
    let mut arguments: Option<&Node> = None;
    match args_node {
        None => {}
        Some(n) if n.is_null() => {}
        Some(n) => {
            let Some(entries) = n.as_map() else {
                return Err(Diagnostic::error(format!(
                    "the arguments of test `{full_name}` must be a mapping, not {}",
                    n.kind()
                ))
                .with_span(doc.span(n.id)));
            };
            for e in entries {
                let key = e.key.as_str();
                if key == "test_name" && std::ptr::eq(n, node) {
                    continue;
                }
                match key {
                    "config" => match e.value.as_map() {
                        Some(c) => {
                            for ce in c {
                                config.insert(
                                    crate::config::normalize_key(&ce.key),
                                    ce.value.to_json(),
                                );
                            }
                        }
                        None if e.value.is_null() => {}
                        None => {
                            return Err(Diagnostic::error(format!(
                                "`config` must be a mapping, not {}",
                                e.value.kind()
                            ))
                            .with_span(doc.span(e.value.id)));
                        }
                    },
                    "arguments" => {
                        if !e.value.is_null() && e.value.as_map().is_none() {
                            return Err(Diagnostic::error(format!(
                                "`arguments` must be a mapping, not {}",
                                e.value.kind()
                            ))
                            .with_span(doc.span(e.value.id)));
                        }
                        arguments = Some(&e.value);
                    }
                    "name" => match e.value.as_str() {
                        Some(s) => custom_name = Some(s.to_owned()),
                        None => {
                            return Err(Diagnostic::error("a test's `name` must be a string")
                                .with_span(doc.span(e.value.id)));
                        }
                    },
                    "description" => description = e.value.scalar_text().unwrap_or_default(),
                    "model" => {
                        return Err(Diagnostic::error(
                            "`model` is a reserved test argument: Silt passes the tested relation in it",
                        )
                        .with_span(doc.span(e.key_id)));
                    }
                    k if CONFIG_ARGS.contains(&k) => {
                        // The older spelling: configs beside the arguments. `config:` wins.
                        if !config.contains_key(k) {
                            config.insert(k.to_owned(), e.value.to_json());
                        }
                    }
                    _ => {
                        args.insert(e.key.clone(), e.value.to_json());
                    }
                }
            }
        }
    }
    if let Some(a) = arguments {
        for e in a.as_map().unwrap_or(&[]) {
            if e.key == "model" {
                return Err(Diagnostic::error(
                    "`model` is a reserved test argument: Silt passes the tested relation in it",
                )
                .with_span(doc.span(e.key_id)));
            }
            args.insert(e.key.clone(), e.value.to_json());
        }
    }
    Ok(TestEntry {
        namespace,
        name,
        args,
        config,
        custom_name,
        description,
    })
}

#[allow(clippy::too_many_arguments)]
fn build_node(
    project: &Project,
    doc: &YamlDoc,
    project_name: &str,
    dirs: &[String],
    target: &Target,
    at: YamlRef,
    column: Option<&(String, Vec<String>)>,
    mut entry: TestEntry,
) -> Result<ProjectNode, Diagnostic> {
    if let Some((col, _)) = column {
        entry
            .args
            .insert("column_name".to_owned(), Json::String(col.clone()));
    }
    // dbt's `get_synthetic_test_names`: tests on sources are `source_<test>`, and a
    // namespace comes first (`dbt_utils_source_...`).
    let base = if target.is_source {
        format!("source_{}", entry.name)
    } else {
        entry.name.clone()
    };
    let test_type = match &entry.namespace {
        Some(ns) => format!("{ns}_{base}"),
        None => base,
    };
    let (short_name, full_name) = match &entry.custom_name {
        Some(n) => (n.clone(), n.clone()),
        None => synthesize_names(&test_type, &target.name, &entry.args),
    };
    entry.args.insert(
        "model".to_owned(),
        Json::String(format!("{{{{ get_where_subquery({}) }}}}", target.model_arg)),
    );
    let metadata = serde_json::json!({
        "name": entry.name,
        "kwargs": Json::Object(entry.args.clone()),
        "namespace": entry.namespace,
    });
    let hash = md5_hex(&format!("{full_name}{}", py_repr(&hashable(&metadata))));
    let unique_id = format!("test.{project_name}.{full_name}.{}", &hash[hash.len() - 10..]);
    let mut fqn = vec![project_name.to_owned()];
    fqn.extend(dirs.iter().cloned());
    fqn.push(full_name.clone());

    // Configs: the project's `data_tests:` tree, then the entry's own (rendered: dbt renders
    // a test's configs, such as a `where` with `var()` in it).
    let (mut config, mut unrendered) = project.tree_config("data_tests", &fqn);
    let mut yaml_config = entry.config.clone();
    render_config(project, doc, at, &mut yaml_config)?;
    let mut call_config = yaml_config.clone();
    let column_tags = column.map(|(_, t)| t.clone()).unwrap_or_default();
    let mut tags: Vec<String> = column_tags;
    tags.extend(string_list(yaml_config.get("tags")));
    tags.sort();
    tags.dedup();
    yaml_config.shift_remove("tags");
    merge_into(&mut config, &yaml_config);
    merge_into(&mut unrendered, &entry.config);
    let rendered_yaml_config = yaml_config.clone();
    if !tags.is_empty() {
        let mut t = ConfigMap::new();
        t.insert(
            "tags".to_owned(),
            Json::Array(tags.into_iter().map(Json::String).collect()),
        );
        merge_into(&mut config, &t);
    }
    if short_name != full_name && !config.contains_key("alias") {
        config.insert("alias".to_owned(), Json::String(short_name.clone()));
    }
    if short_name != full_name && !call_config.contains_key("alias") {
        call_config.insert("alias".to_owned(), Json::String(short_name.clone()));
    }
    let meta = config
        .get("meta")
        .cloned()
        .unwrap_or(Json::Object(Default::default()));
    let metadata = TestMetadata {
        name: entry.name,
        namespace: entry.namespace,
        kwargs: entry.args,
        column_name: column.map(|(c, _)| c.clone()),
        attached_node: target.unique_id.to_owned(),
        file_key_name: target.file_key_name.clone(),
        yaml_config: rendered_yaml_config,
        at,
    };
    let raw_code = format!("{}{}", metadata.call(), config_call(&call_config));
    Ok(ProjectNode {
        unique_id,
        resource_type: ResourceType::Test,
        name: full_name,
        package: project_name.to_owned(),
        package_dir: project.settings.project_named(project_name).map(|p| p.dir.clone()).unwrap_or_default(),
        path: format!("{short_name}.sql"),
        original_file_path: doc.file.clone(),
        fqn,
        raw_code: Arc::from(raw_code),
        config,
        unrendered_config: unrendered,
        description: entry.description,
        meta,
        yaml: Some(at),
        test: Some(Arc::new(metadata)),
        ..ProjectNode::default()
    })
}

/// Renders the Jinja in a test's string configs (`where: "day > '{{ var('start') }}'"`).
fn render_config(
    project: &Project,
    doc: &YamlDoc,
    at: YamlRef,
    config: &mut ConfigMap,
) -> Result<(), Diagnostic> {
    for value in config.values_mut() {
        if let Json::String(s) = value
            && (s.contains("{{") || s.contains("{%")) {
                let rendered = crate::template::render_settings_value(
                    &doc.file,
                    s,
                    &project.settings.vars,
                    Some(&project.settings.target.jinja),
                )
                .map_err(|e| Diagnostic::error(e.message).with_span(doc.span(at.node)))?;
                *s = rendered;
            }
    }
    Ok(())
}

/// dbt's `synthesize_generic_test_names`: (short name for files and the alias, full name).
pub fn synthesize_names(test_type: &str, target: &str, args: &Map<String, Json>) -> (String, String) {
    let mut keys: Vec<&String> = args.keys().filter(|k| *k != "model").collect();
    keys.sort();
    let mut flat: Vec<String> = Vec::new();
    for k in keys {
        match &args[k] {
            Json::Object(m) => flat.extend(m.values().map(py_str)),
            Json::Array(items) => flat.extend(items.iter().map(py_str)),
            other => flat.push(py_str(other)),
        }
    }
    let clean: Vec<String> = flat.iter().map(|s| clean_arg(s)).collect();
    let unique = clean.join("__");
    let identifier = format!("{test_type}_{target}");
    let full = format!("{identifier}_{unique}");
    if full.chars().count() >= 64 {
        let trunc: String = identifier.chars().take(30).collect();
        (format!("{trunc}_{}", md5_hex(&full)), full)
    } else {
        (full.clone(), full)
    }
}

/// `re.sub("[^0-9a-zA-Z_]+", "_", s)`.
fn clean_arg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_run = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    out
}

pub fn md5_hex(s: &str) -> String {
    use md5::Digest;
    format!("{:x}", md5::Md5::digest(s.as_bytes()))
}

/// dbt's `get_hashable_md`: dicts with sorted keys, lists kept, every other value `str()`.
fn hashable(v: &Json) -> Json {
    match v {
        Json::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Json::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), hashable(&m[k])))
                    .collect(),
            )
        }
        Json::Array(items) => Json::Array(items.iter().map(hashable).collect()),
        other => Json::String(py_str(other)),
    }
}

/// Python's `str()` of a value parsed from YAML.
pub fn py_str(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr()` of a value parsed from YAML.
pub fn py_repr(v: &Json) -> String {
    match v {
        Json::Null => "None".to_owned(),
        Json::Bool(true) => "True".to_owned(),
        Json::Bool(false) => "False".to_owned(),
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) if !n.is_f64() => i.to_string(),
            (_, Some(u), _) if !n.is_f64() => u.to_string(),
            (_, _, Some(f)) => py_float(f),
            _ => n.to_string(),
        },
        Json::String(s) => py_str_repr(s),
        Json::Array(items) => format!(
            "[{}]",
            items.iter().map(py_repr).collect::<Vec<_>>().join(", ")
        ),
        Json::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", py_str_repr(k), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Python's `repr()` of a float: the shortest round-trip digits, in exponent form below
/// 1e-4 and from 1e16.
fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    // `{:e}` gives the shortest digits that round-trip, as Python's repr does.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if negative { "-" } else { "" };
    if !(-4..16).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let m = if rest.is_empty() {
            first.to_owned()
        } else {
            format!("{first}.{rest}")
        };
        let e = if exp < 0 {
            format!("-{:02}", -exp)
        } else {
            format!("+{exp:02}")
        };
        return format!("{sign}{m}e{e}");
    }
    let point = exp + 1; // digits before the decimal point
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{a}.{b}")
    };
    format!("{sign}{body}")
}

/// Python's `repr()` of a string: single quotes unless the text has a single quote and no
/// double quote; backslashes, the quote and control characters escaped.
fn py_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if (0x80..0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Json) -> Map<String, Json> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn names_follow_dbt() {
        let (short, full) = synthesize_names("not_null", "orders", &args(json!({"column_name": "order_id", "model": "x"})));
        assert_eq!(full, "not_null_orders_order_id");
        assert_eq!(short, full);
        let (_, full) = synthesize_names(
            "relationships",
            "orders",
            &args(json!({"column_name": "customer_id", "to": "ref('customers')", "field": "customer_id"})),
        );
        assert_eq!(full, "relationships_orders_customer_id__customer_id__ref_customers_");
        let (short, full) = synthesize_names(
            "accepted_values",
            "stg_payments",
            &args(json!({"column_name": "payment_method", "values": ["credit_card", "coupon", "bank_transfer", "gift_card"]})),
        );
        assert_eq!(full, "accepted_values_stg_payments_payment_method__credit_card__coupon__bank_transfer__gift_card");
        assert_eq!(short, format!("accepted_values_stg_payments_{}", md5_hex(&full)));
        let (_, full) = synthesize_names("dbt_utils_not_empty", "orders", &Map::new());
        assert_eq!(full, "dbt_utils_not_empty_orders_");
        let (_, full) = synthesize_names("accepted_values", "t", &args(json!({"column_name": "n", "values": [1, 2.5], "quote": false})));
        assert_eq!(full, "accepted_values_t_n__False__1__2_5");
    }

    #[test]
    fn python_reprs() {
        assert_eq!(py_repr(&json!(1.0)), "1.0");
        assert_eq!(py_repr(&json!(0.1)), "0.1");
        assert_eq!(py_repr(&json!(1e20)), "1e+20");
        assert_eq!(py_repr(&json!(0.00001)), "1e-05");
        assert_eq!(py_repr(&json!(123456.5)), "123456.5");
        assert_eq!(py_repr(&json!(-2.5)), "-2.5");
        assert_eq!(py_repr(&json!("it's")), "\"it's\"");
        assert_eq!(py_repr(&json!("a'b\"c")), "'a\\'b\"c'");
        assert_eq!(
            py_repr(&hashable(&json!({"name": "x", "kwargs": {"values": [1, true]}, "namespace": null}))),
            "{'kwargs': {'values': ['1', 'True']}, 'name': 'x', 'namespace': 'None'}"
        );
    }
}
