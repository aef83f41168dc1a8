//! The project's files: discovery of models, seeds, macros, tests and docs, and the YAML
//! properties that describe them, merged into plain data ([`Project`]).
//!
//! Nothing here renders SQL: the loader reads files, checks every YAML key, applies the
//! project file's config trees and the YAML `config:` blocks, and resolves descriptions
//! (`doc()` blocks included). Rendering models is the parse stage's job.

mod discover;
pub mod kafka;
mod properties;
pub mod testing;

use std::collections::{BTreeMap, HashMap};

use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::Value as Json;

use crate::config::{ConfigMap, merge_into};
use crate::diagnostic::{Diagnostic, Diagnostics, Span};
use crate::settings::{ProjectSettings, Settings};
use crate::yaml::{Node, NodeId, YamlDoc};

pub use discover::SourceFile;

/// The kinds of things a project holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum ResourceType {
    #[default]
    Model,
    Seed,
    Source,
    Test,
    Analysis,
    Snapshot,
    Macro,
    UnitTest,
    Exposure,
}

impl ResourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Model => "model",
            ResourceType::Seed => "seed",
            ResourceType::Source => "source",
            ResourceType::Test => "test",
            ResourceType::Analysis => "analysis",
            ResourceType::Snapshot => "snapshot",
            ResourceType::Macro => "macro",
            ResourceType::UnitTest => "unit_test",
            ResourceType::Exposure => "exposure",
        }
    }

    pub fn parse(s: &str) -> Option<ResourceType> {
        Some(match s {
            "model" => ResourceType::Model,
            "seed" => ResourceType::Seed,
            "source" => ResourceType::Source,
            "test" | "data_test" => ResourceType::Test,
            "analysis" => ResourceType::Analysis,
            "snapshot" => ResourceType::Snapshot,
            "macro" => ResourceType::Macro,
            "unit_test" => ResourceType::UnitTest,
            "exposure" => ResourceType::Exposure,
            _ => return None,
        })
    }
}

/// Where in a YAML file something was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YamlRef {
    /// Index into [`Project::yaml_files`].
    pub file: usize,
    pub node: NodeId,
}

/// A column as described in YAML.
#[derive(Debug, Clone, Default)]
pub struct Column {
    pub name: String,
    pub description: String,
    pub data_type: Option<String>,
    pub meta: Json,
    pub tags: Vec<String>,
    pub quote: Option<bool>,
    /// `constraints:` as written (checked by contracts).
    pub constraints: Vec<Json>,
    /// The column's `data_tests:` (or `tests:`) entries, unparsed.
    pub tests: Vec<YamlRef>,
    pub at: Option<YamlRef>,
}

/// A model, seed, analysis or singular test file. (`Default` is an empty model, for
/// constructions that set what they know and leave the rest.)
#[derive(Debug, Clone, Default)]
pub struct ProjectNode {
    pub unique_id: String,
    pub resource_type: ResourceType,
    pub name: String,
    pub package: String,
    /// Path relative to its resource folder (`staging/orders.sql`).
    pub path: String,
    /// Path relative to the root project (`models/staging/orders.sql`;
    /// `dbt_packages/<package>/models/...` for a package's file): where the file is read
    /// from and how messages name it. dbt's `original_file_path` is [`Self::package_path`].
    pub original_file_path: String,
    /// The folder of its package relative to the root project (empty for the root project).
    pub package_dir: String,
    pub fqn: Vec<String>,
    pub raw_code: Arc<str>,
    /// sha256 of the file's contents, as dbt records it.
    pub checksum: String,
    /// Config from the project file's tree and the YAML `config:` (not yet inline `config()`).
    pub config: ConfigMap,
    /// The configs as written, before rendering or merging (dbt's `unrendered_config`).
    pub unrendered_config: ConfigMap,
    pub description: String,
    pub columns: IndexMap<String, Column>,
    pub meta: Json,
    /// The YAML file that describes it (dbt's `patch_path`).
    pub patch_path: Option<String>,
    pub yaml: Option<YamlRef>,
    /// The node's `data_tests:` entries, unparsed.
    pub tests: Vec<YamlRef>,
    /// Model-level `constraints:`.
    pub constraints: Vec<Json>,
    /// For a generic data test: what it tests and with which arguments.
    pub test: Option<Arc<testing::generic::TestMetadata>>,
    /// For a unit test: its inputs, expected rows and overrides.
    pub unit: Option<Arc<testing::unit::UnitTestSpec>>,
    /// For an exposure: what dbt's manifest records of it (`type`, `owner`, `label`,
    /// `maturity`, `url`, `depends_on` as written).
    pub exposure: Option<Arc<serde_json::Map<String, Json>>>,
}

