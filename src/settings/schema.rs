//! Which keys dbt accepts where, checked against dbt's own JSON schemas.
//!
//! dbt-core 1.10+ validates `dbt_project.yml` and property files against JSON schemas it
//! ships (`dbt/jsonschemas/`, Apache-2.0, dbt Labs) and only warns about keys they do not
//! list; a typo such as `unnnique_key` is silently ignored. Silt embeds the same schemas so
//! that "every key dbt accepts" is exactly dbt's list, and turns an unknown key into an error
//! with a "did you mean". On top of the schemas it accepts what dbt-core still accepts under
//! older spellings: properties that have moved under `config:` (`tags`, `meta`, `docs`...),
//! config keys without `+` in the project file, and test arguments written beside the test's
//! name instead of under `arguments:`.

use std::sync::LazyLock;

use serde_json::{Map, Value};

use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::yaml::{Node, NodeId, Yaml, YamlDoc};

static RESOURCES: LazyLock<Value> =
    LazyLock::new(|| parse_schema(include_str!("dbt_schema/resources.json")));
static PROJECT: LazyLock<Value> =
    LazyLock::new(|| parse_schema(include_str!("dbt_schema/project.json")));

fn parse_schema(text: &str) -> Value {
    // The schemas are compiled in and covered by tests; a failure here is a build defect.
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// Keys dbt-core 1.11's dataclasses accept beside the schema (read from
/// `dbt/contracts/graph/unparsed.py`), plus Silt's own extensions.
fn legacy_keys(definition: &str) -> &'static [&'static str] {
    match definition {
        "ModelProperties" => &[
            "access",
            "docs",
            "meta",
            "data_type",
            "quote_columns",
            "group",
            "tags",
        ],
        "ColumnProperties" => &["docs", "meta", "tags"],
        "SourceProperties" => &[
            "freshness",
            "loaded_at_field",
            "loaded_at_query",
            "meta",
            "tags",
            "overrides",
        ],
        // `kafka` declares a Kafka-fed source table (Silt's bronze ingestion).
        "Tables" => &[
            "constraints",
            "data_type",
            "docs",
            "freshness",
            "loaded_at_field",
            "loaded_at_query",
            "meta",
            "tags",
            "kafka",
        ],
        "SeedProperties" | "AnalysesProperties" | "DataTestProperties" => &[
            "access",
            "constraints",
            "data_type",
            "docs",
            "meta",
            "quote_columns",
            "group",
            "tags",
        ],
        "MacrosProperties" => &["constraints", "data_type", "docs", "meta"],
        "ExposureProperties" => &["meta", "tags"],
        // dbt 1.11 writes metrics with `type_params` (the jsonschema has the newer shape;
        // dbt-core skips the key when it validates).
        "MetricsProperties" => &["type_params"],
        "Versions" => &[
            "access",
            "columns",
            "constraints",
            "data_tests",
            "deprecation_date",
            "description",
            "docs",
            "tests",
        ],
        // Legacy project keys that dbt-core still reads.
        "Project" => &["packages", "source-paths", "data-paths"],
        _ => &[],
    }
}

