//! YAML properties files (`version: 2`): models, seeds, sources, macros and the rest.
//!
//! Each file is parsed, its keys checked against dbt's schema, its values rendered (Jinja
//! such as `schema: "{{ target.schema }}"`, except descriptions, tests and hooks, which dbt
//! renders later), and what it says is attached to the nodes it names.

use std::collections::{BTreeMap, HashMap};

use indexmap::IndexMap;
use serde_json::Value as Json;

use super::{Column, Project, ResourceType, SourceFile, SourceTable, YamlRef};
use crate::config::{ConfigMap, merge_into};
use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use crate::settings::schema;
use crate::template::{render_description, render_settings_value};
use crate::yaml::{Node, NodeId, Yaml, YamlDoc};

/// Keys dbt renders later, or never, in properties files (`SchemaYamlRenderer`).
fn is_norender(doc: &YamlDoc, id: NodeId) -> bool {
    let path = doc.path_string(id);
    let segments: Vec<&str> = path.split(['.', '[']).collect();
    segments.iter().any(|s| {
        matches!(
            *s,
            "description"
                | "data_tests"
                | "tests"
                | "pre-hook"
                | "post-hook"
                | "pre_hook"
                | "post_hook"
                | "unit_tests"
        )
    })
}

pub fn apply_yaml(project: &mut Project, files: &[SourceFile], diags: &mut Diagnostics) {
    // Parsing, checking and rendering each file is independent work: spread it.
    let settings = &project.settings;
    let prepared = crate::par::map_min(files, 8, |file| {
        let mut found = Diagnostics::new();
        let doc = prepare_file(settings, file, &mut found);
        (doc, found)
    });
    for ((doc, found), file) in prepared.into_iter().zip(files) {
        diags.extend(found);
        if let Some(doc) = doc {
            project.yaml_files.push(doc);
            project.yaml_packages.push(file.package.to_string());
        }
    }
    // Each file's entries patch nodes; the files are only read, the nodes written.
    let Project {
        settings,
        nodes,
        sources,
        macro_docs,
        unit_tests,
        yaml_files,
        yaml_packages,
        ..
    } = project;
    let mut patcher = Patcher {
        settings,
        package: String::new(),
        node_index: nodes
            .iter()
            .enumerate()
            .map(|(i, n)| ((n.resource_type, n.package.clone(), n.name.clone()), i))
            .collect(),
        nodes,
        sources,
        macro_docs,
        unit_tests,
        described: HashMap::new(),
    };
    for (index, doc) in yaml_files.iter().enumerate() {
        let package = yaml_packages[index].as_str();
        patcher.package = package.to_owned();
        let fqn_dirs = fqn_dirs(patcher.settings, package, &doc.file);
        for entry in doc.root.as_map().unwrap_or(&[]) {
            let items = match &entry.value.value {
                Yaml::Seq(items) => items.as_slice(),
                Yaml::Null => continue,
                _ if entry.key == "version" => continue,
                _ => {
                    diags.push(
                        Diagnostic::error(format!("`{}` must be a list", entry.key))
                            .with_span(doc.span(entry.value.id)),
                    );
                    continue;
                }
            };
            for item in items {
                let at = YamlRef {
                    file: index,
                    node: item.id,
                };
                match entry.key.as_str() {
                    "models" => patcher.patch_node(doc, ResourceType::Model, item, at, diags),
                    "seeds" => patcher.patch_node(doc, ResourceType::Seed, item, at, diags),
                    "analyses" => patcher.patch_node(doc, ResourceType::Analysis, item, at, diags),
                    "snapshots" => {
                        // dbt 1.9's snapshots defined in YAML: `relation:` is what they select.
                        if item.get("relation").is_some() {
                            patcher.add_yaml_snapshot(doc, item, &fqn_dirs, diags);
                        }
                        patcher.patch_node(doc, ResourceType::Snapshot, item, at, diags)
                    }
                    "data_tests" | "tests" => {
                        patcher.patch_node(doc, ResourceType::Test, item, at, diags)
                    }
                    "sources" => patcher.add_source(doc, item, at, &fqn_dirs, diags),
                    "macros" => patcher.patch_macro(doc, item, diags),
                    "unit_tests" => patcher.unit_tests.push(at),
                    "exposures" => patcher.add_exposure(doc, item, &fqn_dirs, diags),
                    // Metrics, groups, semantic models, saved queries and functions are
                    // accepted (their keys are checked) but Silt does not build them.
                    _ => {}
                }
            }
        }
    }
    resolve_descriptions(project, diags);
}

