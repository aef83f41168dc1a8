//! `silt produce`: chat into a Kafka topic, synthetic, replayed from a file, or relayed
//! live from Twitch.

use std::path::PathBuf;
use std::sync::Arc;

use super::{CommandError, Events, Selectors, Stop, invocation, load};
use crate::ingest::produce::Partitioning;
use crate::parse::ParsedProject;
use crate::settings::LoadOptions;

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
pub struct Options {
    pub project: LoadOptions,
    /// The topic (default: the topic of the project's only Kafka source).
    pub topic: Option<String>,
    /// What to send; `None` is an error that says what can be.
    pub what: Option<Produce>,
    /// Messages per second (default: as fast as possible).
    pub rate: Option<f64>,
    /// Stop after this many messages (live chat).
    pub max_messages: Option<u64>,
    /// When to stop before the end.
    pub stop: Stop,
}

/// What was produced.
pub struct Report {
    pub topic: String,
    pub sent: u64,
    /// Lines of a replayed file that were not sent, with why.
    pub skipped: Vec<(usize, String)>,
}

/// `silt produce`.
pub fn produce(opts: &Options, events: Arc<dyn Events>) -> Result<Report, CommandError> {
    let inv = invocation("produce", &opts.project, &Selectors::default(), false);
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
    let stop = &opts.stop.flag();
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
    Ok(Report { topic, sent, skipped })
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