/// What a schema definition is called in messages.
fn describe(definition: &str) -> String {
    let definition = definition.trim_end_matches('#');
    let known = match definition {
        "Project" => "the project file",
        "Properties" => "a properties file",
        "ModelProperties" => "model properties",
        "ColumnProperties" => "column properties",
        "SourceProperties" => "source properties",
        "Tables" => "source table properties",
        "SeedProperties" => "seed properties",
        "ModelConfig" => "model config",
        "SeedConfig" => "seed config",
        "SourceConfig" | "TablesConfig" => "source config",
        "DataTestConfig" => "test config",
        "ProjectModelConfig" => "the `models:` config",
        "ProjectSeedConfig" => "the `seeds:` config",
        "ProjectDataTestConfig" => "the `data_tests:` config",
        "ProjectSourceConfig" => "the `sources:` config",
        "ProjectSnapshotConfig" => "the `snapshots:` config",
        "CustomTestMultiKey" | "CustomTestInner" => "a data test",
        "UnitTestProperties" => "unit test properties",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    // `DocsConfig` -> "docs config"
    let mut out = String::new();
    for (i, c) in definition.trim_start_matches('_').chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// A non-`+` key of a project config tree that is not a config name: a folder, a model or
/// a package. Whether it names anything is checked once the project's files are known.
#[derive(Debug, Clone)]
pub struct ConfigPath {
    /// The resource kind of the tree: `models`, `seeds`, `data_tests`, `sources`...
    pub tree: String,
    /// The keys from the tree's root down to this one.
    pub path: Vec<String>,
    pub key_id: NodeId,
}

/// Checks every key of a project file. Returns the folder/resource keys of its config trees.
pub fn check_project_file(doc: &YamlDoc, diags: &mut Vec<Diagnostic>) -> Vec<ConfigPath> {
    let mut walker = Walker::new(doc, &PROJECT, diags);
    static ROOT: LazyLock<Value> = LazyLock::new(|| schema_root(&PROJECT, "Project"));
    let root = &*ROOT;
    walker.walk(&doc.root, root, "Project", &mut Vec::new());
    walker.config_paths
}

/// Checks every key of a properties (`version: 2`) file.
pub fn check_properties_file(doc: &YamlDoc, diags: &mut Vec<Diagnostic>) {
    let mut walker = Walker::new(doc, &RESOURCES, diags);
    static ROOT: LazyLock<Value> = LazyLock::new(|| schema_root(&RESOURCES, "Properties"));
    let root = &*ROOT;
    walker.walk(&doc.root, root, "Properties", &mut Vec::new());
}

/// The config keys of a resource kind (`ModelConfig`, `SeedConfig`...), for suggestions.
pub fn config_keys(definition: &str) -> &'static [String] {
    static CACHE: LazyLock<std::sync::Mutex<std::collections::HashMap<String, &'static [String]>>> = LazyLock::new(Default::default);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(keys) = cache.get(definition) {
        return keys;
    }
    let keys: Vec<String> = definitions(&RESOURCES)
        .and_then(|d| d.get(definition))
        .and_then(|d| d.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    // A handful of definitions, each leaked once for the life of the process.
    let keys: &'static [String] = Box::leak(keys.into_boxed_slice());
    cache.insert(definition.to_owned(), keys);
    keys
}

/// Config keys Silt acts on; every other key of dbt's config definitions is accepted and
/// ignored (the README lists them, and a test keeps that list true).
pub const ACTED_ON_CONFIG_KEYS: &[&str] = &[
    "materialized",
    "enabled",
    "tags",
    "meta",
    "schema",
    "alias",
    "database",
    "unique_key",
    "incremental_strategy",
    "on_schema_change",
    "full_refresh",
    "partition_by",
    "incremental_predicates",
    "predicates",
    "merge_update_columns",
    "merge_exclude_columns",
    "column_types",
    "delimiter",
    "docs",
    "contract",
    "pre_hook",
    "post_hook",
    "sql_header",
    "quote_columns",
    "severity",
    "warn_if",
    "error_if",
    "fail_calc",
    "where",
    "limit",
    "store_failures",
    "store_failures_as",
    "strategy",
    "updated_at",
    "check_cols",
    "hard_deletes",
    "invalidate_hard_deletes",
    "dbt_valid_to_current",
    "snapshot_meta_column_names",
    "target_schema",
    "target_database",
];

/// The config keys of every resource kind that Silt accepts but does not act on.
pub fn ignored_config_keys() -> Vec<String> {
    let mut keys = std::collections::BTreeSet::new();
    for def in [
        "ModelConfig",
        "SeedConfig",
        "SourceConfig",
        "TablesConfig",
        "DataTestConfig",
        "SnapshotConfig",
    ] {
        keys.extend(config_keys(def).iter().cloned());
    }
    keys.into_iter()
        .filter(|k| !ACTED_ON_CONFIG_KEYS.contains(&k.as_str()))
        .collect()
}

/// The top-level schema as a definition of its own, so the walker treats it like any other.
fn schema_root(schema: &Value, name: &str) -> Value {
    let mut root = schema.clone();
    if let Some(obj) = root.as_object_mut() {
        obj.remove("definitions");
        obj.insert("x-name".into(), Value::String(name.into()));
    }
    root
}

/// Follows `$ref`s to a definition, returning it with its name.
fn resolve<'s>(root: &'s Value, schema: &'s Value, name: &'s str) -> (&'s Value, &'s str) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let def = r.rsplit('/').next().unwrap_or(r);
        if let Some(found) = definitions(root).and_then(|d| d.get_key_value(def)) {
            return resolve(root, found.1, found.0);
        }
    }
    (schema, name)
}

