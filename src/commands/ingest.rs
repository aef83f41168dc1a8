//! `silt ingest` (Kafka into bronze, exactly once), `silt produce` (chat into Kafka) and
//! `silt optimize` (compaction, checkpoints and vacuum of the selected tables).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::{CommandError, Events, Selection, invocation, load, runtime, select};
use crate::exec::ExecError;
use crate::exec::optimize::{OptimizeOutcome, OptimizeRequest};
use crate::graph::IndirectSelection;
use crate::ingest::produce::Partitioning;
use crate::ingest::{IngestOptions, IngestTarget, Progress, Reset};
use crate::parse::ParsedProject;
use crate::project::ResourceType;
use crate::settings::LoadOptions;

/// What to ingest.
#[derive(Debug, Clone, Default)]
pub struct IngestArgs {
    pub project: LoadOptions,
    /// Sources (Kafka-fed ones are ingested).
    pub selection: Selection,
    /// Stop once every partition is read up to where it ended at the start.
    pub until_caught_up: bool,
    /// Stop after this many messages per table.
    pub max_messages: Option<u64>,
    /// Where to go when a partition's next offset no longer exists in Kafka.
    pub reset_offsets: Option<Reset>,
    /// Set to stop: the batch in hand is committed first.
    pub stop: Arc<AtomicBool>,
}

/// What an ingestion read.
pub struct IngestReport {
    /// The Kafka-fed source tables selected (none: nothing was read).
    pub targets: Vec<IngestTarget>,
    pub progress: Vec<Progress>,
}

/// `silt ingest`.
pub fn ingest(opts: &IngestArgs, events: Arc<dyn Events>) -> Result<IngestReport, CommandError> {
    let inv = invocation("ingest", &opts.project, &opts.selection, false);
    let loaded = load(&opts.project, &inv, false, false, events.as_ref())?;
    let ids = select(&loaded, &opts.selection, &[ResourceType::Source], IndirectSelection::Eager, events.as_ref())?;
    let targets = crate::ingest::targets(&loaded.parsed, &loaded.graph, Some(&ids));
    if targets.is_empty() {
        return Ok(IngestReport {
            targets,
            progress: Vec::new(),
        });
    }
    let ingest = IngestOptions {
        until_caught_up: opts.until_caught_up,
        max_messages: opts.max_messages,
        reset_offsets: opts.reset_offsets,
        stop: opts.stop.clone(),
        exclusive: false,
    };
    events.ingesting(&targets);
    let progress = crate::ingest::ingest_project(&loaded.parsed, &targets, &ingest, events)?;
    Ok(IngestReport { targets, progress })
}

/// What `silt produce` sends.
#[derive(Debug, Clone)]
pub enum Produce {
    /// Synthetic chat messages `start..start + count` of the sample with this seed.
    Synthetic { count: u64, seed: u64, start: u64 },
    /// A file of raw IRC lines or JSON lines.
    Replay(PathBuf),
    /// Live chat of these Twitch channels.
    Channels(Vec<String>),
}

/// What to produce, and where.
#[derive(Debug, Clone)]
pub struct ProduceArgs {
    pub project: LoadOptions,
    /// The topic (default: the topic of the project's only Kafka source).
    pub topic: Option<String>,
    /// What to send; `None` is an error that says what can be.
    pub what: Option<Produce>,
    /// Messages per second (default: as fast as possible).
    pub rate: Option<f64>,
    /// Stop after this many messages (live chat).
    pub max_messages: Option<u64>,
    pub stop: Arc<AtomicBool>,
}

/// What was produced.
pub struct ProduceReport {
    pub topic: String,
    pub sent: u64,
    /// Lines of a replayed file that were not sent, with why.
    pub skipped: Vec<(usize, String)>,
}

