//! `silt show`: the first rows of a model, a seed or inline SQL, read-only.

use std::sync::Arc;

use super::{CommandError, Events, Selectors, invocation, load, runtime, select};
use crate::compile::{CompileOptions, compile, compile_inline};
use crate::diagnostic::Diagnostic;
use crate::exec::show::Preview;
use crate::graph::IndirectSelection;
use crate::parse::Materialization;
use crate::project::ResourceType;
use crate::settings::LoadOptions;

/// What to preview.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub project: LoadOptions,
    /// One model, seed or analysis.
    pub selection: Selectors,
    /// SQL (with Jinja) to preview instead.
    pub inline: Option<String>,
    /// Rows to show; -1 for all.
    pub limit: i64,
}

/// The rows previewed.
pub struct Report {
    /// The node's name, or `inline_query`.
    pub name: String,
    pub inline: bool,
    pub preview: Preview,
}

/// `silt show`.
pub fn show(opts: &Options, events: Arc<dyn Events>) -> Result<Report, CommandError> {
    if opts.inline.is_none() && opts.selection.select.is_empty() {
        return Err(Diagnostic::error("`silt show` needs `--inline SQL` or `--select MODEL`").into());
    }
    let inv = invocation("show", &opts.project, &opts.selection, false);
    let loaded = load(&opts.project, &inv, false, false, events.as_ref())?;
    let parsed = &loaded.parsed;
    let rt = runtime()?;
    let session = crate::exec::session_with_views(parsed)?;
    let compile_opts = CompileOptions {
        existing: crate::exec::existing_relations(parsed),
        warehouse: Some(crate::exec::warehouse::SessionWarehouse::new(session.clone(), rt.handle().clone())),
        ..Default::default()
    };
    let (name, sql) = match &opts.inline {
        Some(sql) => ("inline_query".to_owned(), compile_inline(parsed, sql, &compile_opts)?.sql),
        None => {
            let types = [ResourceType::Model, ResourceType::Seed, ResourceType::Snapshot, ResourceType::Analysis];
            let ids = select(&loaded, &opts.selection, &types, IndirectSelection::Eager, events.as_ref())?;
            let [id] = ids.as_slice() else {
                return Err(Diagnostic::error(format!(
                    "`silt show --select` needs exactly one model; the selection matches {}",
                    ids.len()
                ))
                .into());
            };
            let node = parsed
                .node(id)
                .ok_or_else(|| CommandError::Failed(format!("`{id}` is not a node (this is a bug)")))?;
            if node.config.materialized == Materialization::Seed {
                (node.node.name.clone(), format!("select * from {}", node.relation.render()))
            } else {
                let mut compiled = compile(parsed, std::slice::from_ref(id), &compile_opts);
                match compiled.remove(id) {
                    Some(Ok(c)) => (node.node.name.clone(), c.sql),
                    Some(Err(d)) => return Err(d.into()),
                    None => return Err(CommandError::Failed(format!("`{id}` was not compiled (this is a bug)"))),
                }
            }
        }
    };
    let preview = rt
        .block_on(crate::exec::show::preview(&session, &sql, opts.limit))
        .map_err(|e| Diagnostic::error(e.to_string()).with_note(format!("while previewing `{name}`")))?;
    Ok(Report {
        name,
        inline: opts.inline.is_some(),
        preview,
    })
}

/// A random sample of a seed's table, as `dbt seed --show` prints it.
pub struct SeedSample {
    /// `schema.alias`.
    pub relation: String,
    /// At most ten rows, in random order.
    pub preview: Preview,
    /// Whether the table has more rows than shown.
    pub more: bool,
}

/// Rows shown per seed, as dbt's `--show`.
const SAMPLE_ROWS: i64 = 10;

/// `silt seed --show`: a random sample of each seed a run loaded.
pub fn seed_samples(report: &super::build::Report) -> Result<Vec<SeedSample>, CommandError> {
    let parsed = &report.parsed;
    let mut seeds: Vec<&crate::parse::ParsedNode> = report
        .results
        .iter()
        .filter(|r| r.status != crate::exec::Status::Error)
        .filter_map(|r| parsed.node(&r.unique_id))
        .filter(|n| n.config.materialized == Materialization::Seed)
        .collect();
    // Seeds finish in any order on several threads: their samples come in name order.
    seeds.sort_by(|a, b| a.node.unique_id.cmp(&b.node.unique_id));
    if seeds.is_empty() {
        return Ok(Vec::new());
    }
    let session = crate::exec::open_session(parsed)?;
    let rt = runtime()?;
    let mut out = Vec::new();
    for node in seeds {
        let table = node.relation.render();
        let sample = rt.block_on(async {
            let preview = crate::exec::show::preview(&session, &format!("select * from {table} order by random()"), SAMPLE_ROWS).await?;
            let count = crate::exec::query_numbers(&session, &format!("select count(*) from {table}")).await?;
            Ok::<_, crate::exec::ExecError>((preview, count.first().copied().unwrap_or(0)))
        });
        let (preview, rows) = sample.map_err(|e| Diagnostic::error(e.to_string()).with_note(format!("while sampling `{table}`")))?;
        out.push(SeedSample {
            relation: format!("{}.{}", node.relation.schema, node.relation.identifier),
            more: rows > SAMPLE_ROWS as u64,
            preview,
        });
    }
    Ok(out)
}
