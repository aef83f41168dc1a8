//! `target/column_lineage.json`: where each column of each model comes from, traced
//! through DataFusion's logical plans.

use std::collections::BTreeMap;

use serde_json::json;

use crate::compile::CompiledNode;
use crate::diagnostic::Diagnostic;
use crate::parse::ParsedProject;
use crate::project::ResourceType;

/// `target/column_lineage.json`: for each model that plans, each column's upstream columns
/// as `{"node": unique id (or the relation when it is not in the project), "column": name}`.
pub async fn column_lineage(
    parsed: &ParsedProject,
    compiled: &BTreeMap<String, Result<CompiledNode, Diagnostic>>,
) -> serde_json::Value {
    let Ok(session) = crate::exec::open_session(parsed) else {
        return json!({});
    };
    crate::exec::register_views(&session, parsed, compiled);
    // Relations as plans name them (`schema.identifier`) -> unique ids.
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    for n in &parsed.nodes {
        ids.insert(n.relation.key(), n.node.unique_id.clone());
    }
    for s in &parsed.sources {
        ids.insert(s.relation.key(), s.source.unique_id.clone());
    }
    let mut out = serde_json::Map::new();
    for (id, c) in compiled {
        let (Some(n), Ok(c)) = (parsed.node(id), c) else { continue };
        if n.node.resource_type != ResourceType::Model {
            continue;
        }
        let Ok(columns) = crate::exec::lineage::of_query(&session, &c.sql).await else {
            continue;
        };
        let mut cols = serde_json::Map::new();
        for (column, ups) in columns {
            let ups: Vec<serde_json::Value> = ups
                .into_iter()
                .map(|(relation, col)| {
                    let relation = relation.strip_prefix("silt.").unwrap_or(&relation).to_owned();
                    json!({"node": ids.get(&relation).cloned().unwrap_or(relation), "column": col})
                })
                .collect();
            cols.insert(column, json!(ups));
        }
        out.insert(id.clone(), serde_json::Value::Object(cols));
    }
    serde_json::Value::Object(out)
}
