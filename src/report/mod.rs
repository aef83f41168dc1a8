//! The report stage: what a command leaves in `target/` for people and tools. dbt's
//! artifacts (`manifest.json`, `run_results.json`, `catalog.json`), Silt's own
//! (`column_lineage.json`, `node_status.json`), and the SQL of each node under
//! `target/compiled/` and `target/run/`. The JSON artifacts are written whole or not at all
//! (beside their final name, then renamed).

mod files;
mod lineage;
pub mod manifest;
mod run_results;

use std::path::Path;

use serde::Serialize;
use serde_json::{Value as Json, json};

use crate::parse::ParsedProject;

pub use files::{write_compiled, write_run_files};
pub use lineage::column_lineage;
pub use manifest::{Manifest, node_json};
pub use run_results::{node_status, run_results};

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

impl Invocation {
    /// A new invocation of the command `which` (a fresh id, started now).
    pub fn new(which: &str, args: Json) -> Invocation {
        Invocation {
            invocation_id: uuid::Uuid::new_v4().to_string(),
            started_at: chrono::Utc::now(),
            which: which.to_owned(),
            args,
        }
    }
}

pub(crate) fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub(crate) fn metadata(parsed: &ParsedProject, inv: &Invocation, schema: &str) -> Json {
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

/// The `metadata` of target/catalog.json.
pub fn catalog_metadata(parsed: &ParsedProject, inv: &Invocation) -> Json {
    metadata(parsed, inv, "https://schemas.getdbt.com/dbt/catalog/v1.json")
}

/// Writes `value` as JSON to `path`, creating folders. The file is written beside its
/// final name and renamed, so a reader never sees half an artifact.
pub fn write_json(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
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
