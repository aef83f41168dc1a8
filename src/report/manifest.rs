//! `target/manifest.json` in dbt's shape (schema v12), so tools that read dbt's manifest
//! read Silt's: every node and source with its config, columns, dependencies and, when
//! compiled, its SQL.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value as Json, json};

use crate::compile::CompiledNode;
use crate::diagnostic::Diagnostic;
use crate::graph::Graph;
use crate::parse::{Materialization, ParsedNode, ParsedProject, ParsedSource};
use crate::project::Column;

use super::{Invocation, metadata};

/// The version written into the manifest's metadata.
pub const DBT_SCHEMA_MANIFEST: &str = "https://schemas.getdbt.com/dbt/manifest/v12.json";

/// A serde map written from an iterator of entries, without building it in memory.
struct MapOf<I>(std::cell::RefCell<Option<I>>);

impl<I> MapOf<I> {
    fn new(iter: I) -> MapOf<I> {
        MapOf(std::cell::RefCell::new(Some(iter)))
    }
}

impl<K: Serialize, V: Serialize, I: Iterator<Item = (K, V)>> Serialize for MapOf<I> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if let Some(iter) = self.0.borrow_mut().take() {
            for (k, v) in iter {
                map.serialize_entry(&k, &v)?;
            }
        }
        map.end()
    }
}

#[derive(Serialize)]
struct ColumnOut<'a> {
    name: &'a str,
    description: &'a str,
    meta: &'a Json,
    data_type: &'a Option<String>,
    constraints: &'a [Json],
    quote: Option<bool>,
    config: ColumnConfigOut<'a>,
    tags: &'a [String],
    granularity: Option<()>,
    doc_blocks: [(); 0],
}

#[derive(Serialize)]
struct ColumnConfigOut<'a> {
    meta: &'a Json,
    tags: &'a [String],
}

fn columns_out(columns: &indexmap::IndexMap<String, Column>) -> impl Serialize + '_ {
    MapOf::new(columns.iter().map(|(name, c)| {
        (
            name,
            ColumnOut {
                name: &c.name,
                description: &c.description,
                meta: &c.meta,
                data_type: &c.data_type,
                constraints: &c.constraints,
                quote: c.quote,
                config: ColumnConfigOut {
                    meta: &c.meta,
                    tags: &c.tags,
                },
                tags: &c.tags,
                granularity: None,
                doc_blocks: [],
            },
        )
    }))
}

/// A node's config as dbt writes it: what is set, then dbt's defaults for the rest.
struct ConfigOut<'a>(&'a ParsedNode);

impl Serialize for ConfigOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let node = self.0;
        let mut map = s.serialize_map(None)?;
        let materialized = node.config.materialized.as_str();
        for (k, v) in &node.config.raw {
            match k.as_str() {
                "materialized" => map.serialize_entry(k, materialized)?,
                "tags" => map.serialize_entry(k, &node.config.tags)?,
                "pre-hook" | "post-hook" => {
                    let hooks = if k == "pre-hook" { &node.config.pre_hook } else { &node.config.post_hook };
                    let list: Vec<Json> = hooks.iter().map(|h| h.to_json()).collect();
                    map.serialize_entry(k, &list)?
                }
                _ => map.serialize_entry(k, v)?,
            }
        }
        let has = |k: &str| node.config.raw.contains_key(k);
        let null = Json::Null;
        let defaults: [(&str, Json); 21] = [
            ("enabled", json!(true)),
            ("alias", null.clone()),
            ("schema", null.clone()),
            ("database", null.clone()),
            ("meta", json!({})),
            ("group", null.clone()),
            ("incremental_strategy", null.clone()),
            ("persist_docs", json!({})),
            ("post-hook", json!([])),
            ("pre-hook", json!([])),
            ("quoting", json!({})),
            ("column_types", json!({})),
            ("full_refresh", null.clone()),
            ("unique_key", null.clone()),
            ("on_schema_change", json!("ignore")),
            ("on_configuration_change", json!("apply")),
            ("grants", json!({})),
            ("packages", json!([])),
            ("docs", json!({"show": true, "node_color": null})),
            ("contract", json!({"enforced": false, "alias_types": true})),
            ("access", json!("protected")),
        ];
        if !has("materialized") {
            map.serialize_entry("materialized", materialized)?;
        }
        if !has("tags") {
            map.serialize_entry("tags", &node.config.tags)?;
        }
        if node.config.materialized == Materialization::Test {
            let test_defaults: [(&str, Json); 12] = [
                ("enabled", json!(true)),
                ("alias", null.clone()),
                ("schema", json!("dbt_test__audit")),
                ("database", null.clone()),
                ("meta", json!({})),
                ("severity", json!("ERROR")),
                ("store_failures", null.clone()),
                ("store_failures_as", null.clone()),
                ("where", null.clone()),
                ("limit", null.clone()),
                ("fail_calc", json!("count(*)")),
                ("warn_if", json!("!= 0")),
            ];
            for (k, v) in &test_defaults {
                if !has(k) {
                    map.serialize_entry(k, v)?;
                }
            }
            if !has("error_if") {
                map.serialize_entry("error_if", "!= 0")?;
            }
            return map.end();
        }
        for (k, v) in &defaults {
            if *k == "access" && node.node.resource_type != crate::project::ResourceType::Model {
                continue;
            }
            if !has(k) {
                map.serialize_entry(k, v)?;
            }
        }
        if node.config.materialized == Materialization::Seed {
            if !has("delimiter") {
                map.serialize_entry("delimiter", ",")?;
            }
            if !has("quote_columns") {
                map.serialize_entry("quote_columns", &null)?;
            }
        }
        map.end()
    }
}

