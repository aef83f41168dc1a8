//! The execute stage: DataFusion over Delta tables. The one module that uses DataFusion and
//! deltalake.
//!
//! A run executes compiled nodes in dependency order on a pool of workers. A node that
//! fails skips everything downstream of it; each write is one Delta commit, so a failure
//! leaves the table as it was.

pub(crate) mod bronze;
mod build;
pub(crate) mod catalog;
pub(crate) mod contract;
mod error;
pub(crate) mod functions;
pub(crate) mod json;
pub(crate) mod lineage;
pub(crate) mod materialize;
pub mod optimize;
pub mod project_hooks;
mod runner;
mod schedule;
pub mod seed;
pub mod session;
pub mod show;
pub(crate) mod snapshot;
pub mod statement;
pub mod warehouse;
pub(crate) mod stage;
pub mod storage;
pub(crate) mod stream;
pub(crate) mod testing;
pub(crate) mod types;
pub(crate) mod write;

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::{Value as Json, json};

use crate::compile::{CompileOptions, CompiledNode, compile};
use crate::diagnostic::Diagnostic;
use crate::parse::{Materialization, ParsedNode, ParsedProject};

pub use error::{ErrorKind, ExecError};
pub use runner::run;
pub use schedule::Schedule;
pub use session::Session;

/// dbt's run result statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    Error,
    Skipped,
    Pass,
    Fail,
    Warn,
    /// Nothing to run (an exposure), as dbt's `no-op`.
    NoOp,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Error => "error",
            Status::Skipped => "skipped",
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::NoOp => "no-op",
        }
    }
}

/// One phase of a node's work, for `run_results.json`.
#[derive(Debug, Clone)]
pub struct Timing {
    pub name: &'static str,
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
}

/// The outcome of one node.
#[derive(Debug, Clone)]
pub struct NodeResult {
    pub unique_id: String,
    pub status: Status,
    /// `OK`, `INSERT 3`, or the error text.
    pub message: Option<String>,
    /// `Compilation Error` or `Runtime Error` for failures.
    pub error_label: Option<&'static str>,
    pub rows_affected: Option<u64>,
    pub failures: Option<u64>,
    pub timing: Vec<Timing>,
    pub execution_time: f64,
    pub thread_id: String,
    pub compiled_code: Option<String>,
    pub relation_name: Option<String>,
    /// The Delta version written, for tables.
    pub version: Option<u64>,
    /// What a failure shows beyond its message: a test's first failing rows, a unit
    /// test's difference.
    pub detail: Option<String>,
}

impl NodeResult {
    /// A result with only its node and status.
    pub fn new(unique_id: &str, status: Status) -> NodeResult {
        NodeResult {
            unique_id: unique_id.to_owned(),
            status,
            message: None,
            error_label: None,
            rows_affected: None,
            failures: None,
            timing: Vec::new(),
            execution_time: 0.0,
            thread_id: String::new(),
            compiled_code: None,
            relation_name: None,
            version: None,
            detail: None,
        }
    }

    pub fn adapter_response(&self) -> Json {
        match (&self.status, &self.message) {
            (Status::Success, Some(m)) => {
                let mut r = json!({"_message": m});
                if let Some(rows) = self.rows_affected {
                    r["rows_affected"] = json!(rows);
                    if let Some(code) = m
                        .split_whitespace()
                        .next()
                        .filter(|c| c.chars().all(|ch| ch.is_ascii_uppercase()))
                    {
                        r["code"] = json!(code);
                    }
                }
                r
            }
            _ => json!({}),
        }
    }
}

/// What a console shows about a node.
#[derive(Debug, Clone)]
pub struct NodeDesc {
    pub unique_id: String,
    pub name: String,
    pub resource_type: &'static str,
    pub materialized: Materialization,
    /// `schema.alias`
    pub relation: String,
    pub path: String,
}

impl NodeDesc {
    pub fn of(node: &ParsedNode) -> NodeDesc {
        NodeDesc {
            unique_id: node.node.unique_id.clone(),
            name: node.node.name.clone(),
            resource_type: node.node.resource_type.as_str(),
            materialized: node.config.materialized,
            relation: node.relation.key(),
            path: node.node.original_file_path.clone(),
        }
    }
}

/// Receives progress as nodes start and finish (the CLI prints it).
pub trait Observer: Send + Sync {
    fn started(&self, index: usize, total: usize, node: &NodeDesc);
    fn finished(&self, index: usize, total: usize, node: &NodeDesc, result: &NodeResult);
    /// An `on-run-start` / `on-run-end` hook starts (`name`: `package.on-run-start.0`).
    fn hook_started(&self, _index: usize, _total: usize, _name: &str) {}
    fn hook_finished(&self, _index: usize, _total: usize, _name: &str, _result: &NodeResult) {}
}

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub threads: usize,
    pub fail_fast: bool,
    pub full_refresh: bool,
    /// `--empty`: every `ref` and `source` reads no rows.
    pub empty: bool,
}