/// The folders of a properties file below the resource path it sits in (dbt's
/// `get_fqn_prefix`): `models/staging/sources.yml` gives `[staging]`.
pub(super) fn fqn_dirs(settings: &crate::settings::Settings, package: &str, file: &str) -> Vec<String> {
    let p = settings.project_named(package).unwrap_or(&settings.project);
    // A package's files are named from the root project: its folder comes first.
    let file = if p.dir.is_empty() {
        file
    } else {
        file.strip_prefix(p.dir.as_str()).and_then(|f| f.strip_prefix('/')).unwrap_or(file)
    };
    let roots = p
        .model_paths
        .iter()
        .chain(&p.seed_paths)
        .chain(&p.analysis_paths)
        .chain(&p.macro_paths)
        .chain(&p.test_paths)
        .chain(&p.snapshot_paths);
    for root in roots {
        let root = root.trim_end_matches('/');
        if let Some(rest) = file.strip_prefix(root).and_then(|r| r.strip_prefix('/')) {
            let mut parts: Vec<String> = rest.split('/').map(str::to_owned).collect();
            parts.pop();
            return parts;
        }
    }
    Vec::new()
}

/// What YAML entries write into: the project's nodes, sources and macro docs.
struct Patcher<'a> {
    settings: &'a crate::settings::Settings,
    /// The project of the file being applied: its entries describe that project's nodes.
    package: String,
    nodes: &'a mut Vec<super::ProjectNode>,
    node_index: HashMap<(ResourceType, String, String), usize>,
    sources: &'a mut Vec<SourceTable>,
    macro_docs: &'a mut HashMap<String, super::MacroDocs>,
    unit_tests: &'a mut Vec<YamlRef>,
    /// Which file described each node first.
    described: HashMap<(ResourceType, String, String), String>,
}