#[derive(Serialize)]
struct RefOut<'a> {
    name: &'a str,
    package: &'a Option<String>,
    version: &'a Option<String>,
}

#[derive(Serialize)]
struct DependsOnOut<'a> {
    macros: &'a [String],
    nodes: &'a [String],
}

#[derive(Serialize)]
struct CteOut<'a> {
    id: &'a str,
    sql: &'a str,
}

/// One node as the manifest describes it (fields in dbt's order).
#[derive(Serialize)]
struct NodeOut<'a> {
    database: &'a str,
    schema: &'a str,
    name: &'a str,
    resource_type: &'static str,
    package_name: &'a str,
    path: &'a str,
    original_file_path: &'a str,
    unique_id: &'a str,
    fqn: &'a [String],
    alias: &'a str,
    checksum: Json,
    config: ConfigOut<'a>,
    tags: &'a [String],
    description: &'a str,
    #[serde(serialize_with = "serialize_columns")]
    columns: &'a indexmap::IndexMap<String, Column>,
    meta: &'a Json,
    group: &'a Json,
    docs: Json,
    patch_path: &'a Option<String>,
    build_path: Option<()>,
    unrendered_config: &'a crate::config::ConfigMap,
    created_at: f64,
    relation_name: Option<String>,
    raw_code: &'a str,
    doc_blocks: [(); 0],
    language: &'static str,
    refs: Vec<RefOut<'a>>,
    sources: Vec<[&'a str; 2]>,
    metrics: [(); 0],
    functions: [(); 0],
    depends_on: DependsOnOut<'a>,
    contract: Json,
    access: &'a Json,
    constraints: &'a [Json],
    version: Option<()>,
    latest_version: Option<()>,
    deprecation_date: Option<()>,
    #[serde(skip_serializing_if = "Option::is_none")]
    compiled_path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    compiled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    compiled_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra_ctes_injected: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra_ctes: Option<Vec<CteOut<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    root_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    test_metadata: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_key_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attached_node: Option<&'a str>,
}

fn serialize_columns<S: Serializer>(
    columns: &&indexmap::IndexMap<String, Column>,
    s: S,
) -> Result<S::Ok, S::Error> {
    columns_out(columns).serialize(s)
}

static NULL: Json = Json::Null;
static PROTECTED: std::sync::LazyLock<Json> = std::sync::LazyLock::new(|| json!("protected"));