fn definitions(schema: &Value) -> Option<&Map<String, Value>> {
    schema.get("definitions").and_then(Value::as_object)
}

struct Walker<'a> {
    doc: &'a YamlDoc,
    schema: &'a Value,
    diags: &'a mut Vec<Diagnostic>,
    config_paths: Vec<ConfigPath>,
}

impl<'a> Walker<'a> {
    fn new(doc: &'a YamlDoc, schema: &'a Value, diags: &'a mut Vec<Diagnostic>) -> Walker<'a> {
        Walker {
            doc,
            schema,
            diags,
            config_paths: Vec::new(),
        }
    }

    fn resolve<'s>(&self, schema: &'s Value, name: &'s str) -> (&'s Value, &'s str)
    where
        'a: 's,
    {
        resolve(self.schema, schema, name)
    }

    /// Validates `node` against `schema`; `name` is the definition it came from (for
    /// messages and special cases); `tree` holds the config-tree path when inside one.
    fn walk(&mut self, node: &Node, schema: &Value, name: &str, tree: &mut Vec<String>) {
        // Only mappings have keys to check: a scalar needs no look at its schema (and most
        // nodes of a large properties file are scalars).
        if !matches!(node.value, Yaml::Map(_) | Yaml::Seq(_)) {
            return;
        }
        let root = self.schema;
        let (schema, name) = resolve(root, schema, name);
        let name = name.to_owned();
        let alternatives = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .or_else(|| schema.get("allOf"))
            .and_then(Value::as_array);
        if let Some(alts) = alternatives {
            return self.walk_alternatives(node, alts, &name, tree);
        }
        match &node.value {
            Yaml::Map(entries) if accepts(schema, "object") => {
                self.walk_map(node, entries, schema, &name, tree)
            }
            Yaml::Seq(items) if accepts(schema, "array") => {
                if let Some(item_schema) = schema.get("items") {
                    for item in items {
                        self.walk(item, item_schema, &name, tree);
                    }
                }
            }
            _ => {}
        }
    }

    fn walk_alternatives(
        &mut self,
        node: &Node,
        alts: &[Value],
        name: &str,
        tree: &mut Vec<String>,
    ) {
        let kind = match node.value {
            Yaml::Map(_) => "object",
            Yaml::Seq(_) => "array",
            _ => return,
        };
        let candidates: Vec<(&Value, String)> = alts
            .iter()
            .map(|a| {
                let (s, n) = resolve(self.schema, a, name);
                (s, n.to_owned())
            })
            .filter(|(s, _)| accepts_deep(self, s, kind))
            .collect();
        match candidates.len() {
            0 => {}
            1 => self.walk(node, candidates[0].0, &candidates[0].1, tree),
            _ => {
                // Several shapes fit this kind of value: keep the one that reports nothing,
                // or else the one with the fewest complaints.
                let mut best: Option<(usize, Vec<Diagnostic>, Vec<ConfigPath>)> = None;
                for (schema, def) in candidates {
                    let mut scratch = Vec::new();
                    let mut sub = Walker::new(self.doc, self.schema, &mut scratch);
                    sub.walk(node, schema, &def, &mut tree.clone());
                    let paths = std::mem::take(&mut sub.config_paths);
                    let n = scratch.len();
                    if best.as_ref().is_none_or(|(b, _, _)| n < *b) {
                        best = Some((n, scratch, paths));
                    }
                    if n == 0 {
                        break;
                    }
                }
                if let Some((_, found, paths)) = best {
                    self.diags.extend(found);
                    self.config_paths.extend(paths);
                }
            }
        }
    }

    fn walk_map(
        &mut self,
        node: &Node,
        entries: &[crate::yaml::Entry],
        schema: &Value,
        name: &str,
        tree: &mut Vec<String>,
    ) {
        let empty = Map::new();
        let props = schema
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let additional = schema.get("additionalProperties");
        let is_config_tree = name.starts_with("Project")
            && name.ends_with("Config")
            && name != "ProjectDbtCloudConfig";
        // Keys that moved from a resource's properties into its `config:` are still accepted
        // at the old place, as dbt-core does (with a deprecation warning there).
        // (Computed only when a key is not a property: it is a list of a hundred names.)
        let mut moved_cache: Option<Vec<String>> = None;
        let mut moved_to_config = |w: &Walker<'_>| -> Vec<String> {
            moved_cache
                .get_or_insert_with(|| {
                    props
                        .get("config")
                        .map(|c| w.config_definition_keys(c))
                        .unwrap_or_default()
                })
                .clone()
        };
        for entry in entries {
            let key = entry.key.as_str();
            // dbt reads hooks under either spelling (`pre-hook`, `pre_hook`).
            // (with or without `+`, as in dbt's project files).
            let hook_alias = match key.trim_start_matches('+') {
                "pre_hook" | "pre-hook" => ["+pre-hook", "pre-hook", "+pre_hook", "pre_hook"].iter().find_map(|k| props.get(*k)),
                "post_hook" | "post-hook" => ["+post-hook", "post-hook", "+post_hook", "post_hook"].iter().find_map(|k| props.get(*k)),
                _ => None,
            };
            if let Some(sub) = props.get(key).or(hook_alias) {
                // A property's own schema is not the definition it sits in: mark the name so
                // that, unless a `$ref` names a new definition, no special case applies.
                self.walk(&entry.value, sub, &nested(name), tree);
                continue;
            }
            if is_config_tree {
                // dbt's rule: a plain key whose value is a mapping names a folder or resource;
                // any other plain key is a config written without `+`.
                let is_folder = !key.starts_with('+') && entry.value.as_map().is_some();
                if !key.starts_with('+') && !is_folder
                    && let Some(sub) = props.get(&format!("+{key}")) {
                        self.walk(&entry.value, sub, &nested(name), tree);
                        continue;
                    }
                if is_folder {
                    tree.push(key.to_owned());
                    self.config_paths.push(ConfigPath {
                        tree: tree_root_name(name),
                        path: tree.clone(),
                        key_id: entry.key_id,
                    });
                    self.walk(&entry.value, schema, name, tree);
                    tree.pop();
                    continue;
                }
            }
            let moved = moved_to_config(self);
            if legacy_keys(name).contains(&key) || moved.iter().any(|k| k == key) {
                continue;
            }
            if name == "CustomTestInner" {
                // dbt-core still takes test arguments beside `config:` (the older form of
                // `arguments:`); the test's own signature checks them.
                continue;
            }
            // In a config tree, every other value is a subtree; a `+` key must be a config.
            let additional = if is_config_tree {
                Some(&Value::Bool(false))
            } else {
                additional
            };
            match additional {
                Some(Value::Bool(false)) => {
                    let mut candidates: Vec<&str> = props.keys().map(String::as_str).collect();
                    candidates.extend(legacy_keys(name));
                    candidates.extend(moved.iter().map(String::as_str));
                    if is_config_tree {
                        candidates.retain(|c| c.starts_with('+'));
                    }
                    let shown = if is_config_tree && !key.starts_with('+') {
                        format!("+{key}")
                    } else {
                        key.to_owned()
                    };
                    let suggestion = did_you_mean(&shown, candidates.iter().copied())
                        .or_else(|| did_you_mean(key, candidates.iter().copied()));
                    let mut d =
                        Diagnostic::error(format!("unknown key `{key}` in {}", describe(name)))
                            .with_span(self.doc.span(entry.key_id));
                    if let Some(s) = suggestion {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    }
                    self.diags.push(d);
                }
                Some(sub @ Value::Object(_)) => self.walk(&entry.value, sub, &nested(name), tree),
                _ => {}
            }
        }
        let _ = node;
    }

