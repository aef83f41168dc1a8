//! Artifacts in dbt's shapes: `target/manifest.json` (schema v12) and
//! `target/run_results.json` (schema v6), so tools that read dbt's artifacts read Silt's.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value as Json, json};

use crate::compile::CompiledNode;
use crate::diagnostic::Diagnostic;
use crate::exec::NodeResult;
use crate::graph::Graph;
use crate::parse::{Materialization, ParsedNode, ParsedProject, ParsedSource};
use crate::project::Column;

/// Versions written into artifact metadata.
pub const DBT_SCHEMA_MANIFEST: &str = "https://schemas.getdbt.com/dbt/manifest/v12.json";
pub const DBT_SCHEMA_RUN_RESULTS: &str = "https://schemas.getdbt.com/dbt/run-results/v6.json";

/// Facts about this invocation, shared by every artifact.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub invocation_id: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// The command (`run`, `compile`...).
    pub which: String,
    /// The arguments, for `run_results.json`'s `args`.
    pub args: Json,
}

fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn metadata(parsed: &ParsedProject, inv: &Invocation, schema: &str) -> Json {
    use md5::Digest;
    let project = &parsed.project.settings.project.name;
    json!({
        "dbt_schema_version": schema,
        "dbt_version": format!("silt-{}", env!("CARGO_PKG_VERSION")),
        "generated_at": ts(chrono::Utc::now()),
        "invocation_id": inv.invocation_id,
        "invocation_started_at": ts(inv.started_at),
        "env": {},
        "project_name": project,
        "project_id": format!("{:x}", md5::Md5::digest(project.as_bytes())),
        "user_id": Json::Null,
        "send_anonymous_usage_stats": false,
        "adapter_type": "datafusion",
        "quoting": {"database": true, "schema": true, "identifier": true, "column": Json::Null},
    })
}

fn columns_json(columns: &indexmap::IndexMap<String, Column>) -> Json {
    let mut out = Map::new();
    for (name, c) in columns {
        out.insert(
            name.clone(),
            json!({
                "name": c.name,
                "description": c.description,
                "meta": c.meta,
                "data_type": c.data_type,
                "constraints": c.constraints,
                "quote": c.quote,
                "config": {"meta": c.meta, "tags": c.tags},
                "tags": c.tags,
                "granularity": Json::Null,
                "doc_blocks": [],
            }),
        );
    }
    Json::Object(out)
}

fn config_json(node: &ParsedNode) -> Json {
    let mut config: Map<String, Json> = node.config.clone().into_iter().collect();
    let defaults = [
        ("enabled", json!(true)),
        ("alias", Json::Null),
        ("schema", Json::Null),
        ("database", Json::Null),
        ("tags", json!([])),
        ("meta", json!({})),
        ("group", Json::Null),
        ("materialized", json!(node.materialized.as_str())),
        ("incremental_strategy", Json::Null),
        ("persist_docs", json!({})),
        ("post-hook", json!([])),
        ("pre-hook", json!([])),
        ("quoting", json!({})),
        ("column_types", json!({})),
        ("full_refresh", Json::Null),
        ("unique_key", Json::Null),
        ("on_schema_change", json!("ignore")),
        ("on_configuration_change", json!("apply")),
        ("grants", json!({})),
        ("packages", json!([])),
        ("docs", json!({"show": true, "node_color": Json::Null})),
        ("contract", json!({"enforced": false, "alias_types": true})),
    ];
    for (k, v) in defaults {
        config.entry(k.to_owned()).or_insert(v);
    }
    config.insert("materialized".into(), json!(node.materialized.as_str()));
    config.insert("tags".into(), json!(node.tags));
    if node.materialized == Materialization::Seed {
        config.entry("delimiter".to_owned()).or_insert(json!(","));
        config
            .entry("quote_columns".to_owned())
            .or_insert(Json::Null);
    }
    if node.node.resource_type == crate::project::ResourceType::Model {
        config
            .entry("access".to_owned())
            .or_insert(json!("protected"));
    }
    Json::Object(config)
}

