//! `target/catalog.json` in dbt's shape: for every relation that exists in the warehouse,
//! its columns and types (from the Delta schema, or the planned query of a view), and its
//! row count and size (from the Delta log's file statistics, without reading data).

use std::path::Path;

use serde_json::{Value as Json, json};

use super::ExecError;
use super::session::Session;
use super::storage;
use crate::parse::{Materialization, ParsedProject};
use crate::relation::Relation;

/// The catalog: `metadata` as given, then `nodes` and `sources`.
pub async fn catalog(
    parsed: &ParsedProject,
    session: &Session,
    compiled_views: &std::collections::BTreeMap<String, String>,
    metadata: Json,
) -> Result<Json, ExecError> {
    let warehouse = &parsed.project.settings.target.warehouse_path;
    let mut nodes = serde_json::Map::new();
    let mut errors: Vec<String> = Vec::new();
    for n in parsed.nodes.iter().filter(|n| n.config.enabled) {
        let id = &n.node.unique_id;
        let entry = match n.config.materialized {
            m if m.writes_table() => table_entry(&n.relation.path(warehouse), &n.relation, id, n.node.description.as_str()).await,
            Materialization::View => match compiled_views.get(id) {
                Some(sql) => view_entry(session, sql, &n.relation, id).await,
                None => Ok(None),
            },
            _ => Ok(None),
        };
        match entry {
            Ok(Some(e)) => {
                nodes.insert(id.clone(), e);
            }
            Ok(None) => {}
            Err(e) => errors.push(format!("{id}: {e}")),
        }
    }
    let mut sources = serde_json::Map::new();
    for s in parsed.sources.iter().filter(|s| s.enabled) {
        let id = &s.source.unique_id;
        match table_entry(&s.relation.path(warehouse), &s.relation, id, "").await {
            Ok(Some(e)) => {
                sources.insert(id.clone(), e);
            }
            Ok(None) => {}
            Err(e) => errors.push(format!("{id}: {e}")),
        }
    }
    Ok(json!({
        "metadata": metadata,
        "nodes": nodes,
        "sources": sources,
        "errors": if errors.is_empty() { Json::Null } else { json!(errors) },
    }))
}

fn columns(schema: &deltalake::arrow::datatypes::Schema) -> Json {
    let mut out = serde_json::Map::new();
    for (i, f) in schema.fields().iter().enumerate() {
        out.insert(
            f.name().clone(),
            json!({"type": super::types::type_name(f.data_type()), "index": i + 1, "name": f.name(), "comment": Json::Null}),
        );
    }
    Json::Object(out)
}

fn metadata_of(kind: &str, r: &Relation, comment: &str) -> Json {
    json!({
        "type": kind,
        "schema": r.schema,
        "name": r.identifier,
        "database": r.database,
        "comment": if comment.is_empty() { Json::Null } else { json!(comment) },
        "owner": Json::Null,
    })
}

fn stat(id: &str, label: &str, value: Json, include: bool, description: &str) -> Json {
    json!({"id": id, "label": label, "value": value, "include": include, "description": description})
}

/// What the Delta log says of a table's current version.
pub struct TableStats {
    /// Rows, when every file has statistics.
    pub rows: Option<u64>,
    pub bytes: u64,
    pub files: u64,
}

/// A table's rows, size and files from the Delta log's file statistics (no data read).
pub fn table_stats(table: &deltalake::DeltaTable, dir: &Path) -> Result<TableStats, ExecError> {
    let snapshot = table.snapshot().map_err(|e| ExecError::delta(dir, e))?;
    let mut stats = TableStats { rows: Some(0), bytes: 0, files: 0 };
    for f in snapshot.log_data() {
        stats.files += 1;
        stats.bytes += f.size().max(0) as u64;
        stats.rows = stats.rows.zip(f.num_records()).map(|(a, b)| a + b as u64);
    }
    Ok(stats)
}

async fn table_entry(dir: &Path, r: &Relation, id: &str, comment: &str) -> Result<Option<Json>, ExecError> {
    if !storage::exists(dir) {
        return Ok(None);
    }
    let table = storage::open(dir).await?;
    let schema = table
        .snapshot()
        .map_err(|e| ExecError::delta(dir, e))?
        .snapshot()
        .arrow_schema();
    let TableStats { rows, bytes, files } = table_stats(&table, dir)?;
    let version = table.version().map(|v| v as i64).unwrap_or(-1);
    let mut stats = serde_json::Map::new();
    stats.insert("has_stats".into(), stat("has_stats", "Has Stats?", json!(true), false, "Indicates whether there are statistics for this table"));
    if let Some(rows) = rows {
        stats.insert("row_count".into(), stat("row_count", "Row Count", json!(rows), true, "Rows in the table's current version (from the Delta log)"));
    }
    stats.insert("bytes".into(), stat("bytes", "Approximate Size", json!(bytes), true, "Size of the data files of the current version"));
    stats.insert("num_files".into(), stat("num_files", "Files", json!(files), true, "Data files of the current version"));
    stats.insert("delta_version".into(), stat("delta_version", "Delta Version", json!(version), true, "The table's current Delta version"));
    // The last commit's time and operation: when the table was last written, and how.
    let last = {
        use futures::StreamExt;
        let mut history = table.history(Some(1));
        history.next().await
    };
    if let Some(Ok(commit)) = last {
        if let Some(ms) = commit.in_commit_timestamp.or(commit.timestamp) {
            let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            stats.insert("last_modified".into(), stat("last_modified", "Last Modified", json!(at), true, "Time of the table's last Delta commit"));
        }
        if let Some(op) = commit.operation {
            stats.insert("last_operation".into(), stat("last_operation", "Last Operation", json!(op), true, "Operation of the table's last Delta commit"));
        }
    }
    Ok(Some(json!({
        "metadata": metadata_of("BASE TABLE", r, comment),
        "columns": columns(&schema),
        "stats": stats,
        "unique_id": id,
    })))
}

async fn view_entry(session: &Session, sql: &str, r: &Relation, id: &str) -> Result<Option<Json>, ExecError> {
    let df = session.query(sql).await?;
    let schema = df.schema().as_arrow().clone();
    Ok(Some(json!({
        "metadata": metadata_of("VIEW", r, ""),
        "columns": columns(&schema),
        "stats": {"has_stats": stat("has_stats", "Has Stats?", json!(false), false, "Indicates whether there are statistics for this table")},
        "unique_id": id,
    })))
}