fn node_out<'a>(
    parsed: &'a ParsedProject,
    node: &'a ParsedNode,
    compiled: Option<&'a CompiledNode>,
) -> NodeOut<'a> {
    let n = &node.node;
    let relation_name = match node.config.materialized {
        Materialization::Ephemeral | Materialization::Test | Materialization::Analysis => None,
        _ => Some(node.relation.qualified()),
    };
    let checksum = if n.resource_type == crate::project::ResourceType::Seed && n.checksum.is_empty()
    {
        json!({"name": "path", "checksum": n.original_file_path})
    } else {
        json!({"name": "sha256", "checksum": n.checksum})
    };
    NodeOut {
        database: &node.relation.database,
        schema: &node.relation.schema,
        name: &n.name,
        resource_type: n.resource_type.as_str(),
        package_name: &n.package,
        path: &n.path,
        original_file_path: n.package_path(),
        unique_id: &n.unique_id,
        fqn: &n.fqn,
        alias: if node.config.materialized == Materialization::Ephemeral {
            &n.name
        } else {
            &node.relation.identifier
        },
        checksum,
        config: ConfigOut(node),
        tags: &node.config.tags,
        description: &n.description,
        columns: &n.columns,
        meta: node.config.raw.get("meta").unwrap_or(&n.meta),
        group: node.config.raw.get("group").unwrap_or(&NULL),
        docs: node
            .config
            .raw
            .get("docs")
            .cloned()
            .unwrap_or(json!({"show": true, "node_color": null})),
        patch_path: &n.patch_path,
        build_path: None,
        unrendered_config: &n.unrendered_config,
        created_at: 0.0,
        relation_name,
        raw_code: &n.raw_code,
        doc_blocks: [],
        language: "sql",
        refs: node
            .refs
            .iter()
            .map(|r| RefOut {
                name: &r.name,
                package: &r.package,
                version: &r.version,
            })
            .collect(),
        sources: node
            .sources
            .iter()
            .map(|(s, t)| [s.as_str(), t.as_str()])
            .collect(),
        metrics: [],
        functions: [],
        depends_on: DependsOnOut {
            macros: &node.macros,
            nodes: &node.depends_on,
        },
        contract: contract_json(node),
        access: node.config.raw.get("access").unwrap_or(&PROTECTED),
        constraints: &n.constraints,
        version: None,
        latest_version: None,
        deprecation_date: None,
        compiled_path: compiled.map(|c| c.compiled_path.as_str()),
        compiled: compiled.map(|_| true),
        compiled_code: compiled.map(|c| c.sql.as_str()),
        extra_ctes_injected: compiled.map(|_| true),
        extra_ctes: compiled.map(|c| {
            c.extra_ctes
                .iter()
                .map(|(id, sql)| CteOut { id, sql })
                .collect()
        }),
        root_path: (n.resource_type == crate::project::ResourceType::Seed)
            .then(|| parsed.project.settings.root.display().to_string()),
        test_metadata: n.test.as_ref().map(|t| {
            json!({"name": t.name, "kwargs": Json::Object(t.kwargs.clone()), "namespace": t.namespace})
        }),
        column_name: n.test.as_ref().and_then(|t| t.column_name.as_deref()),
        file_key_name: n.test.as_ref().map(|t| t.file_key_name.as_str()),
        attached_node: n.test.as_ref().map(|t| t.attached_node.as_str()),
    }
}

/// A node's contract, with dbt's checksum of an enforced one: its columns by name (name,
/// data type, constraints), then for tables and incremental models the materialization and
/// the model's constraints. Without constraints the checksum is dbt's own; constraints are
/// spelled as Python would spell their JSON, not as dbt's classes print.
fn contract_json(node: &ParsedNode) -> Json {
    use crate::project::testing::generic::py_repr;
    let raw = node.config.raw.get("contract");
    let alias_types = raw.and_then(|c| c.get("alias_types")).cloned().unwrap_or(Json::Bool(true));
    let checksum = node.config.contract_enforced.then(|| {
        let n = &node.node;
        let mut columns: Vec<&Column> = n.columns.values().collect();
        columns.sort_by(|a, b| a.name.cmp(&b.name));
        let mut text = String::new();
        for c in columns {
            text.push('|');
            text.push_str(&c.name);
            text.push_str(c.data_type.as_deref().unwrap_or("None"));
            text.push_str(&py_repr(&Json::Array(c.constraints.clone())));
        }
        if matches!(node.config.materialized, Materialization::Table | Materialization::Incremental) {
            text.push_str(node.config.materialized.as_str());
            text.push_str(&py_repr(&Json::Array(n.constraints.clone())));
        }
        crate::project::sha256_hex(text.as_bytes())
    });
    json!({"enforced": node.config.contract_enforced, "alias_types": alias_types, "checksum": checksum})
}

