//! Unit tests in dbt 1.8's YAML (`unit_tests:`): a model, the rows given for each of its
//! inputs, the rows expected out, and overrides of vars, env vars and macros. Read here
//! into plain data and added to the project as nodes of type `unit_test`; the execute
//! stage runs them on in-memory tables.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value as Json};

use crate::project::{Project, ProjectNode, ResourceType, YamlRef};
use crate::config::{ConfigMap, merge_into};
use crate::diagnostic::{Diagnostic, Diagnostics, Span, did_you_mean};
use crate::yaml::{Node, YamlDoc};

/// How a fixture's rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixtureFormat {
    /// A list of mappings, one per row (the default).
    Dict,
    /// CSV text with a header line.
    Csv,
    /// A SQL query (`select 1 as id union all ...`).
    Sql,
}

/// Rows given to, or expected from, a unit test.
#[derive(Debug, Clone)]
pub enum FixtureRows {
    /// Rows as mappings from column to value.
    Dict(Vec<Map<String, Json>>),
    /// CSV text, header first.
    Csv(String),
    /// A query producing the rows.
    Sql(String),
}

/// One input of a unit test.
#[derive(Debug, Clone)]
pub struct Given {
    /// As written: `ref('stg_orders')`, `source('shop', 'orders')` or `this`.
    pub input: String,
    pub rows: FixtureRows,
    pub span: Span,
}

/// What overrides a unit test sets.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub macros: Map<String, Json>,
    pub vars: Map<String, Json>,
    pub env_vars: Map<String, Json>,
}

/// A unit test: the model it tests, its inputs and expected rows.
#[derive(Debug, Clone)]
pub struct UnitTestSpec {
    /// The tested model's name.
    pub model: String,
    pub given: Vec<Given>,
    pub expect: FixtureRows,
    pub expect_span: Span,
    pub overrides: Overrides,
    /// Where the unit test is declared.
    pub span: Span,
    pub model_span: Span,
}

/// Reads every `unit_tests:` entry of the project's properties files into nodes.
pub(crate) fn add_unit_tests(project: &mut Project, diags: &mut Diagnostics) {
    let refs = std::mem::take(&mut project.unit_tests);
    let mut out = Vec::new();
    for at in &refs {
        let doc = &project.yaml_files[at.file];
        let Some(node) = project.yaml_node(*at) else {
            continue;
        };
        match read_one(project, doc, node, *at) {
            Ok(n) => {
                if out.iter().any(|o: &ProjectNode| o.unique_id == n.unique_id) {
                    diags.push(
                        Diagnostic::error(format!(
                            "unit test `{}` of model `{}` is declared twice",
                            n.name,
                            n.unit.as_ref().map_or("", |u| u.model.as_str())
                        ))
                        .with_span(doc.span(node.id)),
                    );
                    continue;
                }
                out.push(n);
            }
            Err(d) => diags.push(d),
        }
    }
    project.unit_tests = refs;
    project.nodes.extend(out);
}

fn str_at(doc: &YamlDoc, node: &Node, key: &str) -> Result<Option<String>, Diagnostic> {
    match node.get(key) {
        None => Ok(None),
        Some(v) if v.is_null() => Ok(None),
        Some(v) => v.scalar_text().map(Some).ok_or_else(|| {
            Diagnostic::error(format!("`{key}` must be a string, not {}", v.kind()))
                .with_span(doc.span(v.id))
        }),
    }
}