/// Parses a properties file, checks its keys and renders its values; `None` when there is
/// nothing to apply (an empty file, or one with errors).
fn prepare_file(settings: &crate::settings::Settings, file: &SourceFile, diags: &mut Diagnostics) -> Option<YamlDoc> {
    let mut doc = match YamlDoc::parse(file.display.clone(), file.text.clone()) {
        Ok(d) => d,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    if doc.root.is_null() {
        return None;
    }
    if doc.root.as_map().is_none() {
        diags.push(
            Diagnostic::error("a properties file must be a mapping (`version: 2`, `models:`...)").with_span(doc.span(doc.root.id)),
        );
        return None;
    }
    let mut key_diags = Vec::new();
    schema::check_properties_file(&doc, &mut key_diags);
    if !key_diags.is_empty() {
        diags.extend(key_diags);
        return None;
    }
    render_values(settings, &mut doc, diags);
    Some(doc)
}

fn render_values(settings: &crate::settings::Settings, doc: &mut YamlDoc, diags: &mut Diagnostics) {
    if !doc.source.contains("{{") && !doc.source.contains("{%") {
        return;
    }
    let vars = &settings.vars;
    let target = &settings.target.jinja;
    let snapshot = doc.clone();
    let mut errors = Vec::new();
    let _ = doc
        .root
        .map_strings(&mut |s, id| -> Result<Option<String>, ()> {
            if !s.contains("{{") && !s.contains("{%") || is_norender(&snapshot, id) {
                return Ok(None);
            }
            match render_settings_value(&snapshot.file, s, vars, Some(target)) {
                Ok(r) => Ok(Some(r)),
                Err(e) => {
                    errors.push(Diagnostic::error(e.message).with_span(snapshot.span(id)));
                    Ok(None)
                }
            }
        });
    diags.extend(errors);
}

fn str_of(doc: &YamlDoc, node: &Node, key: &str, diags: &mut Diagnostics) -> Option<String> {
    let v = node.get(key)?;
    match v.scalar_text() {
        Some(s) => Some(s),
        None if v.is_null() => None,
        None => {
            diags.push(
                Diagnostic::error(format!("`{key}` must be a string, not {}", v.kind()))
                    .with_span(doc.span(v.id)),
            );
            None
        }
    }
}

fn config_of(doc: &YamlDoc, node: &Node, diags: &mut Diagnostics) -> ConfigMap {
    let mut config = ConfigMap::new();
    match node.get("config") {
        None => {}
        Some(c) if c.is_null() => {}
        Some(c) => match c.as_map() {
            Some(entries) => {
                for e in entries {
                    config.insert(crate::config::normalize_key(&e.key), e.value.to_json());
                }
            }
            None => diags.push(
                Diagnostic::error(format!("`config` must be a mapping, not {}", c.kind()))
                    .with_span(doc.span(c.id)),
            ),
        },
    }
    config
}

/// Properties that dbt moved under `config:` but still reads at the old place.
const MOVED_TO_CONFIG: &[&str] = &[
    "tags",
    "meta",
    "docs",
    "access",
    "group",
    "materialized",
    "enabled",
    "contract",
    "alias",
    "schema",
];

impl Patcher<'_> {
    fn patch_node(
        &mut self,
        doc: &YamlDoc,
        kind: ResourceType,
        item: &Node,
        at: YamlRef,
        diags: &mut Diagnostics,
    ) {
        let Some(name) = str_of(doc, item, "name", diags) else {
            diags.push(
                Diagnostic::error(format!("a {} entry needs a `name`", kind.as_str()))
                    .with_span(doc.span(item.id)),
            );
            return;
        };
        if let Some(v) = item.entry("versions") {
            diags.push(
                Diagnostic::error(format!("model versions are not supported yet (`{name}`)"))
                    .with_span(doc.span(v.key_id))
                    .with_help("declare each version as its own model for now"),
            );
            return;
        }
        // dbt finds a `models:` / `seeds:` / `snapshots:` entry by name among all three (its
        // ref lookup) and warns when the kind differs, then applies it.
        let mut found = self.node_index.get(&(kind, self.package.clone(), name.clone())).copied();
        if found.is_none() && matches!(kind, ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot) {
            for other in [ResourceType::Model, ResourceType::Seed, ResourceType::Snapshot] {
                if let Some(&pos) = self.node_index.get(&(other, self.package.clone(), name.clone())) {
                    let section = match kind {
                        ResourceType::Model => "models",
                        ResourceType::Seed => "seeds",
                        _ => "snapshots",
                    };
                    diags.push(
                        Diagnostic::warning(format!(
                            "`{name}` is a {}, but it is described under `{section}:`; the entry applies to it",
                            other.as_str()
                        ))
                        .with_span(doc.span(item.get("name").map_or(item.id, |n| n.id))),
                    );
                    found = Some(pos);
                    break;
                }
            }
        }
        let Some(pos) = found else {
            let candidates: Vec<&str> = self
                .nodes
                .iter()
                .filter(|n| n.resource_type == kind && n.package == self.package)
                .map(|n| n.name.as_str())
                .collect();
            let name_node = item.get("name").map_or(item.id, |n| n.id);
            // dbt warns and ignores the entry (its tests too): a stale entry does not stop
            // the project.
            let mut d = Diagnostic::warning(format!(
                "`{name}` is described here but there is no {} file of that name; the entry is ignored",
                kind.as_str()
            ))
            .with_span(doc.span(name_node));
            if let Some(s) = did_you_mean(&name, candidates.iter().copied()) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            diags.push(d);
            return;
        };
        let kind = self.nodes[pos].resource_type;
        if let Some(first) = self
            .described
            .insert((kind, self.package.clone(), name.clone()), doc.file.clone())
        {
            let name_node = item.get("name").map_or(item.id, |n| n.id);
            diags.push(
                Diagnostic::error(format!("{} `{name}` is described twice", kind.as_str()))
                    .with_span(doc.span(name_node))
                    .with_note(format!("also described in {first}")),
            );
            return;
        }
        let mut yaml_config = ConfigMap::new();
        for key in MOVED_TO_CONFIG {
            if let Some(v) = item.get(key) {
                yaml_config.insert((*key).to_owned(), v.to_json());
            }
        }
        merge_into(&mut yaml_config, &config_of(doc, item, diags));
        let columns = read_columns(doc, item, at.file, diags);
        let node = &mut self.nodes[pos];
        merge_into(&mut node.config, &yaml_config);
        merge_into(&mut node.unrendered_config, &yaml_config);
        node.description = item
            .get("description")
            .and_then(Node::scalar_text)
            .unwrap_or_default();
        if let Some(meta) = item.get("meta") {
            node.meta = meta.to_json();
        }
        node.columns = columns;
        node.patch_path = Some(format!("{}://{}", node.package, doc.file));
        node.yaml = Some(at);
        node.tests = test_entries(item, at.file);
        node.constraints = item
            .get("constraints")
            .and_then(Node::as_seq)
            .map(|s| s.iter().map(Node::to_json).collect())
            .unwrap_or_default();
    }

    /// A snapshot defined in YAML (`name`, `relation`, `config`): a node selecting
    /// everything from its relation, as dbt makes it.
    fn add_yaml_snapshot(&mut self, doc: &YamlDoc, item: &Node, fqn_dirs: &[String], diags: &mut Diagnostics) {
        let Some(name) = str_of(doc, item, "name", diags) else {
            return;
        };
        let Some(relation) = str_of(doc, item, "relation", diags) else {
            return;
        };
        if let Some(d) = self.defined_twice(doc, item, ResourceType::Snapshot, &name) {
            diags.push(d);
            return;
        }
        let relation = relation.trim();
        let raw_code = if relation.contains("{{") {
            format!("select * from {relation}")
        } else {
            format!("select * from {{{{ {relation} }}}}")
        };
        let node = self.yaml_node(doc, ResourceType::Snapshot, name, fqn_dirs, raw_code);
        self.push_node(node);
    }

    /// The error for a second node of `kind` named `name` in this package, if there is one.
    fn defined_twice(&self, doc: &YamlDoc, item: &Node, kind: ResourceType, name: &str) -> Option<Diagnostic> {
        let &pos = self.node_index.get(&(kind, self.package.clone(), name.to_owned()))?;
        Some(
            Diagnostic::error(format!(
                "{} `{name}` is defined twice: here and in {}",
                kind.as_str(),
                self.nodes[pos].original_file_path
            ))
            .with_span(doc.span(item.id)),
        )
    }

    /// A node declared in a properties file (a YAML snapshot, an exposure), placed as dbt
    /// places it: `<package>.<folders>.<name>`, its path below its resource folder, the
    /// config of its project tree, and `code` as its code.
    fn yaml_node(
        &self,
        doc: &YamlDoc,
        kind: ResourceType,
        name: String,
        fqn_dirs: &[String],
        code: String,
    ) -> super::ProjectNode {
        let project = self.package.clone();
        let package_dir = self.settings.project_named(&project).map(|p| p.dir.clone()).unwrap_or_default();
        let mut fqn = vec![project.clone()];
        fqn.extend(fqn_dirs.iter().cloned());
        fqn.push(name.clone());
        let tree = match kind {
            ResourceType::Snapshot => "snapshots",
            _ => "exposures",
        };
        let (config, unrendered) = super::tree_config(self.settings, tree, &fqn);
        let file_rel = doc.file.strip_prefix(package_dir.as_str()).map(|f| f.trim_start_matches('/')).unwrap_or(&doc.file);
        let path = file_rel.split_once('/').map_or(file_rel, |(_, rest)| rest).to_owned();
        super::ProjectNode {
            unique_id: format!("{}.{project}.{name}", kind.as_str()),
            resource_type: kind,
            name,
            package: project,
            package_dir,
            path,
            original_file_path: doc.file.clone(),
            fqn,
            checksum: super::sha256_hex(code.as_bytes()),
            raw_code: std::sync::Arc::from(code),
            config,
            unrendered_config: unrendered,
            meta: serde_json::Value::Object(Default::default()),
            ..super::ProjectNode::default()
        }
    }

    /// Adds a node declared in a properties file, findable by kind, package and name.
    fn push_node(&mut self, node: super::ProjectNode) {
        let key = (node.resource_type, node.package.clone(), node.name.clone());
        self.node_index.insert(key, self.nodes.len());
        self.nodes.push(node);
    }

    /// An exposure: a node that depends on what its `depends_on` names and builds nothing
    /// (`silt build` reports it as dbt does, `NO-OP`). Its `depends_on` entries become the
    /// node's code, `{{ ref('x') }}` per line, so they resolve as any `ref` does.
    fn add_exposure(&mut self, doc: &YamlDoc, item: &Node, fqn_dirs: &[String], diags: &mut Diagnostics) {
        let Some(name) = str_of(doc, item, "name", diags) else {
            diags.push(Diagnostic::error("an exposure needs a `name`").with_span(doc.span(item.id)));
            return;
        };
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            diags.push(
                Diagnostic::error(format!("exposure name `{name}` must contain only letters, numbers and underscores"))
                    .with_span(doc.span(item.get("name").map_or(item.id, |n| n.id)))
                    .with_help("put a readable name in `label:`"),
            );
            return;
        }
        if let Some(d) = self.defined_twice(doc, item, ResourceType::Exposure, &name) {
            diags.push(d);
            return;
        }
        const TYPES: [&str; 5] = ["dashboard", "notebook", "analysis", "ml", "application"];
        let kind = str_of(doc, item, "type", diags);
        match kind.as_deref() {
            Some(k) if TYPES.contains(&k) => {}
            Some(k) => {
                diags.push(
                    Diagnostic::error(format!("exposure `{name}` has type `{k}`; dbt's types are {}", TYPES.join(", ")))
                        .with_span(doc.span(item.get("type").map_or(item.id, |n| n.id))),
                );
                return;
            }
            None => {
                diags.push(
                    Diagnostic::error(format!("exposure `{name}` needs a `type` ({})", TYPES.join(", ")))
                        .with_span(doc.span(item.id)),
                );
                return;
            }
        }
        let owner = item.get("owner").map(Node::to_json);
        if !owner.as_ref().is_some_and(|o| o.get("email").is_some() || o.get("name").is_some()) {
            diags.push(
                Diagnostic::error(format!("exposure `{name}` needs an `owner` with a `name` or an `email`"))
                    .with_span(doc.span(item.get("owner").map_or(item.id, |n| n.id))),
            );
            return;
        }
        let mut code = String::new();
        let mut written = Vec::new();
        if let Some(deps) = item.get("depends_on") {
            let Some(list) = deps.as_seq() else {
                diags.push(
                    Diagnostic::error("`depends_on` must be a list of `ref(...)` and `source(...)` calls")
                        .with_span(doc.span(deps.id)),
                );
                return;
            };
            for entry in list {
                let text = entry.scalar_text().unwrap_or_default();
                let call = text.trim();
                let known = ["ref(", "source(", "metric("].iter().any(|f| call.starts_with(f)) && call.ends_with(')');
                if !known {
                    diags.push(
                        Diagnostic::error(format!("exposure `{name}`: `{call}` in `depends_on` is not a `ref(...)` or `source(...)` call"))
                            .with_span(doc.span(entry.id)),
                    );
                    return;
                }
                written.push(Json::String(call.to_owned()));
                if call.starts_with("metric(") {
                    // Metrics are not built; the exposure does not wait for one.
                    continue;
                }
                code.push_str(&format!("{{{{ {call} }}}}\n"));
            }
        }
        let mut node = self.yaml_node(doc, ResourceType::Exposure, name, fqn_dirs, code);
        for k in ["tags", "meta", "enabled"] {
            if let Some(v) = item.get(k) {
                node.config.insert(k.to_owned(), v.to_json());
            }
        }
        merge_into(&mut node.config, &config_of(doc, item, diags));
        let mut spec = serde_json::Map::new();
        spec.insert("type".into(), Json::String(kind.unwrap_or_default()));
        spec.insert("owner".into(), owner.unwrap_or(Json::Null));
        for k in ["label", "maturity", "url"] {
            spec.insert(k.into(), item.get(k).map(Node::to_json).unwrap_or(Json::Null));
        }
        spec.insert("depends_on".into(), Json::Array(written));
        node.description = item.get("description").and_then(Node::scalar_text).unwrap_or_default();
        if let Some(meta) = item.get("meta") {
            node.meta = meta.to_json();
        }
        node.patch_path = Some(doc.file.clone());
        node.exposure = Some(std::sync::Arc::new(spec));
        self.push_node(node);
    }

    fn add_source(
        &mut self,
        doc: &YamlDoc,
        item: &Node,
        at: YamlRef,
        fqn_dirs: &[String],
        diags: &mut Diagnostics,
    ) {
        let Some(source_name) = str_of(doc, item, "name", diags) else {
            diags.push(Diagnostic::error("a source needs a `name`").with_span(doc.span(item.id)));
            return;
        };
        if let Some(o) = item.entry("overrides") {
            diags.push(
                Diagnostic::error(
                    "source `overrides` apply to packages, which Silt does not support",
                )
                .with_span(doc.span(o.key_id)),
            );
            return;
        }
        let schema = str_of(doc, item, "schema", diags).unwrap_or_else(|| source_name.clone());
        let database = str_of(doc, item, "database", diags)
            .unwrap_or_else(|| self.settings.target.database.clone());
        let loader = str_of(doc, item, "loader", diags).unwrap_or_default();
        let source_description = item
            .get("description")
            .and_then(Node::scalar_text)
            .unwrap_or_default();
        let source_meta = item
            .get("meta")
            .map(Node::to_json)
            .unwrap_or(Json::Object(Default::default()));
        let mut source_config = ConfigMap::new();
        for key in ["tags", "meta", "enabled"] {
            if let Some(v) = item.get(key) {
                source_config.insert(key.to_owned(), v.to_json());
            }
        }
        merge_into(&mut source_config, &config_of(doc, item, diags));
        let tables = match item.get("tables") {
            None => return,
            Some(t) if t.is_null() => return,
            Some(t) => match t.as_seq() {
                Some(s) => s.to_vec(),
                None => {
                    diags.push(
                        Diagnostic::error("`tables` must be a list").with_span(doc.span(t.id)),
                    );
                    return;
                }
            },
        };
        let package = self.package.clone();
        for table in &tables {
            let Some(name) = str_of(doc, table, "name", diags) else {
                diags.push(
                    Diagnostic::error("a source table needs a `name`")
                        .with_span(doc.span(table.id)),
                );
                continue;
            };
            let unique_id = format!("source.{package}.{source_name}.{name}");
            if self.sources.iter().any(|s| s.unique_id == unique_id) {
                diags.push(
                    Diagnostic::error(format!(
                        "source table `{source_name}.{name}` is declared twice"
                    ))
                    .with_span(doc.span(table.get("name").map_or(table.id, |n| n.id))),
                );
                continue;
            }
            let mut fqn = vec![package.clone()];
            fqn.extend(fqn_dirs.iter().cloned());
            fqn.push(source_name.clone());
            fqn.push(name.clone());
            let (mut config, _) = super::tree_config(self.settings, "sources", &fqn);
            merge_into(&mut config, &source_config);
            let mut table_config = ConfigMap::new();
            for key in ["tags", "meta"] {
                if let Some(v) = table.get(key) {
                    table_config.insert(key.to_owned(), v.to_json());
                }
            }
            merge_into(&mut table_config, &config_of(doc, table, diags));
            merge_into(&mut config, &table_config);
            let tags = crate::config::string_list(config.get("tags"));
            self.sources.push(SourceTable {
                unique_id,
                identifier: str_of(doc, table, "identifier", diags).unwrap_or_else(|| name.clone()),
                source_name: source_name.clone(),
                name,
                schema: schema.clone(),
                database: database.clone(),
                package: package.clone(),
                fqn,
                source_description: source_description.clone(),
                description: table
                    .get("description")
                    .and_then(Node::scalar_text)
                    .unwrap_or_default(),
                loader: str_of(doc, table, "loader", diags).unwrap_or_else(|| loader.clone()),
                columns: read_columns(doc, table, at.file, diags),
                meta: table
                    .get("meta")
                    .map(Node::to_json)
                    .unwrap_or(Json::Object(Default::default())),
                source_meta: source_meta.clone(),
                tags,
                config,
                original_file_path: doc.file.clone(),
                yaml: YamlRef {
                    file: at.file,
                    node: table.id,
                },
                tests: test_entries(table, at.file),
                kafka: table
                    .get("kafka")
                    .and_then(|k| super::kafka::read(doc, k, diags))
                    .map(std::sync::Arc::new),
            });
        }
    }

    fn patch_macro(&mut self, doc: &YamlDoc, item: &Node, diags: &mut Diagnostics) {
        let Some(name) = str_of(doc, item, "name", diags) else {
            diags.push(
                Diagnostic::error("a macro entry needs a `name`").with_span(doc.span(item.id)),
            );
            return;
        };
        let docs = super::MacroDocs {
            description: item
                .get("description")
                .and_then(Node::scalar_text)
                .unwrap_or_default(),
            arguments: item
                .get("arguments")
                .and_then(Node::as_seq)
                .map(|s| s.iter().map(Node::to_json).collect())
                .unwrap_or_default(),
            patch_path: Some(doc.file.clone()),
            meta: item
                .get("meta")
                .map(Node::to_json)
                .unwrap_or(Json::Object(Default::default())),
        };
        self.macro_docs.insert(name, docs);
    }
}

