//! `silt optimize`: the selected tables compacted (optionally z-ordered), checkpointed
//! and vacuumed.

use std::sync::Arc;

use super::{CommandError, Events, Selectors, invocation, load, runtime, select};
use crate::exec::ExecError;
use crate::exec::optimize::{OptimizeOutcome, OptimizeRequest};
use crate::graph::IndirectSelection;
use crate::parse::ParsedProject;
use crate::project::ResourceType;
use crate::settings::LoadOptions;

/// What to optimize, and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub project: LoadOptions,
    /// Models, seeds and sources; those with a Delta table are optimized.
    pub selection: Selectors,
    pub request: OptimizeRequest,
}

/// What optimizing each table did.
pub struct Report {
    /// `schema.table` and its outcome, in selection order.
    pub tables: Vec<(String, Result<OptimizeOutcome, ExecError>)>,
}

/// `silt optimize`.
pub fn optimize(opts: &Options, events: Arc<dyn Events>) -> Result<Report, CommandError> {
    let inv = invocation("optimize", &opts.project, &opts.selection, false);
    let loaded = load(&opts.project, &inv, false, false, events.as_ref())?;
    let types = [ResourceType::Model, ResourceType::Seed, ResourceType::Snapshot, ResourceType::Source];
    let ids = select(&loaded, &opts.selection, &types, IndirectSelection::Eager, events.as_ref())?;
    let tables = table_dirs(&loaded.parsed, &ids);
    if tables.is_empty() {
        return Ok(Report { tables: Vec::new() });
    }
    let rt = runtime()?;
    let session = crate::exec::open_session(&loaded.parsed)?;
    let tables = tables
        .into_iter()
        .map(|(name, dir)| {
            let outcome = rt.block_on(crate::exec::optimize::optimize(&session, &dir, &opts.request));
            events.optimized(&name, &outcome);
            (name, outcome)
        })
        .collect();
    Ok(Report { tables })
}

/// The Delta tables among `ids`: selected models and seeds that write tables, and Kafka-fed
/// source tables, as (name, folder).
fn table_dirs(parsed: &ParsedProject, ids: &[String]) -> Vec<(String, std::path::PathBuf)> {
    let warehouse = &parsed.project.settings.target.warehouse_path;
    let mut out = Vec::new();
    for id in ids {
        if let Some(n) = parsed.node(id) {
            if n.config.enabled && n.config.materialized.writes_table() {
                out.push((
                    n.relation.key(),
                    n.relation.path(warehouse),
                ));
            }
        } else if let Some(s) = parsed.source(id) {
            if s.enabled && s.source.kafka.is_some() {
                out.push((
                    s.relation.key(),
                    s.relation.path(warehouse),
                ));
            }
        }
    }
    out.retain(|(_, d)| crate::exec::storage::exists(d));
    out
}