/// `silt produce`.
pub fn produce(opts: &ProduceArgs, events: Arc<dyn Events>) -> Result<ProduceReport, CommandError> {
    let inv = invocation("produce", &opts.project, &Selection::default(), false);
    let loaded = load(&opts.project, &inv, false, false, events.as_ref())?;
    let target = &loaded.parsed.project.settings.target;
    let Some(kafka) = &target.kafka else {
        return Err(CommandError::Failed(format!(
            "target `{}` has no `kafka:` section: produce needs `kafka: {{bootstrap_servers: host:port}}`",
            target.name
        )));
    };
    if kafka.is_embedded() {
        return Err(CommandError::Failed(
            "`silt produce` needs a Kafka broker: an embedded cluster lives only as long as one command (set `bootstrap_servers` to host:port)".into(),
        ));
    }
    let topic = match &opts.topic {
        Some(t) => t.clone(),
        None => only_topic(&loaded.parsed, &loaded.graph)?,
    };
    let producer = crate::ingest::produce::producer(&kafka.bootstrap_servers, &kafka.properties)?;
    let stop = &opts.stop;
    let (sent, skipped) = match &opts.what {
        Some(Produce::Synthetic { count, seed, start }) => {
            let sent = crate::ingest::produce::synthetic(
                &producer,
                &topic,
                *seed,
                *start,
                start + count,
                Partitioning::Broker,
                opts.rate,
                stop,
            )?;
            (sent, Vec::new())
        }
        Some(Produce::Replay(file)) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| CommandError::Failed(format!("cannot read `{}`: {e}", file.display())))?;
            crate::ingest::produce::replay(&producer, &topic, &text, opts.rate, stop)?
        }
        Some(Produce::Channels(channels)) => {
            let sent = crate::ingest::twitch::produce_live(
                &producer,
                &topic,
                &crate::ingest::twitch::Connection::twitch(channels),
                opts.max_messages,
                stop,
                &|line| events.note(line),
            )?;
            (sent, Vec::new())
        }
        None => {
            return Err(CommandError::Failed(
                "say what to produce: `--synthetic N`, `--replay FILE` or `--channels a,b`".into(),
            ));
        }
    };
    Ok(ProduceReport { topic, sent, skipped })
}

/// The one topic the project's Kafka sources read.
fn only_topic(parsed: &ParsedProject, graph: &crate::graph::Graph) -> Result<String, CommandError> {
    let targets = crate::ingest::targets(parsed, graph, None);
    let mut topics: Vec<&String> = targets.iter().flat_map(|t| t.source.topics.iter()).collect();
    topics.sort();
    topics.dedup();
    match topics.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(CommandError::Failed("no Kafka source declares a topic: pass `--topic`".into())),
        many => Err(CommandError::Failed(format!(
            "the project's Kafka sources read several topics ({}): pass `--topic`",
            many.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// What to optimize, and how.
#[derive(Debug, Clone, Default)]
pub struct OptimizeArgs {
    pub project: LoadOptions,
    /// Models, seeds and sources; those with a Delta table are optimized.
    pub selection: Selection,
    pub request: OptimizeRequest,
}

/// What optimizing each table did.
pub struct OptimizeReport {
    /// `schema.table` and its outcome, in selection order.
    pub tables: Vec<(String, Result<OptimizeOutcome, ExecError>)>,
}

/// `silt optimize`.
pub fn optimize(opts: &OptimizeArgs, events: Arc<dyn Events>) -> Result<OptimizeReport, CommandError> {
    let inv = invocation("optimize", &opts.project, &opts.selection, false);
    let loaded = load(&opts.project, &inv, false, false, events.as_ref())?;
    let types = [ResourceType::Model, ResourceType::Seed, ResourceType::Source];
    let ids = select(&loaded, &opts.selection, &types, IndirectSelection::Eager, events.as_ref())?;
    let tables = table_dirs(&loaded.parsed, &ids);
    if tables.is_empty() {
        return Ok(OptimizeReport { tables: Vec::new() });
    }
    let rt = runtime()?;
    let session = crate::exec::open_session(&loaded.parsed)?;
    let tables = tables
        .into_iter()
        .map(|(name, dir)| {
            let outcome = rt.block_on(crate::exec::optimize::optimize(&session, &dir, &opts.request));
            (name, outcome)
        })
        .collect();
    Ok(OptimizeReport { tables })
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
