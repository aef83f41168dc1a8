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
    let compile_opts = CompileOptions {
        full_refresh: false,
        existing: crate::exec::existing_relations(parsed),
    };
    let (name, sql) = match &opts.inline {
        Some(sql) => ("inline_query".to_owned(), compile_inline(parsed, sql, &compile_opts)?.sql),
        None => {
            let types = [ResourceType::Model, ResourceType::Seed, ResourceType::Analysis];
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
    let session = crate::exec::session_with_views(parsed)?;
    let preview = runtime()?
        .block_on(crate::exec::show::preview(&session, &sql, opts.limit))
        .map_err(|e| Diagnostic::error(e.to_string()).with_note(format!("while previewing `{name}`")))?;
    Ok(Report {
        name,
        inline: opts.inline.is_some(),
        preview,
    })
}