impl ProjectNode {
    /// Where its compiled SQL goes under `target/compiled/<package>/`: its file, or for a
    /// generic test the test's own file inside its YAML file's folder, as dbt writes them
    /// (`models/schema.yml/not_null_orders_id.sql`).
    pub fn compiled_rel_path(&self) -> String {
        let path = self.package_path();
        if self.test.is_some() {
            format!("{path}/{}", self.path)
        } else if self.resource_type == ResourceType::Snapshot && (path.ends_with(".yml") || path.ends_with(".yaml")) {
            // A snapshot defined in YAML: a file of its own in its YAML file's folder.
            format!("{path}/{}.sql", self.name)
        } else {
            self.package_path().to_owned()
        }
    }

    /// Its file's path relative to its own project (dbt's `original_file_path`).
    pub fn package_path(&self) -> &str {
        if self.package_dir.is_empty() {
            return &self.original_file_path;
        }
        self.original_file_path
            .strip_prefix(self.package_dir.as_str())
            .and_then(|p| p.strip_prefix('/'))
            .unwrap_or(&self.original_file_path)
    }
}

/// A table of a source, as declared in YAML.
#[derive(Debug, Clone)]
pub struct SourceTable {
    pub unique_id: String,
    pub source_name: String,
    pub name: String,
    pub identifier: String,
    pub schema: String,
    pub database: String,
    pub package: String,
    pub fqn: Vec<String>,
    pub source_description: String,
    pub description: String,
    pub loader: String,
    pub columns: IndexMap<String, Column>,
    pub meta: Json,
    pub source_meta: Json,
    pub tags: Vec<String>,
    pub config: ConfigMap,
    /// `models/sources.yml`
    pub original_file_path: String,
    pub yaml: YamlRef,
    pub tests: Vec<YamlRef>,
    /// Silt's Kafka declaration for bronze ingestion, if any.
    pub kafka: Option<Arc<kafka::KafkaSource>>,
}

/// A doc block from a `.md` file.
#[derive(Debug, Clone)]
pub struct DocBlock {
    pub name: String,
    pub contents: String,
    pub original_file_path: String,
    /// The project (root or installed package) whose docs path holds it.
    pub package: String,
}

/// Documentation for a macro, from a properties file.
#[derive(Debug, Clone, Default)]
pub struct MacroDocs {
    pub description: String,
    pub arguments: Vec<Json>,
    pub patch_path: Option<String>,
    pub meta: Json,
}

/// A loaded project: plain data, ready to render.
#[derive(Debug, Clone)]
pub struct Project {
    pub settings: Settings,
    /// Models, seeds, analyses and singular tests, in path order.
    pub nodes: Vec<ProjectNode>,
    pub sources: Vec<SourceTable>,
    /// Macro files (display path, text, package), for the template environment.
    pub macro_files: Vec<(String, String, String)>,
    /// Doc blocks by (package, name): each package has its own names, as in dbt.
    pub docs: BTreeMap<(String, String), DocBlock>,
    pub macro_docs: HashMap<String, MacroDocs>,
    /// Every YAML properties file, for locating what they declare.
    pub yaml_files: Vec<YamlDoc>,
    /// The project each of `yaml_files` belongs to (the root project or a package).
    pub yaml_packages: Vec<String>,
    /// Unit tests declared in YAML (checked and run by `silt test`).
    pub unit_tests: Vec<YamlRef>,
    pub warnings: Vec<Diagnostic>,
}