/// An exposure as the manifest's `exposures` section describes it.
fn exposure_json(node: &ParsedNode) -> Json {
    let n = &node.node;
    let Some(spec) = &n.exposure else { return Json::Null };
    let get = |k: &str| spec.get(k).cloned().unwrap_or(Json::Null);
    let owner = get("owner");
    let refs: Vec<Json> = node
        .refs
        .iter()
        .map(|r| json!({"name": r.name, "package": r.package, "version": r.version}))
        .collect();
    let sources: Vec<Json> = node.sources.iter().map(|(s, t)| json!([s, t])).collect();
    json!({
        "name": n.name,
        "resource_type": "exposure",
        "package_name": n.package,
        "path": n.path,
        "original_file_path": n.package_path(),
        "unique_id": n.unique_id,
        "fqn": n.fqn,
        "type": get("type"),
        "owner": {"email": owner.get("email").cloned().unwrap_or(Json::Null), "name": owner.get("name").cloned().unwrap_or(Json::Null)},
        "description": n.description,
        "label": get("label"),
        "maturity": get("maturity"),
        "meta": node.config.raw.get("meta").unwrap_or(&n.meta),
        "tags": node.config.tags,
        "config": {"enabled": node.config.enabled, "tags": node.config.tags, "meta": node.config.raw.get("meta").unwrap_or(&n.meta)},
        "unrendered_config": n.unrendered_config,
        "url": get("url"),
        "depends_on": {"macros": node.macros, "nodes": node.depends_on},
        "refs": refs,
        "sources": sources,
        "metrics": [],
        "created_at": 0.0,
    })
}

/// A unit test as the manifest's `unit_tests` section describes it.
fn unit_test_json(node: &ParsedNode) -> Json {
    let n = &node.node;
    let Some(u) = &n.unit else { return Json::Null };
    let fixture = |rows: &crate::project::testing::unit::FixtureRows| -> Json {
        use crate::project::testing::unit::FixtureRows;
        match rows {
            FixtureRows::Dict(r) => json!({"rows": r, "format": "dict", "fixture": null}),
            FixtureRows::Csv(t) => json!({"rows": t, "format": "csv", "fixture": null}),
            FixtureRows::Sql(t) => json!({"rows": t, "format": "sql", "fixture": null}),
        }
    };
    let given: Vec<Json> = u
        .given
        .iter()
        .map(|g| {
            let mut f = fixture(&g.rows);
            f["input"] = json!(g.input);
            f
        })
        .collect();
    // What the test is, but its description (as dbt's checksum), for `state:modified`.
    let what = json!({"model": u.model, "given": given, "expect": fixture(&u.expect), "overrides": {"macros": u.overrides.macros, "vars": u.overrides.vars, "env_vars": u.overrides.env_vars}});
    let checksum = crate::project::sha256_hex(what.to_string().as_bytes());
    json!({
        "model": u.model,
        "given": given,
        "expect": fixture(&u.expect),
        "name": n.name,
        "resource_type": "unit_test",
        "package_name": n.package,
        "path": n.path,
        "original_file_path": n.package_path(),
        "unique_id": n.unique_id,
        "fqn": n.fqn,
        "description": n.description,
        "overrides": {"macros": u.overrides.macros, "vars": u.overrides.vars, "env_vars": u.overrides.env_vars},
        "depends_on": {"macros": [], "nodes": node.depends_on},
        "config": {"tags": node.config.tags, "meta": n.meta, "enabled": node.config.enabled},
        "checksum": checksum,
        "schema": node.relation.schema,
        "created_at": 0.0,
        "versions": null,
        "version": null,
    })
}

/// One node as the manifest describes it, as JSON (for `silt ls --output json`).
pub fn node_json(
    parsed: &ParsedProject,
    node: &ParsedNode,
    compiled: Option<&CompiledNode>,
) -> Json {
    serde_json::to_value(node_out(parsed, node, compiled)).unwrap_or(Json::Null)
}