fn test_entries(item: &Node, file: usize) -> Vec<YamlRef> {
    let mut out = Vec::new();
    for key in ["data_tests", "tests"] {
        if let Some(list) = item.get(key).and_then(Node::as_seq) {
            out.extend(list.iter().map(|t| YamlRef { file, node: t.id }));
        }
    }
    out
}

fn read_columns(
    doc: &YamlDoc,
    item: &Node,
    file: usize,
    diags: &mut Diagnostics,
) -> IndexMap<String, Column> {
    let mut columns = IndexMap::new();
    let Some(list) = item.get("columns") else {
        return columns;
    };
    let Some(list) = list.as_seq() else {
        if !list.is_null() {
            diags.push(
                Diagnostic::error(format!("`columns` must be a list, not {}", list.kind()))
                    .with_span(doc.span(list.id)),
            );
        }
        return columns;
    };
    for col in list {
        let Some(name) = str_of(doc, col, "name", diags) else {
            diags.push(Diagnostic::error("a column needs a `name`").with_span(doc.span(col.id)));
            continue;
        };
        let config = config_of(doc, col, diags);
        let mut tags: Vec<String> =
            crate::config::string_list(col.get("tags").map(Node::to_json).as_ref());
        tags.extend(crate::config::string_list(config.get("tags")));
        let meta = match (col.get("meta"), config.get("meta")) {
            (Some(m), _) => m.to_json(),
            (None, Some(m)) => m.clone(),
            (None, None) => Json::Object(Default::default()),
        };
        let column = Column {
            name: name.clone(),
            description: col
                .get("description")
                .and_then(Node::scalar_text)
                .unwrap_or_default(),
            data_type: str_of(doc, col, "data_type", diags),
            meta,
            tags,
            quote: col.get("quote").and_then(Node::as_bool),
            constraints: col
                .get("constraints")
                .and_then(Node::as_seq)
                .map(|s| s.iter().map(Node::to_json).collect())
                .unwrap_or_default(),
            tests: test_entries(col, file),
            at: Some(YamlRef { file, node: col.id }),
        };
        if columns.insert(name.clone(), column).is_some() {
            diags.push(
                Diagnostic::error(format!("column `{name}` is described twice"))
                    .with_span(doc.span(col.id)),
            );
        }
    }
    columns
}