impl Project {
    /// Loads the project described by `settings`, collecting every error found.
    pub fn load(settings: Settings) -> Result<Project, Diagnostics> {
        let mut diags = Diagnostics::new();
        diags.extend(settings.warnings.iter().filter(|d| d.is_error()).cloned());
        let files = discover::discover(&settings, &mut diags);
        let mut project = Project {
            nodes: Vec::new(),
            sources: Vec::new(),
            macro_files: files
                .macros
                .iter()
                .map(|f| (f.display.clone(), f.text.to_string(), f.package.to_string()))
                .collect(),
            docs: BTreeMap::new(),
            macro_docs: HashMap::new(),
            yaml_files: Vec::new(),
            yaml_packages: Vec::new(),
            unit_tests: Vec::new(),
            warnings: settings
                .warnings
                .iter()
                .filter(|d| !d.is_error())
                .cloned()
                .collect(),
            settings,
        };
        project.read_docs(&files.docs, &mut diags);
        project.add_sql_nodes(&files, &mut diags);
        properties::apply_yaml(&mut project, &files.yaml, &mut diags);
        testing::generic::add_generic_tests(&mut project, &mut diags);
        testing::unit::add_unit_tests(&mut project, &mut diags);
        project.check_duplicates(&mut diags);
        project.check_config_paths(&mut diags);
        diags.sort();
        if diags.has_errors() {
            return Err(diags);
        }
        project.warnings.extend(diags.0);
        Ok(project)
    }

    /// The node with this unique id.
    pub fn node(&self, unique_id: &str) -> Option<&ProjectNode> {
        self.nodes.iter().find(|n| n.unique_id == unique_id)
    }

    /// A span for something declared in YAML.
    pub fn span(&self, at: YamlRef) -> Span {
        self.yaml_files[at.file].span(at.node)
    }

    /// The YAML node behind a reference.
    pub fn yaml_node(&self, at: YamlRef) -> Option<&Node> {
        let doc = &self.yaml_files[at.file];
        let mut found = None;
        doc.root.walk(&mut |n| {
            if n.id == at.node {
                found = Some(n);
            }
        });
        found
    }

    fn read_docs(&mut self, files: &[SourceFile], diags: &mut Diagnostics) {
        for file in files {
            match parse_doc_blocks(&file.display, &file.text) {
                Ok(blocks) => {
                    for mut block in blocks {
                        block.package = file.package.to_string();
                        let key = (block.package.clone(), block.name.clone());
                        if let Some(existing) = self.docs.get(&key) {
                            diags.push(
                                Diagnostic::error(format!(
                                    "doc block `{}` is defined twice",
                                    block.name
                                ))
                                .with_span(Span::file(file.display.clone()))
                                .with_note(format!(
                                    "also defined in {}",
                                    existing.original_file_path
                                )),
                            );
                            continue;
                        }
                        self.docs.insert(key, block);
                    }
                }
                Err(d) => diags.push(d),
            }
        }
    }

    fn add_sql_nodes(&mut self, files: &discover::Files, diags: &mut Diagnostics) {
        let groups: [(&[SourceFile], ResourceType); 4] = [
            (&files.models, ResourceType::Model),
            (&files.seeds, ResourceType::Seed),
            (&files.analyses, ResourceType::Analysis),
            (&files.singular_tests, ResourceType::Test),
        ];
        for (list, kind) in groups {
            for file in list {
                let project = file.package.to_string();
                let package_dir = self.settings.project_named(&project).map(|p| p.dir.clone()).unwrap_or_default();
                let name = file.stem.clone();
                let mut fqn = vec![project.clone()];
                fqn.extend(file.rel_dir_parts());
                fqn.push(name.clone());
                let tree = match kind {
                    ResourceType::Model => "models",
                    ResourceType::Seed => "seeds",
                    ResourceType::Analysis => "analyses",
                    _ => "data_tests",
                };
                let (config, unrendered) = self.tree_config(tree, &fqn);
                let raw_code: Arc<str> = if kind == ResourceType::Seed {
                    Arc::from("")
                } else {
                    file.text.clone()
                };
                self.nodes.push(ProjectNode {
                    unique_id: format!("{}.{project}.{name}", kind.as_str()),
                    resource_type: kind,
                    name,
                    package: project.clone(),
                    package_dir,
                    path: file.rel_path.clone(),
                    original_file_path: file.display.clone(),
                    fqn,
                    raw_code,
                    // Large seeds are not read at load; dbt records their path instead of a hash.
                    checksum: file.checksum.clone(),
                    config,
                    unrendered_config: unrendered,
                    meta: Json::Object(Default::default()),
                    ..ProjectNode::default()
                });
            }
        }
        for file in &files.snapshots {
            let project = file.package.to_string();
            let package_dir = self.settings.project_named(&project).map(|p| p.dir.clone()).unwrap_or_default();
            let blocks = match snapshot_blocks(&file.display, &file.text) {
                Ok(b) => b,
                Err(d) => {
                    diags.push(d);
                    continue;
                }
            };
            for (name, body) in blocks {
                // dbt names a snapshot by its folder, its file and its block.
                let mut fqn = vec![project.clone()];
                fqn.extend(file.rel_dir_parts());
                fqn.push(file.stem.clone());
                fqn.push(name.clone());
                let (config, unrendered) = self.tree_config("snapshots", &fqn);
                self.nodes.push(ProjectNode {
                    unique_id: format!("snapshot.{project}.{name}"),
                    resource_type: ResourceType::Snapshot,
                    name,
                    package: project.clone(),
                    package_dir: package_dir.clone(),
                    path: file.rel_path.clone(),
                    original_file_path: file.display.clone(),
                    fqn,
                    raw_code: Arc::from(body),
                    checksum: file.checksum.clone(),
                    config,
                    unrendered_config: unrendered,
                    meta: Json::Object(Default::default()),
                    ..ProjectNode::default()
                });
            }
        }
    }