/// One node as the manifest describes it.
pub fn node_json(
    parsed: &ParsedProject,
    node: &ParsedNode,
    compiled: Option<&CompiledNode>,
) -> Json {
    let n = &node.node;
    let relation_name = match node.materialized {
        Materialization::Ephemeral | Materialization::Test | Materialization::Analysis => {
            Json::Null
        }
        _ => json!(format!(
            "\"{}\".{}",
            node.relation.database,
            node.relation.render()
        )),
    };
    let checksum = if n.resource_type == crate::project::ResourceType::Seed && n.checksum.is_empty()
    {
        json!({"name": "path", "checksum": n.original_file_path})
    } else {
        json!({"name": "sha256", "checksum": n.checksum})
    };
    let refs: Vec<Json> = node
        .refs
        .iter()
        .map(|r| json!({"name": r.name, "package": r.package, "version": r.version}))
        .collect();
    let sources: Vec<Json> = node.sources.iter().map(|(s, t)| json!([s, t])).collect();
    let depends_nodes: Vec<&String> = node.depends_on.iter().collect();
    let mut obj = json!({
        "database": node.relation.database,
        "schema": node.relation.schema,
        "name": n.name,
        "resource_type": n.resource_type.as_str(),
        "package_name": n.package,
        "path": n.path,
        "original_file_path": n.original_file_path,
        "unique_id": n.unique_id,
        "fqn": n.fqn,
        "alias": if node.materialized == Materialization::Ephemeral { json!(n.name) } else { json!(node.relation.identifier) },
        "checksum": checksum,
        "config": config_json(node),
        "tags": node.tags,
        "description": n.description,
        "columns": columns_json(&n.columns),
        "meta": node.config.get("meta").cloned().unwrap_or_else(|| n.meta.clone()),
        "group": node.config.get("group").cloned().unwrap_or(Json::Null),
        "docs": node.config.get("docs").cloned().unwrap_or(json!({"show": true, "node_color": Json::Null})),
        "patch_path": n.patch_path,
        "build_path": Json::Null,
        "unrendered_config": Json::Object(n.unrendered_config.clone().into_iter().collect()),
        "created_at": 0.0,
        "relation_name": relation_name,
        "raw_code": &*n.raw_code,
        "doc_blocks": [],
        "language": "sql",
        "refs": refs,
        "sources": sources,
        "metrics": [],
        "functions": [],
        "depends_on": {"macros": node.macros, "nodes": depends_nodes},
        "contract": node.config.get("contract").cloned().unwrap_or(json!({"enforced": false, "alias_types": true, "checksum": Json::Null})),
        "access": node.config.get("access").cloned().unwrap_or(json!("protected")),
        "constraints": n.constraints,
        "version": Json::Null,
        "latest_version": Json::Null,
        "deprecation_date": Json::Null,
    });
    if let (Json::Object(o), Some(c)) = (&mut obj, compiled) {
        o.insert("compiled_path".into(), json!(c.compiled_path));
        o.insert("compiled".into(), json!(true));
        o.insert("compiled_code".into(), json!(c.sql));
        o.insert("extra_ctes_injected".into(), json!(true));
        o.insert(
            "extra_ctes".into(),
            json!(
                c.extra_ctes
                    .iter()
                    .map(|(id, sql)| json!({"id": id, "sql": sql}))
                    .collect::<Vec<_>>()
            ),
        );
    }
    if n.resource_type == crate::project::ResourceType::Seed {
        if let Json::Object(o) = &mut obj {
            o.insert(
                "root_path".into(),
                json!(parsed.project.settings.root.display().to_string()),
            );
        }
    }
    let _ = parsed;
    obj
}

fn source_json(s: &ParsedSource) -> Json {
    let t = &s.source;
    json!({
        "database": t.database,
        "schema": t.schema,
        "name": t.name,
        "resource_type": "source",
        "package_name": t.package,
        "path": t.original_file_path,
        "original_file_path": t.original_file_path,
        "unique_id": t.unique_id,
        "fqn": t.fqn,
        "source_name": t.source_name,
        "source_description": t.source_description,
        "loader": t.loader,
        "identifier": t.identifier,
        "quoting": {"database": Json::Null, "schema": Json::Null, "identifier": Json::Null, "column": Json::Null},
        "loaded_at_field": Json::Null,
        "loaded_at_query": Json::Null,
        "freshness": {"warn_after": {"count": Json::Null, "period": Json::Null}, "error_after": {"count": Json::Null, "period": Json::Null}, "filter": Json::Null},
        "external": Json::Null,
        "description": t.description,
        "columns": columns_json(&t.columns),
        "meta": t.meta,
        "source_meta": t.source_meta,
        "tags": t.tags,
        "config": {"enabled": s.enabled, "meta": t.meta, "tags": t.tags},
        "patch_path": Json::Null,
        "unrendered_config": {},
        "relation_name": format!("\"{}\".{}", s.relation.database, s.relation.render()),
        "created_at": 0.0,
        "doc_blocks": [],
    })
}