/// The parts of the manifest that `state:` selection compares (`nodes`, `sources`,
/// `unit_tests`, `macros`), as `manifest.json` writes them, without compiled code.
pub fn comparable(parsed: &ParsedProject) -> Json {
    let enabled = || parsed.nodes.iter().filter(|n| n.config.enabled);
    let nodes: Map<String, Json> = enabled()
        .filter(|n| n.node.unit.is_none() && n.node.exposure.is_none())
        .map(|n| (n.node.unique_id.clone(), node_json(parsed, n, None)))
        .collect();
    let unit_tests: Map<String, Json> = enabled()
        .filter(|n| n.node.unit.is_some())
        .map(|n| (n.node.unique_id.clone(), unit_test_json(n)))
        .collect();
    let sources: Map<String, Json> = parsed
        .sources
        .iter()
        .filter(|s| s.enabled)
        .map(|s| (s.source.unique_id.clone(), source_json(&parsed.project.settings, s)))
        .collect();
    let macros: Map<String, Json> = parsed
        .templates
        .macros()
        .map(|m| (m.unique_id(), json!({"macro_sql": m.body, "depends_on": {"macros": []}})))
        .collect();
    json!({"nodes": nodes, "sources": sources, "unit_tests": unit_tests, "macros": macros})
}

fn source_json(settings: &crate::settings::Settings, s: &ParsedSource) -> Json {
    let t = &s.source;
    let path = settings.package_relative(&t.package, &t.original_file_path);
    json!({
        "database": t.database,
        "schema": t.schema,
        "name": t.name,
        "resource_type": "source",
        "package_name": t.package,
        "path": path,
        "original_file_path": path,
        "unique_id": t.unique_id,
        "fqn": t.fqn,
        "source_name": t.source_name,
        "source_description": t.source_description,
        "loader": t.loader,
        "identifier": t.identifier,
        "quoting": {"database": null, "schema": null, "identifier": null, "column": null},
        "loaded_at_field": null,
        "loaded_at_query": null,
        "freshness": {"warn_after": {"count": null, "period": null}, "error_after": {"count": null, "period": null}, "filter": null},
        "external": null,
        "description": t.description,
        "columns": serde_json::to_value(columns_out(&t.columns)).unwrap_or(Json::Null),
        "meta": t.meta,
        "source_meta": t.source_meta,
        "tags": t.tags,
        "config": {"enabled": s.enabled, "meta": t.meta, "tags": t.tags},
        "patch_path": null,
        "unrendered_config": {},
        "relation_name": s.relation.qualified(),
        "created_at": 0.0,
        "doc_blocks": [],
    })
}

/// The manifest of a parsed project (dbt's schema v12), serialized as it is written:
/// a 10,000-model manifest is tens of megabytes, too much to build as a JSON tree first.
pub struct Manifest<'a> {
    pub parsed: &'a ParsedProject,
    pub graph: &'a Graph,
    /// Compiled SQL to include, where there is some.
    pub compiled: Option<&'a BTreeMap<String, Result<CompiledNode, Diagnostic>>>,
    pub invocation: &'a Invocation,
}