    fn config_definition_keys(&self, config_schema: &Value) -> Vec<String> {
        let alts: Vec<&Value> = match config_schema.get("anyOf").and_then(Value::as_array) {
            Some(a) => a.iter().collect(),
            None => vec![config_schema],
        };
        for alt in alts {
            let (s, _) = self.resolve(alt, "");
            if let Some(p) = s.get("properties").and_then(Value::as_object) {
                return p.keys().cloned().collect();
            }
        }
        Vec::new()
    }
}

/// The name for a value nested inside definition `name` (see [`Walker::walk_map`]).
fn nested(name: &str) -> String {
    format!("{}#", name.trim_end_matches('#'))
}

fn tree_root_name(definition: &str) -> String {
    match definition {
        "ProjectModelConfig" => "models",
        "ProjectSeedConfig" => "seeds",
        "ProjectDataTestConfig" => "data_tests",
        "ProjectSourceConfig" => "sources",
        "ProjectSnapshotConfig" => "snapshots",
        "ProjectAnalysisConfig" => "analyses",
        "ProjectUnitTestConfig" => "unit_tests",
        "ProjectExposureConfig" => "exposures",
        "ProjectMetricConfigs" => "metrics",
        "ProjectSemanticModelConfig" => "semantic-models",
        "ProjectSavedQueryConfig" => "saved-queries",
        "ProjectFunctionConfig" => "functions",
        other => other,
    }
    .to_owned()
}

