//! Checks of what the parse render found, and where their errors point: a node's config
//! keys and contract, a generic test's name and arguments.

use serde_json::Value as Json;

use crate::config::ConfigMap;
use crate::diagnostic::{Diagnostic, Span, did_you_mean};
use crate::project::{Project, ProjectNode, ResourceType};
use crate::template::Templates;

use super::config::{Materialization, NodeConfig};

/// An enforced contract must be one Silt can check: columns declared, constraints of
/// known types with what they need. (Types are checked when the model is planned.)
pub(super) fn check_contract(
    project: &Project,
    node: &ProjectNode,
    config: &NodeConfig,
) -> Result<(), Diagnostic> {
    if !config.contract_enforced || node.resource_type != ResourceType::Model {
        return Ok(());
    }
    let model_span = || match node.yaml {
        Some(at) => project.span(at),
        None => Span::file(node.original_file_path.clone()),
    };
    let name = &node.name;
    if config.materialized == Materialization::Ephemeral {
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
pub(super) fn check_test_signature(
    project: &Project,
    templates: &Templates,
    node: &ProjectNode,
    meta: &crate::project::testing::generic::TestMetadata,
) -> Result<(), Diagnostic> {
    // Locating a YAML node re-reads its file: only for an error.
    let span = || project.span(meta.at);
    let shown = match &meta.namespace {
        Some(ns) => format!("{ns}.{}", meta.name),
        None => meta.name.clone(),
    };
    let installed = |ns: &str| project.settings.project_named(ns).is_some();
    match meta.namespace.as_deref() {
        None | Some("dbt") => {}
        Some(ns) if installed(ns) => {}
        Some("dbt_utils") => {
            if !crate::template::DBT_UTILS_TESTS.contains(&meta.name.as_str()) {
                return Err(Diagnostic::error(format!(
                    "test `{shown}` is not available: package `dbt_utils` is not installed"
                ))
                .with_span(span())
                .with_help(format!(
                    "declare dbt_utils in packages.yml and run `silt deps`; without it, Silt has these dbt_utils tests built in: {}",
                    crate::template::DBT_UTILS_TESTS.join(", "),
                )));
            }
        }
        Some(ns) => {
            return Err(Diagnostic::error(format!(
                "test `{shown}` comes from package `{ns}`, which is not installed"
            ))
            .with_span(span())
            .with_help(format!(
                "declare `{ns}` in packages.yml and run `silt deps`, or define `{{% test {} %}}` in the project and use it as `{}`",
                meta.name, meta.name
            )));
        }
    }
    let macro_name = format!("test_{}", meta.name);
    // Found as the test node's own render finds it: a bare name in the package declaring
    // the test, then the root project, then the built-in tests.
    let def = match meta.namespace.as_deref() {
        Some(ns) if installed(ns) || ns == "dbt" => templates.macro_in(ns, &macro_name),
        Some(_) => templates.macro_in(project.settings.project.name.as_str(), &macro_name)
            .or_else(|| templates.macro_in("dbt", &macro_name)),
        None => templates.macro_for(&node.package, &macro_name),
    };
    let Some((params, any_keyword, builtin)) = def.map(|d| (d.params.clone(), d.body.contains("kwargs"), d.package == "dbt")) else {
        let mut d = Diagnostic::error(format!("unknown data test `{shown}`")).with_span(span());
        let elsewhere = templates.packages_defining(&macro_name);
        if meta.namespace.is_none() && let Some(p) = elsewhere.first() {
            return Err(d.with_help(format!(
                "package `{p}` defines it; a test from another package is named with its package: `{p}.{}`",
                meta.name
            )));
        }
        let known: Vec<String> = templates
            .macros()
            .filter(|m| m.kind == crate::template::MacroKind::Test)
            .filter(|m| match meta.namespace.as_deref() {
                Some(ns) => m.package == ns,
                None => m.package == *node.package || m.package == project.settings.project.name || m.package == "dbt",
            })
            .filter_map(|m| m.name.strip_prefix("test_").map(str::to_owned))
            .collect();
        d = match did_you_mean(&meta.name, known.iter().map(String::as_str)) {
            Some(s) => match &meta.namespace {
                Some(ns) => d.with_help(format!("did you mean `{ns}.{s}`?")),
                None => d.with_help(format!("did you mean `{s}`?")),
            },
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
        // A project's or package's test macro sees a missing argument as undefined, as in
        // dbt (`{% set compare_model = model if not compare_model %}`); Silt's built-in
        // tests name what they need. A missing column is always named.
        if !builtin && param != "column_name" {
            continue;
        }
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
    meta: &crate::project::testing::generic::TestMetadata,
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
pub(super) fn test_render_error(
    project: &Project,
    templates: &Templates,
    node: &ProjectNode,
    meta: &crate::project::testing::generic::TestMetadata,
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
pub(super) fn check_inline_config_keys(
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
    // A generic test's code is generated (its `config()` call repeats its YAML): its
    // configs are found in the YAML.
    if let Some(pos) = find_config_key(text, key).filter(|_| node.test.is_none()) {
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