impl Serialize for Manifest<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let parsed = self.parsed;
        let compiled_of = |id: &str| {
            self.compiled
                .and_then(|c| c.get(id))
                .and_then(|r| r.as_ref().ok())
        };
        let empty = Map::new();
        let mut m = s.serialize_map(None)?;
        m.serialize_entry(
            "metadata",
            &metadata(parsed, self.invocation, DBT_SCHEMA_MANIFEST),
        )?;
                // Nodes are most of a manifest: serialize them on several threads, then splice.
        let enabled: Vec<&ParsedNode> = parsed
            .nodes
            .iter()
            .filter(|n| n.config.enabled && n.node.unit.is_none() && n.node.exposure.is_none())
            .collect();
        let parts = crate::par::map(&enabled.chunks(256).collect::<Vec<_>>(), |chunk| {
            let mut out = String::new();
            for n in chunk.iter() {
                let node = node_out(parsed, n, compiled_of(&n.node.unique_id));
                if !out.is_empty() {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(&n.node.unique_id).unwrap_or_default());
                out.push(':');
                out.push_str(&serde_json::to_string(&node).unwrap_or_default());
            }
            out
        });
        let nodes = format!("{{{}}}", parts.into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join(","));
        let nodes = serde_json::value::RawValue::from_string(nodes).map_err(serde::ser::Error::custom)?;
        m.serialize_entry("nodes", &nodes)?;
        m.serialize_entry(
            "sources",
            &MapOf::new(
                parsed
                    .sources
                    .iter()
                    .filter(|s| s.enabled)
                    .map(|s| (&s.source.unique_id, source_json(&parsed.project.settings, s))),
            ),
        )?;
        m.serialize_entry(
            "macros",
            &MapOf::new(parsed.templates.macros().map(|mac| {
                let docs = parsed.project.macro_docs.get(&mac.name);
                let path = if mac.package == "dbt" {
                    "macros/silt_builtins.sql"
                } else {
                    parsed.project.settings.package_relative(&mac.package, &mac.file)
                };
                (
                    mac.unique_id(),
                    json!({
                        "name": mac.name,
                        "resource_type": "macro",
                        "package_name": mac.package,
                        "path": path,
                        "original_file_path": path,
                        "unique_id": mac.unique_id(),
                        "macro_sql": mac.body,
                        "depends_on": {"macros": []},
                        "description": docs.map(|d| d.description.clone()).unwrap_or_default(),
                        "meta": docs.map(|d| d.meta.clone()).unwrap_or(json!({})),
                        "docs": {"show": true, "node_color": null},
                        "patch_path": docs.and_then(|d| d.patch_path.clone()),
                        "arguments": docs.map(|d| d.arguments.clone()).unwrap_or_default(),
                        "created_at": 0.0,
                        "supported_languages": null,
                    }),
                )
            })),
        )?;
        m.serialize_entry(
            "docs",
            &MapOf::new(parsed.project.docs.values().map(|d| {
                let id = format!("doc.{}.{}", d.package, d.name);
                let path = parsed.project.settings.package_relative(&d.package, &d.original_file_path);
                let doc = json!({
                    "name": d.name,
                    "resource_type": "doc",
                    "package_name": d.package,
                    "path": path.rsplit('/').next().unwrap_or(path),
                    "original_file_path": path,
                    "unique_id": id,
                    "block_contents": d.contents,
                });
                (id, doc)
            })),
        )?;
        m.serialize_entry(
            "exposures",
            &MapOf::new(
                parsed
                    .nodes
                    .iter()
                    .filter(|n| n.config.enabled && n.node.exposure.is_some())
                    .map(|n| (&n.node.unique_id, exposure_json(n))),
            ),
        )?;
        for key in ["metrics", "groups", "selectors"] {
            m.serialize_entry(key, &empty)?;
        }
        let disabled_nodes = parsed.nodes.iter().filter(|n| !n.config.enabled).map(|n| {
            let json = if n.node.exposure.is_some() { exposure_json(n) } else { node_json(parsed, n, None) };
            (n.node.unique_id.clone(), json!([json]))
        });
        let disabled_sources = parsed
            .sources
            .iter()
            .filter(|s| !s.enabled)
            .map(|s| (s.source.unique_id.clone(), json!([source_json(&parsed.project.settings, s)])));
        m.serialize_entry(
            "disabled",
            &MapOf::new(disabled_nodes.chain(disabled_sources)),
        )?;
        let (parents, children) = self.graph.maps();
        let sorted =
            |map: std::collections::HashMap<String, Vec<String>>| -> BTreeMap<String, Vec<String>> {
                map.into_iter().collect()
            };
        m.serialize_entry("parent_map", &sorted(parents))?;
        m.serialize_entry("child_map", &sorted(children))?;
        for key in ["group_map", "saved_queries", "semantic_models"] {
            m.serialize_entry(key, &empty)?;
        }
        m.serialize_entry(
            "unit_tests",
            &MapOf::new(
                parsed
                    .nodes
                    .iter()
                    .filter(|n| n.config.enabled && n.node.unit.is_some())
                    .map(|n| (&n.node.unique_id, unit_test_json(n))),
            ),
        )?;
        m.serialize_entry("functions", &empty)?;
        m.end()
    }
}