/// The manifest of a parsed project; `compiled` adds compiled SQL where there is some.
pub fn manifest(
    parsed: &ParsedProject,
    graph: &Graph,
    compiled: Option<&BTreeMap<String, Result<CompiledNode, Diagnostic>>>,
    inv: &Invocation,
) -> Json {
    let mut nodes = Map::new();
    let mut disabled = Map::new();
    for n in &parsed.nodes {
        let c = compiled
            .and_then(|c| c.get(&n.node.unique_id))
            .and_then(|r| r.as_ref().ok());
        let j = node_json(parsed, n, c);
        if n.enabled {
            nodes.insert(n.node.unique_id.clone(), j);
        } else {
            disabled.insert(n.node.unique_id.clone(), json!([j]));
        }
    }
    let mut sources = Map::new();
    for s in &parsed.sources {
        if s.enabled {
            sources.insert(s.source.unique_id.clone(), source_json(s));
        } else {
            disabled.insert(s.source.unique_id.clone(), json!([source_json(s)]));
        }
    }
    let mut macros = Map::new();
    for m in parsed.templates.macros() {
        let docs = parsed.project.macro_docs.get(&m.name);
        let path = if m.package == "dbt" {
            "macros/silt_builtins.sql".to_owned()
        } else {
            m.file.clone()
        };
        macros.insert(
            m.unique_id(),
            json!({
                "name": m.name,
                "resource_type": "macro",
                "package_name": m.package,
                "path": path,
                "original_file_path": path,
                "unique_id": m.unique_id(),
                "macro_sql": m.body,
                "depends_on": {"macros": []},
                "description": docs.map(|d| d.description.clone()).unwrap_or_default(),
                "meta": docs.map(|d| d.meta.clone()).unwrap_or(json!({})),
                "docs": {"show": true, "node_color": Json::Null},
                "patch_path": docs.and_then(|d| d.patch_path.clone()),
                "arguments": docs.map(|d| d.arguments.clone()).unwrap_or_default(),
                "created_at": 0.0,
                "supported_languages": Json::Null,
            }),
        );
    }
    let project_name = &parsed.project.settings.project.name;
    let mut docs = Map::new();
    for d in parsed.project.docs.values() {
        let id = format!("doc.{project_name}.{}", d.name);
        docs.insert(
            id.clone(),
            json!({
                "name": d.name,
                "resource_type": "doc",
                "package_name": project_name,
                "path": d.original_file_path.rsplit('/').next().unwrap_or(&d.original_file_path),
                "original_file_path": d.original_file_path,
                "unique_id": id,
                "block_contents": d.contents,
            }),
        );
    }
    let (parents, children) = graph.maps();
    let sorted = |m: std::collections::HashMap<String, Vec<String>>| -> Json {
        let b: BTreeMap<String, Vec<String>> = m.into_iter().collect();
        json!(b)
    };
    json!({
        "metadata": metadata(parsed, inv, DBT_SCHEMA_MANIFEST),
        "nodes": nodes,
        "sources": sources,
        "macros": macros,
        "docs": docs,
        "exposures": {},
        "metrics": {},
        "groups": {},
        "selectors": {},
        "disabled": disabled,
        "parent_map": sorted(parents),
        "child_map": sorted(children),
        "group_map": {},
        "saved_queries": {},
        "semantic_models": {},
        "unit_tests": {},
        "functions": {},
    })
}

/// `run_results.json` for a run's results.
pub fn run_results(
    parsed: &ParsedProject,
    results: &[NodeResult],
    inv: &Invocation,
    elapsed: f64,
) -> Json {
    let entries: Vec<Json> = results
        .iter()
        .map(|r| {
            json!({
                "status": r.status.as_str(),
                "timing": r.timing.iter().map(|t| json!({"name": t.name, "started_at": ts(t.started_at), "completed_at": ts(t.completed_at)})).collect::<Vec<_>>(),
                "thread_id": r.thread_id,
                "execution_time": r.execution_time,
                "adapter_response": r.adapter_response(),
                "message": r.message,
                "failures": r.failures,
                "unique_id": r.unique_id,
                "compiled": r.compiled_code.is_some(),
                "compiled_code": r.compiled_code,
                "relation_name": r.relation_name.as_ref().map(|rel| {
                    let db = parsed.node(&r.unique_id).map(|n| n.relation.database.clone()).unwrap_or_default();
                    format!("\"{db}\".{rel}")
                }),
                "batch_results": Json::Null,
            })
        })
        .collect();
    let mut meta = metadata(parsed, inv, DBT_SCHEMA_RUN_RESULTS);
    if let Json::Object(m) = &mut meta {
        m.retain(|k, _| {
            matches!(
                k.as_str(),
                "dbt_schema_version"
                    | "dbt_version"
                    | "generated_at"
                    | "invocation_id"
                    | "invocation_started_at"
                    | "env"
            )
        });
    }
    json!({
        "metadata": meta,
        "results": entries,
        "elapsed_time": elapsed,
        "args": inv.args,
    })
}

/// Writes `value` as JSON to `path`, creating folders. The file is written beside its
/// final name and renamed, so a reader never sees half an artifact.
pub fn write_json(path: &Path, value: &Json) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    {
        let file = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::new(file);
        serde_json::to_writer(&mut w, value).map_err(std::io::Error::other)?;
        std::io::Write::flush(&mut w)?;
    }
    std::fs::rename(&tmp, path)
}