    /// The config a resource gets from the project file's tree of kind `tree`.
    pub fn tree_config(&self, tree: &str, fqn: &[String]) -> (ConfigMap, ConfigMap) {
        tree_config(&self.settings, tree, fqn)
    }

    fn check_duplicates(&self, diags: &mut Diagnostics) {
        // Names are unique within a project; packages may reuse them (`ref` looks in the
        // calling node's package first).
        let mut seen: HashMap<(ResourceType, &str, &str), &ProjectNode> = HashMap::new();
        for node in &self.nodes {
            // Generic tests are told apart by their unique ids (the name with a hash of the
            // arguments): two whose names collide (`values: ['a@b']` and `['a&b']`) both
            // run, as in dbt. Identical ones are reported where tests are read.
            if node.test.is_some() {
                continue;
            }
            // Models, seeds and snapshots share one namespace for `ref`.
            let kind = match node.resource_type {
                ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot => {
                    ResourceType::Model
                }
                other => other,
            };
            if let Some(first) = seen.insert((kind, node.package.as_str(), node.name.as_str()), node) {
                diags.push(
                    Diagnostic::error(format!("two resources are named `{}`", node.name))
                        .with_span(Span::file(node.original_file_path.clone()))
                        .with_note(format!("the other is {}", first.original_file_path))
                        .with_help("`ref` needs unique names: rename one of the files"),
                );
            }
        }
    }

    /// Every folder or resource key in the project file's config trees should name something.
    fn check_config_paths(&self, diags: &mut Diagnostics) {
        let doc = &self.settings.project.doc;
        for cp in &self.settings.project.config_paths {
            let candidates: Vec<&Vec<String>> = match cp.tree.as_str() {
                "models" | "seeds" | "analyses" => {
                    let kind = match cp.tree.as_str() {
                        "models" => ResourceType::Model,
                        "seeds" => ResourceType::Seed,
                        _ => ResourceType::Analysis,
                    };
                    self.nodes
                        .iter()
                        .filter(|n| n.resource_type == kind)
                        .map(|n| &n.fqn)
                        .collect()
                }
                "sources" => self.sources.iter().map(|s| &s.fqn).collect(),
                // Trees of resources Silt does not build are accepted as written.
                _ => continue,
            };
            let matches = candidates
                .iter()
                .any(|fqn| fqn.len() >= cp.path.len() && fqn[..cp.path.len()] == cp.path[..]);
            if matches {
                continue;
            }
            let depth = cp.path.len() - 1;
            let siblings: Vec<&str> = candidates
                .iter()
                .filter(|fqn| fqn.len() > depth && fqn[..depth] == cp.path[..depth])
                .map(|fqn| fqn[depth].as_str())
                .collect();
            let wrong = &cp.path[depth];
            let what = if depth == 0 {
                "project"
            } else {
                "folder or resource"
            };
            // A warning, as dbt's "unused configuration paths": a path for resources that
            // are disabled or not yet written must not stop the project.
            let mut d = Diagnostic::warning(format!(
                "`{}: {}` in the project file matches no {} {what}",
                cp.tree,
                cp.path.join("."),
                singular(&cp.tree)
            ))
            .with_span(doc.span(cp.key_id));
            if let Some(s) = crate::diagnostic::did_you_mean(wrong, siblings.iter().copied()) {
                d = d.with_help(format!("did you mean `{s}`?"));
            } else if depth == 0 {
                d = d.with_help(format!(
                    "the first level under `{}:` is the project name (`{}`) or an installed package's",
                    cp.tree, self.settings.project.name
                ));
            }
            diags.push(d);
        }
    }
}