fn read_one(
    project: &Project,
    doc: &YamlDoc,
    node: &Node,
    at: YamlRef,
) -> Result<ProjectNode, Diagnostic> {
    let name = str_at(doc, node, "name")?.ok_or_else(|| {
        Diagnostic::error("a unit test needs a `name`").with_span(doc.span(node.id))
    })?;
    let model_node = node.get("model").ok_or_else(|| {
        Diagnostic::error(format!("unit test `{name}` needs a `model`")).with_span(doc.span(node.id))
    })?;
    let model = str_at(doc, node, "model")?.unwrap_or_default();
    let model_span = doc.span(model_node.id);
    if node.get("versions").is_some() {
        return Err(Diagnostic::error("model versions are not supported yet")
            .with_span(doc.span(node.id)));
    }
    let models: Vec<&ProjectNode> = project
        .nodes
        .iter()
        .filter(|n| n.resource_type == ResourceType::Model)
        .collect();
    if !models.iter().any(|m| m.name == model) {
        let mut d = Diagnostic::error(format!(
            "unit test `{name}` tests `{model}`, which is not a model of this project"
        ))
        .with_span(model_span.clone());
        if let Some(s) = did_you_mean(&model, models.iter().map(|m| m.name.as_str())) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        return Err(d);
    }
    let mut given = Vec::new();
    match node.get("given") {
        None => {}
        Some(g) if g.is_null() => {}
        Some(g) => {
            let Some(items) = g.as_seq() else {
                return Err(Diagnostic::error("`given` must be a list of inputs")
                    .with_span(doc.span(g.id)));
            };
            for item in items {
                let input = str_at(doc, item, "input")?.ok_or_else(|| {
                    Diagnostic::error("each `given` entry needs an `input` (such as `ref('stg_orders')`)")
                        .with_span(doc.span(item.id))
                })?;
                let rows = read_fixture(project, doc, item)?;
                given.push(Given {
                    input: input.trim().to_owned(),
                    rows,
                    span: doc.span(item.get("input").map_or(item.id, |n| n.id)),
                });
            }
        }
    }
    let expect_node = node.get("expect").ok_or_else(|| {
        Diagnostic::error(format!("unit test `{name}` needs `expect` rows")).with_span(doc.span(node.id))
    })?;
    let expect = read_fixture(project, doc, expect_node)?;
    let mut overrides = Overrides::default();
    if let Some(o) = node.get("overrides").filter(|o| !o.is_null()) {
        for (key, slot) in [
            ("macros", &mut overrides.macros),
            ("vars", &mut overrides.vars),
            ("env_vars", &mut overrides.env_vars),
        ] {
            match o.get(key) {
                None => {}
                Some(v) if v.is_null() => {}
                Some(v) => match v.to_json() {
                    Json::Object(m) => *slot = m,
                    _ => {
                        return Err(Diagnostic::error(format!(
                            "`overrides.{key}` must be a mapping, not {}",
                            v.kind()
                        ))
                        .with_span(doc.span(v.id)));
                    }
                },
            }
        }
    }
    let project_name = project.yaml_packages[at.file].clone();
    let dirs = crate::project::properties::fqn_dirs(&project.settings, &project_name, &doc.file);
    let mut fqn = vec![project_name.clone()];
    fqn.extend(dirs.iter().cloned());
    fqn.push(model.clone());
    fqn.push(name.clone());
    let (mut config, mut unrendered) = project.tree_config("unit_tests", &fqn);
    let mut own = ConfigMap::new();
    if let Some(c) = node.get("config").and_then(Node::as_map) {
        for e in c {
            own.insert(crate::config::normalize_key(&e.key), e.value.to_json());
        }
    }
    merge_into(&mut config, &own);
    merge_into(&mut unrendered, &own);
    let rel_path = doc
        .file
        .split_once('/')
        .map_or(doc.file.as_str(), |(_, rest)| rest)
        .to_owned();
    Ok(ProjectNode {
        unique_id: format!("unit_test.{project_name}.{model}.{name}"),
        resource_type: ResourceType::UnitTest,
        name: name.clone(),
        package_dir: project.settings.project_named(&project_name).map(|p| p.dir.clone()).unwrap_or_default(),
        package: project_name,
        path: rel_path,
        original_file_path: doc.file.clone(),
        fqn,
        meta: config
            .get("meta")
            .cloned()
            .unwrap_or(Json::Object(Default::default())),
        config,
        unrendered_config: unrendered,
        description: str_at(doc, node, "description")?.unwrap_or_default(),
        yaml: Some(at),
        unit: Some(Arc::new(UnitTestSpec {
            model,
            given,
            expect,
            expect_span: doc.span(expect_node.id),
            overrides,
            span: doc.span(node.id),
            model_span,
        })),
        ..ProjectNode::default()
    })
}