/// The relations that exist in the warehouse, for `is_incremental()`.
pub fn existing_relations(parsed: &ParsedProject) -> HashSet<String> {
    let warehouse = &parsed.project.settings.target.warehouse_path;
    parsed
        .nodes
        .iter()
        .filter(|n| n.config.enabled && n.config.materialized.writes_table())
        .filter(|n| {
            storage::exists(
                &n.relation.path(warehouse),
            )
        })
        .map(|n| n.relation.key())
        .collect()
}

/// A session over the project's warehouse, with the project's emote list.
pub fn open_session(parsed: &ParsedProject) -> Result<Session, ExecError> {
    let target = &parsed.project.settings.target;
    let session = Session::new(&target.warehouse_path, &target.schema)?;
    if let Some(emotes) = emote_list(parsed)? {
        session.set_emotes(emotes);
    }
    Ok(session)
}

/// A session where every enabled view of the project can be read.
pub fn session_with_views(parsed: &ParsedProject) -> Result<Session, ExecError> {
    let views: Vec<String> = parsed
        .nodes
        .iter()
        .filter(|n| n.config.enabled && n.config.materialized == Materialization::View)
        .map(|n| n.node.unique_id.clone())
        .collect();
    let opts = CompileOptions {
        existing: existing_relations(parsed),
        ..Default::default()
    };
    let compiled = compile(parsed, &views, &opts);
    let session = open_session(parsed)?;
    register_views(&session, parsed, &compiled);
    Ok(session)
}

/// The first row of a query whose columns are counts, as numbers (null as 0).
pub async fn query_numbers(session: &Session, sql: &str) -> Result<Vec<u64>, ExecError> {
    use deltalake::arrow::array::{Array, AsArray};
    use deltalake::arrow::datatypes::{DataType, Int64Type};
    let batches = session
        .query(sql)
        .await?
        .collect()
        .await?;
    let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for c in b.columns() {
        let c = deltalake::arrow::compute::cast(c, &DataType::Int64)?;
        let c = c.as_primitive::<Int64Type>();
        out.push(if c.is_null(0) { 0 } else { c.value(0).max(0) as u64 });
    }
    Ok(out)
}

/// What a streaming table reads as streams: its Kafka sources and streaming tables
/// upstream (other relations it reads in full).
pub fn streamed_upstreams(parsed: &ParsedProject, node: &crate::parse::ParsedNode) -> Vec<materialize::Streamed> {
    if node.config.materialized != Materialization::StreamingTable {
        return Vec::new();
    }
    node.depends_on
        .iter()
        .filter_map(|id| {
            if let Some(s) = parsed.source(id) {
                s.source.kafka.is_some().then(|| materialize::Streamed {
                    unique_id: id.clone(),
                    relation: s.relation.clone(),
                })
            } else {
                parsed
                    .node(id)
                    .filter(|n| n.config.materialized == Materialization::StreamingTable)
                    .map(|n| materialize::Streamed {
                        unique_id: id.clone(),
                        relation: n.relation.clone(),
                    })
            }
        })
        .collect()
}

/// The project variable that names the seed holding the emote list of the chat functions
/// (`sentiment`, `emote_count`, ...): a CSV with a column `emote` and one `sentiment`.
pub const EMOTES_VAR: &str = "silt_emotes";

/// The emote list named by `vars: {silt_emotes: <seed>}`, read from the seed's CSV (the
/// file, so it holds even before `silt seed`); `None` when the variable is not set.
pub fn emote_list(parsed: &ParsedProject) -> Result<Option<crate::enrich::Emotes>, ExecError> {
    let settings = &parsed.project.settings;
    let Some(value) = settings.vars.get(&settings.project.name, EMOTES_VAR) else {
        return Ok(None);
    };
    let Some(name) = value.as_str() else {
        return Err(ExecError::seed(format!(
            "project.yml: `vars: {{{EMOTES_VAR}: ...}}` must name a seed, not `{value}`"
        )));
    };
    let seeds: Vec<&crate::project::ProjectNode> = parsed
        .nodes
        .iter()
        .map(|n| &n.node)
        .filter(|n| n.resource_type == crate::project::ResourceType::Seed)
        .collect();
    let Some(seed) = seeds.iter().find(|n| n.name == name) else {
        let mut known: Vec<&str> = seeds.iter().map(|n| n.name.as_str()).collect();
        known.sort_unstable();
        return Err(ExecError::seed(format!(
            "project.yml: `{EMOTES_VAR}` names the seed `{name}`, which does not exist (seeds: {})",
            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
        )));
    };
    let path = settings.root.join(&seed.original_file_path);
    let text = std::fs::read_to_string(&path).map_err(|e| ExecError::seed(format!("{}: {e}", seed.original_file_path)))?;
    crate::enrich::Emotes::from_csv(&text, &seed.original_file_path)
        .map(Some)
        .map_err(|e| ExecError::seed(e.to_string()).with_source(e))
}

/// Registers the views among `compiled` so queries can read them.
pub fn register_views(
    session: &Session,
    parsed: &ParsedProject,
    compiled: &BTreeMap<String, Result<CompiledNode, Diagnostic>>,
) {
    for (id, c) in compiled {
        if let (Some(node), Ok(c)) = (parsed.node(id), c)
            && node.config.materialized == Materialization::View {
                session.register_view(&node.relation.schema, &node.relation.identifier, &c.sql);
            }
    }
}
