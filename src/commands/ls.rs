//! `silt ls`: the project's resources of the given types, sorted by unique id as dbt
//! sorts them.

use std::sync::Arc;

use super::{CommandError, Events, Selectors, invocation, load, select};
use crate::Loaded;
use crate::graph::IndirectSelection;
use crate::project::ResourceType;
use crate::settings::LoadOptions;

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub project: LoadOptions,
    pub selection: Selectors,
    /// The resource types listed.
    pub types: Vec<ResourceType>,
}

/// The resources found.
pub struct Report {
    pub loaded: Loaded,
    /// Unique ids, sorted.
    pub ids: Vec<String>,
}

/// `silt ls`.
pub fn ls(opts: &Options, events: Arc<dyn Events>) -> Result<Report, CommandError> {
    let inv = invocation("list", &opts.project, &opts.selection, false);
    let loaded = load(&opts.project, &inv, false, false, events.as_ref())?;
    let mut ids = select(&loaded, &opts.selection, &opts.types, IndirectSelection::Eager, events.as_ref())?;
    ids.sort();
    Ok(Report { loaded, ids })
}
