//! `target/run_results.json` in dbt's shape (schema v6), and `target/node_status.json`,
//! each node's last result across invocations.

use serde_json::{Value as Json, json};

use super::{Invocation, metadata, ts};
use crate::exec::NodeResult;
use crate::parse::ParsedProject;

/// The version written into the run results' metadata.
pub const DBT_SCHEMA_RUN_RESULTS: &str = "https://schemas.getdbt.com/dbt/run-results/v6.json";

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
                "relation_name": r.relation_name.as_ref().and_then(|_| parsed.node(&r.unique_id)).map(|n| n.relation.qualified()),
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

/// `target/node_status.json`: the last result of every node over all invocations, where
/// `run_results.json` holds only the last invocation's (a `silt test` after a `silt run`
/// would otherwise hide the run). The docs show it as each node's last run or test.
pub fn node_status(previous: Option<Json>, run_results: &Json) -> Json {
    let mut nodes = previous
        .and_then(|mut p| p.get_mut("nodes").map(Json::take))
        .and_then(|n| match n {
            Json::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default();
    let meta = &run_results["metadata"];
    for r in run_results["results"].as_array().into_iter().flatten() {
        let Some(id) = r["unique_id"].as_str() else { continue };
        let completed = r["timing"]
            .as_array()
            .and_then(|t| t.last())
            .map(|t| t["completed_at"].clone())
            .filter(|t| !t.is_null())
            .unwrap_or_else(|| meta["generated_at"].clone());
        nodes.insert(
            id.to_owned(),
            json!({
                "status": r["status"],
                "completed_at": completed,
                "execution_time": r["execution_time"],
                "message": r["message"],
                "failures": r["failures"],
                "invocation_id": meta["invocation_id"],
            }),
        );
    }
    json!({"nodes": nodes})
}