/// Renders descriptions, resolving `doc('name')` against the project's doc blocks as dbt
/// does: a bare name is the root project's block, else the one of the package whose YAML
/// file it is, else any package's; `doc('package', 'name')` is that package's.
fn resolve_descriptions(project: &mut Project, diags: &mut Diagnostics) {
    let root = project.settings.project.name.clone();
    let mut by_package: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    for package in project.yaml_packages.iter().cloned().chain([root.clone()]) {
        if by_package.contains_key(&package) {
            continue;
        }
        let mut docs = BTreeMap::new();
        // Lowest precedence first: later inserts win.
        for ((p, name), block) in project.docs.iter().rev() {
            docs.insert(format!("{p}.{name}"), block.contents.clone());
            docs.insert(name.clone(), block.contents.clone());
        }
        for wanted in [&package, &root] {
            for ((p, name), block) in &project.docs {
                if p == wanted {
                    docs.insert(name.clone(), block.contents.clone());
                }
            }
        }
        by_package.insert(package, docs);
    }
    let packages = project.yaml_packages.clone();
    let vars = project.settings.vars.clone();
    let target = project.settings.target.jinja.clone();
    let files = std::mem::take(&mut project.yaml_files);
    let render = |text: &mut String, at: Option<YamlRef>, diags: &mut Diagnostics| {
        if !text.contains("{{") && !text.contains("{%") {
            return;
        }
        let file = at.map_or(String::new(), |a| files[a.file].file.clone());
        let package = at.map_or(root.as_str(), |a| packages[a.file].as_str());
        let Some(docs) = by_package.get(package) else { return };
        match render_description(&file, text, &vars, Some(&target), docs) {
            Ok(r) => *text = r,
            Err(e) => {
                let span = at.map(|a| description_span(&files[a.file], a.node));
                diags.push(
                    Diagnostic::error(e.message)
                        .with_span_opt(span)
                        .with_help_opt(e.help),
                );
            }
        }
    };
    for node in &mut project.nodes {
        let at = node.yaml;
        render(&mut node.description, at, diags);
        for col in node.columns.values_mut() {
            render(&mut col.description, col.at, diags);
        }
    }
    for source in &mut project.sources {
        let at = Some(source.yaml);
        render(&mut source.description, at, diags);
        render(&mut source.source_description, at, diags);
        for col in source.columns.values_mut() {
            render(&mut col.description, col.at, diags);
        }
    }
    for docs in project.macro_docs.values_mut() {
        render(&mut docs.description, None, diags);
    }
    project.yaml_files = files;
}

fn description_span(doc: &YamlDoc, item: NodeId) -> crate::diagnostic::Span {
    let mut found = None;
    doc.root.walk(&mut |n| {
        if n.id == item {
            found = n.get("description").map(|d| d.id);
        }
    });
    doc.span(found.unwrap_or(item))
}
