//! `silt ingest`: the selected Kafka sources consumed into their bronze Delta tables,
//! exactly once.

use std::sync::Arc;

use super::{CommandError, Events, Selectors, Stop, invocation, load, select};
use crate::graph::IndirectSelection;
use crate::ingest::{IngestOptions, IngestTarget, Progress, Reset};
use crate::project::ResourceType;
use crate::settings::LoadOptions;

/// What to ingest.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub project: LoadOptions,
    /// Sources (Kafka-fed ones are ingested).
    pub selection: Selectors,
    /// Stop once every partition is read up to where it ended at the start.
    pub until_caught_up: bool,
    /// Stop after this many messages per table.
    pub max_messages: Option<u64>,
    /// Where to go when a partition's next offset no longer exists in Kafka.
    pub reset_offsets: Option<Reset>,
    /// When to stop before the end (the batch in hand is committed first).
    pub stop: Stop,
}

/// What an ingestion read.
pub struct Report {
    /// The Kafka-fed source tables selected (none: nothing was read).
    pub targets: Vec<IngestTarget>,
    pub progress: Vec<Progress>,
}

/// `silt ingest`.
pub fn ingest(opts: &Options, events: Arc<dyn Events>) -> Result<Report, CommandError> {
    let inv = invocation("ingest", &opts.project, &opts.selection, false);
    let loaded = load(&opts.project, &inv, false, false, events.as_ref())?;
    let ids = select(&loaded, &opts.selection, &[ResourceType::Source], IndirectSelection::Eager, events.as_ref())?;
    let targets = crate::ingest::targets(&loaded.parsed, &loaded.graph, Some(&ids));
    if targets.is_empty() {
        return Ok(Report {
            targets,
            progress: Vec::new(),
        });
    }
    let ingest = IngestOptions {
        until_caught_up: opts.until_caught_up,
        max_messages: opts.max_messages,
        reset_offsets: opts.reset_offsets,
        stop: opts.stop.flag(),
        exclusive: false,
    };
    events.ingesting(&targets);
    let progress = crate::ingest::ingest_project(&loaded.parsed, &targets, &ingest, events)?;
    Ok(Report { targets, progress })
}