/// The `{% snapshot name %} ... {% endsnapshot %}` blocks of a file: each name and body.
/// The body keeps the file's line numbers (it is preceded by as many empty lines as come
/// before it), so messages about it name the file's lines.
pub fn snapshot_blocks(file: &str, text: &str) -> Result<Vec<(String, String)>, Diagnostic> {
    let mut out = Vec::new();
    let mut rest = 0;
    let line_of = |at: usize| text[..at].matches('\n').count() + 1;
    while let Some(open) = find_tag(text, rest, "snapshot") {
        let (tag_start, tag_end, inner) = open;
        let name = inner.trim();
        if !crate::settings::is_identifier(name) {
            return Err(Diagnostic::error(format!("`{{% snapshot {name} %}}` needs a name made of letters, digits and underscores"))
                .with_span(Span::line(file.to_owned(), text, line_of(tag_start))));
        }
        let Some((end_start, end_end, _)) = find_tag(text, tag_end, "endsnapshot") else {
            return Err(Diagnostic::error(format!("snapshot `{name}` has no `{{% endsnapshot %}}`"))
                .with_span(Span::line(file.to_owned(), text, line_of(tag_start))));
        };
        let body = &text[tag_end..end_start];
        let padding = "\n".repeat(line_of(tag_end) - 1);
        out.push((name.to_owned(), format!("{padding}{body}")));
        rest = end_end;
    }
    if out.is_empty() {
        return Err(Diagnostic::error("a file in `snapshot-paths` holds no `{% snapshot name %}` block")
            .with_span(Span::file(file.to_owned()))
            .with_help("wrap the query in `{% snapshot my_snapshot %} ... {% endsnapshot %}`, or define the snapshot in YAML with `relation:`"));
    }
    Ok(out)
}

/// The next `{% <tag> ... %}` (any whitespace control) from `from`: its start, its end and
/// what follows the tag name inside it.
fn find_tag<'t>(text: &'t str, from: usize, tag: &str) -> Option<(usize, usize, &'t str)> {
    let mut at = from;
    while let Some(i) = text[at..].find("{%") {
        let start = at + i;
        let close = text[start..].find("%}")? + start;
        let inner = text[start + 2..close].trim_start_matches('-').trim_end_matches('-').trim();
        let word_end = inner.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(inner.len());
        if &inner[..word_end] == tag {
            return Some((start, close + 2, &inner[word_end..]));
        }
        at = close + 2;
    }
    None
}

fn singular(tree: &str) -> &str {
    match tree {
        "models" => "model",
        "seeds" => "seed",
        "sources" => "source",
        "analyses" => "analysis",
        other => other,
    }
}

/// The config a resource gets from the project file's tree of kind `tree` (`models`,
/// `seeds`...), walking from the root down its fqn: deeper levels win. Also returns the
/// same configs unrendered (dbt's `unrendered_config`).
///
/// A package's resources take its own project file's tree first, then the root project's
/// (whose `models: <package>:` level applies to them), as dbt does.
pub fn tree_config(settings: &Settings, tree: &str, fqn: &[String]) -> (ConfigMap, ConfigMap) {
    let mut config = ConfigMap::new();
    let mut unrendered = ConfigMap::new();
    let package = fqn.first().and_then(|p| settings.packages.iter().find(|s| s.name == *p));
    for project in package.into_iter().chain(std::iter::once(&settings.project)) {
        let (c, u) = tree_config_of(project, tree, fqn);
        merge_into(&mut config, &c);
        merge_into(&mut unrendered, &u);
    }
    (config, unrendered)
}