/// Whether a schema's `type` admits `kind` (a schema with no type admits anything).
fn accepts(schema: &Value, kind: &str) -> bool {
    match schema.get("type") {
        None => true,
        Some(Value::String(t)) => t == kind,
        Some(Value::Array(ts)) => ts.iter().any(|t| t == kind),
        _ => false,
    }
}

fn accepts_deep(w: &Walker<'_>, schema: &Value, kind: &str) -> bool {
    if let Some(alts) = schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))
        .or_else(|| schema.get("allOf"))
        .and_then(Value::as_array)
    {
        return alts.iter().any(|a| {
            let (s, _) = w.resolve(a, "");
            accepts_deep(w, s, kind)
        });
    }
    match schema.get("type") {
        None => schema.is_object() || schema == &Value::Bool(true),
        Some(_) => accepts(schema, kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(src: &str) -> Vec<String> {
        let doc = YamlDoc::parse("models/schema.yml", src).unwrap();
        let mut diags = Vec::new();
        check_properties_file(&doc, &mut diags);
        diags
            .iter()
            .map(|d| format!("{} @{}", d.message, d.span.as_ref().map_or(0, |s| s.line)))
            .collect()
    }

    #[test]
    fn readme_lists_the_ignored_config_keys() {
        let readme = include_str!("../../README.md");
        let start = "<!-- ignored-config-keys:start -->\n";
        let end = "<!-- ignored-config-keys:end -->";
        let listed = readme
            .split(start)
            .nth(1)
            .and_then(|r| r.split(end).next())
            .unwrap_or_default();
        let expected: String = ignored_config_keys()
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
            + "\n";
        assert_eq!(
            listed, expected,
            "update the README between the ignored-config-keys markers to:\n{expected}"
        );
    }

    #[test]
    fn schemas_are_embedded() {
        assert!(definitions(&RESOURCES).is_some_and(|d| d.contains_key("ModelConfig")));
        assert!(definitions(&PROJECT).is_some_and(|d| d.contains_key("ProjectModelConfig")));
    }

    #[test]
    fn accepts_the_usual_shapes() {
        let src = "\
version: 2
models:
  - name: orders
    description: x
    meta: {owner: me}
    config: {materialized: table, unique_key: [a, b], tags: [x]}
    columns:
      - name: id
        data_tests:
          - unique
          - not_null:
              config: {severity: warn}
          - accepted_values:
              values: [a, b]
              quote: false
          - relationships:
              arguments: {to: ref('customers'), field: id}
sources:
  - name: raw
    schema: \"{{ target.schema }}\"
    tables:
      - name: events
        columns: [{name: id, tests: [unique]}]
";
        assert_eq!(check(src), Vec::<String>::new());
    }

    #[test]
    fn accepts_metrics_as_dbt_1_11_writes_them() {
        let src = "\
version: 2
semantic_models:
  - name: orders_sm
    model: ref('orders')
    entities: [{name: order, type: primary, expr: id}]
    measures: [{name: order_count, agg: count, expr: id}]
metrics:
  - name: total_orders
    label: Total orders
    type: simple
    type_params:
      measure: order_count
";
        assert_eq!(check(src), Vec::<String>::new());
        assert_eq!(check(&src.replace("type_params", "type_parms")).len(), 1);
    }

    #[test]
    fn reports_unknown_keys_with_suggestions() {
        let src = "\
version: 2
models:
  - name: orders
    confg: {}
    config:
      unnnique_key: id
    columns:
      - name: id
        descripton: x
";
        let doc = YamlDoc::parse("models/schema.yml", src).unwrap();
        let mut diags = Vec::new();
        check_properties_file(&doc, &mut diags);
        let rendered: Vec<String> = diags.iter().map(|d| d.render(false)).collect();
        insta::assert_snapshot!(rendered.join("\n"), @r"
        error: unknown key `confg` in model properties
         --> models/schema.yml:4:5
          |
        4 |     confg: {}
          |     ^^^^^
          = help: did you mean `config`?

        error: unknown key `unnnique_key` in model config
         --> models/schema.yml:6:7
          |
        6 |       unnnique_key: id
          |       ^^^^^^^^^^^^
          = help: did you mean `unique_key`?

        error: unknown key `descripton` in column properties
         --> models/schema.yml:9:9
          |
        9 |         descripton: x
          |         ^^^^^^^^^^
          = help: did you mean `description`?
        ");
    }

    #[test]
    fn project_config_trees_separate_configs_from_folders() {
        let src = "\
name: shop
profile: shop
models:
  shop:
    +materialized: view
    staging:
      materialized: table
      +tags: [s]
      +unnique_key: x
";
        let doc = YamlDoc::parse("dbt_project.yml", src).unwrap();
        let mut diags = Vec::new();
        let paths = check_project_file(&doc, &mut diags);
        let msgs: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(msgs, ["unknown key `+unnique_key` in the `models:` config"]);
        assert_eq!(
            diags[0].help.as_deref(),
            Some("did you mean `+unique_key`?")
        );
        let folders: Vec<Vec<String>> = paths.iter().map(|p| p.path.clone()).collect();
        assert_eq!(
            folders,
            [
                vec!["shop".to_owned()],
                vec!["shop".to_owned(), "staging".to_owned()]
            ]
        );
    }

    #[test]
    fn values_inside_config_trees_are_not_folders() {
        let src = "name: shop\nseeds:\n  shop:\n    +column_types:\n      id: bigint\n    +meta: {anything: 1}\n";
        let doc = YamlDoc::parse("dbt_project.yml", src).unwrap();
        let mut diags = Vec::new();
        let paths = check_project_file(&doc, &mut diags);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(paths.len(), 1);
    }

    #[test]
    fn unknown_project_keys_are_errors() {
        let doc = YamlDoc::parse("dbt_project.yml", "name: x\nmodel-path: [m]\n").unwrap();
        let mut diags = Vec::new();
        check_project_file(&doc, &mut diags);
        assert_eq!(diags.len(), 1);
        assert_eq!(
            diags[0].message,
            "unknown key `model-path` in the project file"
        );
        assert_eq!(
            diags[0].help.as_deref(),
            Some("did you mean `model-paths`?")
        );
    }
}