/// Reads the rows of a `given` entry or of `expect`: inline `rows` in the declared
/// `format`, or a `fixture` file from a `fixtures` folder under the test paths.
fn read_fixture(project: &Project, doc: &YamlDoc, node: &Node) -> Result<FixtureRows, Diagnostic> {
    let format = match str_at(doc, node, "format")?.as_deref() {
        None | Some("dict") => FixtureFormat::Dict,
        Some("csv") => FixtureFormat::Csv,
        Some("sql") => FixtureFormat::Sql,
        Some(other) => {
            let at = node.get("format").map_or(node.id, |n| n.id);
            return Err(Diagnostic::error(format!(
                "fixture format `{other}` is not one of dict, csv, sql"
            ))
            .with_span(doc.span(at)));
        }
    };
    let rows = node.get("rows").filter(|r| !r.is_null());
    let fixture = str_at(doc, node, "fixture")?;
    match (rows, fixture) {
        (Some(_), Some(_)) => Err(Diagnostic::error("give either `rows` or `fixture`, not both")
            .with_span(doc.span(node.id))),
        (Some(rows), None) => match format {
            FixtureFormat::Dict => {
                let Some(items) = rows.as_seq() else {
                    return Err(Diagnostic::error(format!(
                        "`rows` in dict format must be a list of mappings, not {}",
                        rows.kind()
                    ))
                    .with_span(doc.span(rows.id))
                    .with_help("or set `format: csv` and give the rows as CSV text"));
                };
                let mut out = Vec::new();
                // Column names are case-insensitive, as the warehouse's unquoted
                // identifiers are: `TESTED_COLUMN` in one row is `tested_column` of another.
                let mut seen: Vec<String> = Vec::new();
                for item in items {
                    match item.to_json() {
                        Json::Object(m) => {
                            let mut row = serde_json::Map::new();
                            for (k, v) in m {
                                let name = match seen.iter().find(|s| s.eq_ignore_ascii_case(&k)) {
                                    Some(s) => s.clone(),
                                    None => {
                                        seen.push(k.clone());
                                        k
                                    }
                                };
                                row.insert(name, v);
                            }
                            out.push(row);
                        }
                        _ => {
                            return Err(Diagnostic::error(format!(
                                "a row must be a mapping of column to value, not {}",
                                item.kind()
                            ))
                            .with_span(doc.span(item.id)));
                        }
                    }
                }
                Ok(FixtureRows::Dict(out))
            }
            FixtureFormat::Csv | FixtureFormat::Sql => {
                let Some(text) = rows.as_str() else {
                    return Err(Diagnostic::error(format!(
                        "`rows` in {} format must be text, not {}",
                        if format == FixtureFormat::Csv { "csv" } else { "sql" },
                        rows.kind()
                    ))
                    .with_span(doc.span(rows.id)));
                };
                Ok(if format == FixtureFormat::Csv {
                    FixtureRows::Csv(text.to_owned())
                } else {
                    FixtureRows::Sql(text.to_owned())
                })
            }
        },
        (None, Some(name)) => {
            let at = node.get("fixture").map_or(node.id, |n| n.id);
            let ext = match format {
                FixtureFormat::Sql => "sql",
                // dict fixtures are not files in dbt either; a file is CSV by default.
                _ => "csv",
            };
            let found = find_fixture(project, &name, ext).ok_or_else(|| {
                Diagnostic::error(format!(
                    "fixture `{name}` not found: looked for `{name}.{ext}` in a `fixtures` folder under {}",
                    project.settings.project.test_paths.join(", ")
                ))
                .with_span(doc.span(at))
            })?;
            let text = std::fs::read_to_string(&found).map_err(|e| {
                Diagnostic::error(format!("cannot read fixture `{}`: {e}", found.display()))
                    .with_span(doc.span(at))
            })?;
            Ok(if ext == "sql" {
                FixtureRows::Sql(text)
            } else {
                FixtureRows::Csv(text)
            })
        }
        (None, None) => {
            if format == FixtureFormat::Dict {
                // `rows: []` or no rows: an empty input.
                Ok(FixtureRows::Dict(Vec::new()))
            } else {
                Err(Diagnostic::error("give the fixture's `rows` or a `fixture` file")
                    .with_span(doc.span(node.id)))
            }
        }
    }
}

fn find_fixture(project: &Project, name: &str, ext: &str) -> Option<std::path::PathBuf> {
    let file = format!("{name}.{ext}");
    for tp in &project.settings.project.test_paths {
        let dir = project.settings.root.join(tp).join("fixtures");
        if let Some(p) = find_in(&dir, &file, 0) {
            return Some(p);
        }
    }
    None
}

fn find_in(dir: &Path, file: &str, depth: usize) -> Option<std::path::PathBuf> {
    if depth > 8 {
        return None;
    }
    let direct = dir.join(file);
    if direct.is_file() {
        return Some(direct);
    }
    let mut subdirs: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.join("project.yml").exists() && !p.join("dbt_project.yml").exists())
        .collect();
    subdirs.sort();
    subdirs.iter().find_map(|d| find_in(d, file, depth + 1))
}