/// The config one project file's tree of kind `tree` gives the resource at `fqn`.
fn tree_config_of(project: &ProjectSettings, tree: &str, fqn: &[String]) -> (ConfigMap, ConfigMap) {
    let mut config = ConfigMap::new();
    let mut unrendered = ConfigMap::new();
    let raw_tree = project.doc.root.get(
        if tree == "data_tests" && project.doc.root.get("data_tests").is_none() {
            "tests"
        } else {
            tree
        },
    );
    let Some((_, tree_node)) = project.config_trees.iter().find(|(k, _)| k == tree) else {
        return (config, unrendered);
    };
    let mut level = Some(tree_node);
    let mut raw_level = raw_tree;
    for depth in 0..=fqn.len() {
        let Some(node) = level else { break };
        let mut here = ConfigMap::new();
        let mut here_raw = ConfigMap::new();
        for entry in node.as_map().unwrap_or(&[]) {
            // dbt's rule: `+key` is always a config; a plain key is a config unless its
            // value is a mapping, which makes it a folder or resource name.
            let is_config = entry.key.starts_with('+') || entry.value.as_map().is_none();
            if is_config {
                here.insert(
                    crate::config::normalize_key(&entry.key),
                    entry.value.to_json(),
                );
                if let Some(raw) = raw_level.and_then(|r| r.get(&entry.key)) {
                    here_raw.insert(crate::config::normalize_key(&entry.key), raw.to_json());
                }
            }
        }
        merge_into(&mut config, &here);
        merge_into(&mut unrendered, &here_raw);
        if depth == fqn.len() {
            break;
        }
        level = node.get(&fqn[depth]);
        raw_level = raw_level.and_then(|r| r.get(&fqn[depth]));
    }
    (config, unrendered)
}

/// sha256 of some bytes, hex encoded.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses `{% docs name %}...{% enddocs %}` blocks.
pub fn parse_doc_blocks(file: &str, text: &str) -> Result<Vec<DocBlock>, Diagnostic> {
    let mut blocks = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(start) = rest.find("{%") {
        let Some(end) = rest[start + 2..].find("%}") else {
            break;
        };
        let tag = rest[start + 2..start + 2 + end].trim_matches('-').trim();
        let after = start + 2 + end + 2;
        if let Some(name) = tag.strip_prefix("docs") {
            let name = name.trim();
            if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return Err(
                    Diagnostic::error(format!("invalid doc block name `{name}`")).with_span(
                        Span::from_byte_range(file, text, offset + start, offset + after),
                    ),
                );
            }
            let body_rest = &rest[after..];
            let Some(close) = find_enddocs(body_rest) else {
                return Err(
                    Diagnostic::error(format!("doc block `{name}` is never closed"))
                        .with_span(Span::from_byte_range(
                            file,
                            text,
                            offset + start,
                            offset + after,
                        ))
                        .with_help("add `{% enddocs %}`"),
                );
            };
            let contents = body_rest[..close.0]
                .trim_matches('\n')
                .trim_end()
                .to_owned();
            let contents = if rest[start..after].ends_with("-%}") {
                contents.trim_start().to_owned()
            } else {
                contents
            };
            blocks.push(DocBlock {
                name: name.to_owned(),
                contents,
                original_file_path: file.to_owned(),
                package: String::new(),
            });
            let consumed = after + close.1;
            offset += consumed;
            rest = &rest[consumed..];
        } else {
            offset += after;
            rest = &rest[after..];
        }
    }
    Ok(blocks)
}

/// Where `{% enddocs %}` starts in `s`, and where it ends.
fn find_enddocs(s: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(i) = s[from..].find("{%") {
        let start = from + i;
        let end = s[start + 2..].find("%}")? + start + 4;
        if s[start + 2..end - 2].trim_matches('-').trim() == "enddocs" {
            return Some((start, end));
        }
        from = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_blocks() {
        let text = "{% docs orders %}\nAll orders.\n\nOne per row.\n{% enddocs %}\n\n{%- docs status -%}\n  status of the order\n{%- enddocs -%}";
        let blocks = parse_doc_blocks("models/docs.md", text).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].contents, "All orders.\n\nOne per row.");
        assert_eq!(blocks[1].contents, "status of the order");
        let err = parse_doc_blocks("d.md", "{% docs x %}\nnever closed").unwrap_err();
        assert_eq!(err.message, "doc block `x` is never closed");
    }
}
