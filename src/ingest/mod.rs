//! Kafka ingestion into bronze Delta tables, exactly once: the one module that uses rdkafka.
//!
//! One consumer per Kafka-fed source table, in a consumer group (`<group_id>.<source>.
//! <table>`, so several ingesters of one table split its partitions). Where to start
//! reading each partition is not Kafka's committed offset but the bronze table's own
//! record: every commit carries, per partition, a `txn` action whose version is the last
//! offset written (see [`crate::exec::bronze`]). When partitions are assigned, the
//! consumer reads those versions and assigns each partition at the next offset, so a crash
//! at any instant loses nothing and duplicates nothing. Consumer-group offsets are committed
//! to Kafka after each Delta commit, for lag monitoring only.
//!
//! Offsets that no longer line up are never papered over: if retention deleted messages
//! that were never read, or the topic was recreated below the next offset, ingestion stops
//! with an error naming the partition, unless `--reset-offsets` says where to go.

pub(crate) mod embedded;
pub(crate) mod irc;
pub(crate) mod payload;
pub mod produce;
pub(crate) mod synthetic;
pub(crate) mod twitch;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;

use crate::exec::ExecError;
use crate::graph::Graph;
use crate::parse::ParsedProject;
use crate::exec::bronze::{BatchBuilder, BronzeTable, CommitError, Message, Payload};
use crate::project::kafka::KafkaSource;
use crate::settings::kafka::KafkaSettings;

/// A Kafka-fed source table to ingest.
#[derive(Debug, Clone)]
pub struct IngestTarget {
    /// `source.table`, as selection and messages name it.
    pub name: String,
    pub unique_id: String,
    /// The bronze table's folder.
    pub dir: PathBuf,
    pub source: Arc<KafkaSource>,
}

/// Where to go when a partition's next offset no longer exists in Kafka.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reset {
    Earliest,
    Latest,
}

/// How long and how an ingestion runs.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// Stop at the high watermarks seen at start.
    pub until_caught_up: bool,
    /// Stop after this many messages (per table).
    pub max_messages: Option<u64>,
    pub reset_offsets: Option<Reset>,
    /// Set to stop (Ctrl-C, SIGTERM): the current batch is committed first.
    pub stop: Arc<AtomicBool>,
    /// Every partition is assigned to this ingester directly, without joining the consumer
    /// group (the embedded cluster; catch-ups).
    pub exclusive: bool,
}

/// What went wrong while ingesting.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The Kafka client failed.
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// Kafka answered, but not as ingestion needs: a topic's error, a failed rebalance,
    /// messages not delivered, commits that keep conflicting.
    #[error("Kafka: {0}")]
    Broker(String),
    /// A Kafka client could not be created from the profile's properties.
    #[error("cannot create a Kafka {what}: {source}")]
    Client {
        what: &'static str,
        #[source]
        source: KafkaError,
    },
    /// The runtime that ingestion runs on could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error(
        "offsets of `{topic}` partition {partition} no longer line up: the bronze table `{table}` has read up to offset {next} (exclusive), but the partition now holds offsets {low} to {high} (exclusive); {why}. Nothing was skipped or re-read: rerun with `--reset-offsets earliest` or `--reset-offsets latest` to go on from there"
    )]
    OffsetsMismatch {
        table: String,
        topic: String,
        partition: i32,
        next: i64,
        low: i64,
        high: i64,
        why: &'static str,
    },
    #[error("{0}")]
    Delta(#[from] ExecError),
    /// The profile, the project or the command's options cannot work.
    #[error("{0}")]
    Config(String),
    /// Something that cannot happen did (a thread or task failed).
    #[error("{0} (this is a bug)")]
    Bug(String),
}

/// The Kafka-fed source tables among `ids` (unique ids of sources or of nodes, whose
/// upstream Kafka sources are then included); every one of them when `ids` is `None`.
pub fn targets(
    parsed: &ParsedProject,
    graph: &Graph,
    ids: Option<&[String]>,
) -> Vec<IngestTarget> {
    let wanted: Option<HashSet<String>> = ids.map(|ids| {
        let mut set: HashSet<String> = ids.iter().cloned().collect();
        for id in ids {
            set.extend(graph.ancestors(id, None));
        }
        set
    });
    let warehouse = &parsed.project.settings.target.warehouse_path;
    parsed
        .sources
        .iter()
        .filter(|s| s.enabled)
        .filter(|s| wanted.as_ref().is_none_or(|w| w.contains(&s.source.unique_id)))
        .filter_map(|s| {
            let kafka = s.source.kafka.clone()?;
            Some(IngestTarget {
                name: format!("{}.{}", s.source.source_name, s.source.name),
                unique_id: s.source.unique_id.clone(),
                dir: s.relation.path(warehouse),
                source: kafka,
            })
        })
        .collect()
}

/// Ingests the targets from the target's Kafka (starting the embedded cluster when the
/// profile says `embedded`). Blocking: call it outside of an async runtime.
pub fn ingest_project(
    parsed: &ParsedProject,
    targets: &[IngestTarget],
    opts: &IngestOptions,
    observer: Arc<dyn IngestObserver>,
) -> Result<Vec<Progress>, IngestError> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let target = &parsed.project.settings.target;
    let Some(kafka) = &target.kafka else {
        return Err(IngestError::Config(format!(
            "source table `{}` is fed from Kafka, but target `{}` of {} has no `kafka:` section (add `kafka: {{bootstrap_servers: embedded}}` to run an in-process cluster)",
            targets[0].name,
            target.name,
            target.profiles_file.display()
        )));
    };
    let mut topics: Vec<String> = targets
        .iter()
        .flat_map(|t| t.source.topics.iter().cloned())
        .collect();
    topics.sort();
    topics.dedup();
    let embedded = if kafka.is_embedded() {
        Some(embedded::Embedded::start(&kafka.embedded, &topics)?)
    } else {
        None
    };
    let bootstrap = match &embedded {
        Some(e) => e.bootstrap_servers(),
        None => kafka.bootstrap_servers.clone(),
    };
    let mut opts = opts.clone();
    // An embedded cluster lives in this process: no other ingester can share it. A catch-up
    // (`--until-caught-up`, and every build) assigns itself every partition too, as Spark's
    // Trigger.AvailableNow does, rather than join the consumer group: it then never waits on
    // a group that does not form (a broker that waits out dead members' rebalance timeout,
    // or never completes the rebalance, as tansu did in CI). A continuous ingester running
    // at the same time costs only reads twice: bronze's `txn` versions decide what is new.
    opts.exclusive |= embedded.is_some() || opts.until_caught_up;
    run(targets, kafka, &bootstrap, &opts, observer)
}

/// Progress of one table, reported about once a second and at the end.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub table: String,
    /// Messages accepted since the start.
    pub messages: u64,
    /// Of those, rows committed to bronze.
    pub rows_committed: u64,
    pub parse_errors: u64,
    pub commits: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    /// (topic, partition) -> messages not yet read (high watermark - next offset).
    pub lag: BTreeMap<(String, i32), i64>,
}

impl Progress {
    pub fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Receives progress (the CLI prints it).
pub trait IngestObserver: Send + Sync {
    fn progress(&self, p: &Progress);
    /// Something the user should know that did not stop ingestion.
    fn warning(&self, _message: &str) {}
}

/// Ignores progress.
pub struct Quiet;

impl IngestObserver for Quiet {
    fn progress(&self, _: &Progress) {}
}

/// The `txn` app id of a table's partition.
pub fn app_id(target: &IngestTarget, topic: &str, partition: i32) -> String {
    format!("silt-ingest:{}:{topic}:{partition}", target.unique_id)
}

/// Ingests every target on a thread of its own; returns each table's final progress.
/// Blocking: call it outside of an async runtime.
pub fn run(
    targets: &[IngestTarget],
    settings: &KafkaSettings,
    bootstrap: &str,
    opts: &IngestOptions,
    observer: Arc<dyn IngestObserver>,
) -> Result<Vec<Progress>, IngestError> {
    // Two workers: Delta commits run there while each table's thread polls Kafka.
    let rt = crate::runtime::runtime(Some(2)).map_err(IngestError::Runtime)?;
    let results: Vec<Result<Progress, IngestError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = targets
            .iter()
            .map(|t| {
                let handle = rt.handle().clone();
                let observer = observer.clone();
                scope.spawn(move || {
                    ingest_table(t, settings, bootstrap, opts, &handle, observer.as_ref())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(IngestError::Bug("an ingester thread failed".into()))
                })
            })
            .collect()
    });
    results.into_iter().collect()
}

/// topic -> partition -> the next offset to accept (looked up per message without
/// allocating).
#[derive(Default, Clone)]
struct NextOffsets(HashMap<String, HashMap<i32, i64>>);

impl NextOffsets {
    fn get_mut(&mut self, topic: &str, partition: i32) -> Option<&mut i64> {
        self.0.get_mut(topic)?.get_mut(&partition)
    }
    fn insert(&mut self, topic: String, partition: i32, next: i64) {
        self.0.entry(topic).or_default().insert(partition, next);
    }
    fn remove(&mut self, topic: &str, partition: i32) {
        if let Some(p) = self.0.get_mut(topic) {
            p.remove(&partition);
        }
    }
    fn iter(&self) -> impl Iterator<Item = ((String, i32), i64)> + '_ {
        self.0
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |(p, n)| ((t.clone(), *p), *n)))
    }
}

/// What the rebalance callback learns, for the ingest loop.
#[derive(Default)]
struct Assignment {
    next: NextOffsets,
    /// Partitions taken away since the loop last looked.
    revoked: Vec<(String, i32)>,
    /// Whether an assignment was ever received.
    assigned_once: bool,
    /// Partitions moved by `--reset-offsets`: their new position is committed to bronze
    /// (with no rows) so the move holds for later runs.
    resets: Vec<((String, i32), i64)>,
    error: Option<IngestError>,
    /// High watermarks from librdkafka's statistics (every second; no broker request).
    high: HashMap<(String, i32), i64>,
}

struct IngestContext {
    target: IngestTarget,
    handle: tokio::runtime::Handle,
    reset: Option<Reset>,
    state: Mutex<Assignment>,
}

impl IngestContext {
    /// What the callbacks share with the ingest loop (a panic elsewhere does not make it
    /// unreadable).
    fn state(&self) -> std::sync::MutexGuard<'_, Assignment> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ClientContext for IngestContext {
    // Lag comes from the statistics librdkafka gathers from its fetches: asking the
    // broker for watermarks is a round trip per partition, which stalls reading.
    fn stats(&self, statistics: rdkafka::Statistics) {
        let mut s = self.state();
        for (topic, t) in statistics.topics {
            for (partition, p) in t.partitions {
                if partition >= 0 && p.hi_offset >= 0 {
                    s.high.insert((topic.clone(), partition), p.hi_offset);
                }
            }
        }
    }
}

impl ConsumerContext for IngestContext {
    // The partitions are assigned at the offsets the bronze table records, not at the
    // group's committed offsets: that is what makes ingestion exactly once.
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let mut state = self.state();
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                match self.positions(consumer, tpl) {
                    Ok((positions, resets)) => {
                        state.resets.extend(resets);
                        for ((topic, partition), next) in positions {
                            let _ =
                                tpl.set_partition_offset(&topic, partition, Offset::Offset(next));
                            state.next.insert(topic, partition, next);
                        }
                        state.assigned_once = true;
                        if let Err(e) = consumer.assign(tpl) {
                            state.error = Some(e.into());
                        }
                    }
                    Err(e) => {
                        state.error = Some(e);
                        let _ = consumer.assign(&TopicPartitionList::new());
                    }
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                for e in tpl.elements() {
                    state.next.remove(e.topic(), e.partition());
                    state.revoked.push((e.topic().to_owned(), e.partition()));
                }
                let _ = consumer.assign(&TopicPartitionList::new());
            }
            other => {
                state.error = Some(IngestError::Broker(format!("rebalance failed: {other:?}")));
            }
        }
    }
}

/// The next offset of each partition, and those that `--reset-offsets` moved.
type Positions = (Vec<((String, i32), i64)>, Vec<((String, i32), i64)>);

impl IngestContext {
    /// The next offset of each assigned partition: after the last one the bronze table
    /// holds, checked against what the partition still has.
    fn positions(
        &self,
        consumer: &BaseConsumer<Self>,
        tpl: &TopicPartitionList,
    ) -> Result<Positions, IngestError> {
        let mut resets = Vec::new();
        let mut table = self.handle.block_on(BronzeTable::open(&self.target.dir))?;
        let mut out = Vec::new();
        for e in tpl.elements() {
            let (topic, partition) = (e.topic().to_owned(), e.partition());
            let committed =
                self.handle
                    .block_on(table.committed(&app_id(&self.target, &topic, partition)))?;
            let (low, high) = consumer
                .fetch_watermarks(&topic, partition, Duration::from_secs(30))?;
            let next = match committed {
                // Nothing ingested yet: from the beginning of what Kafka holds.
                None => match self.reset {
                    Some(Reset::Latest) => high,
                    _ => low,
                },
                Some(last) => {
                    let next = last + 1;
                    let why = if next < low {
                        Some("retention deleted messages that were never ingested")
                    } else if next > high {
                        Some("the partition ends before it (was the topic recreated?)")
                    } else {
                        None
                    };
                    match (why, self.reset) {
                        (None, _) => next,
                        (Some(_), Some(reset)) => {
                            let to = if reset == Reset::Earliest { low } else { high };
                            resets.push(((topic.clone(), partition), to));
                            to
                        }
                        (Some(why), None) => {
                            return Err(IngestError::OffsetsMismatch {
                                table: self.target.name.clone(),
                                topic,
                                partition,
                                next,
                                low,
                                high,
                                why,
                            });
                        }
                    }
                }
            };
            out.push(((topic, partition), next));
        }
        Ok((out, resets))
    }
}

/// One message held until its batch is committed; its key and value live in the batch's
/// arena (no allocation per message).
struct Held {
    topic: usize,
    partition: i32,
    offset: i64,
    timestamp_ms: Option<i64>,
    key: Option<(usize, usize)>,
    value: Option<(usize, usize)>,
    error: Option<Box<str>>,
}

/// The messages of the batch being gathered. Owned, since a conflict may drop some.
#[derive(Default)]
struct Pending {
    rows: Vec<Held>,
    arena: Vec<u8>,
}

impl Pending {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        topic: usize,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        timestamp_ms: Option<i64>,
        value: Option<&[u8]>,
        error: Option<String>,
    ) {
        let mut stash = |b: &[u8]| {
            let start = self.arena.len();
            self.arena.extend_from_slice(b);
            (start, b.len())
        };
        let key = key.map(&mut stash);
        let value = value.map(&mut stash);
        self.rows.push(Held {
            topic,
            partition,
            offset,
            timestamp_ms,
            key,
            value,
            error: error.map(String::into_boxed_str),
        });
    }

    fn bytes(&self, r: Option<(usize, usize)>) -> Option<&[u8]> {
        r.map(|(s, n)| &self.arena[s..s + n])
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Memory the batch holds.
    fn size(&self) -> usize {
        self.arena.len() + self.rows.len() * std::mem::size_of::<Held>()
    }

    fn retain(&mut self, f: impl FnMut(&Held) -> bool) {
        self.rows.retain(f);
        if self.rows.is_empty() {
            self.arena.clear();
        }
    }

    fn clear(&mut self) {
        self.rows.clear();
        self.arena.clear();
    }
}

fn ingest_table(
    target: &IngestTarget,
    settings: &KafkaSettings,
    bootstrap: &str,
    opts: &IngestOptions,
    handle: &tokio::runtime::Handle,
    observer: &dyn IngestObserver,
) -> Result<Progress, IngestError> {
    let group = format!("{}.{}", settings.group_id, target.name);
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // Eager rebalancing: a partition is revoked before it is assigned elsewhere.
        .set("partition.assignment.strategy", "range,roundrobin")
        // Bounds what librdkafka prefetches, whatever the backlog...
        .set("queued.max.messages.kbytes", "32768")
        // ...and fetches again soon once below it: at the default (1 s) a consumer that
        // drains its queue in less sits idle, which cost half the throughput.
        .set("fetch.queue.backoff.ms", "20")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("statistics.interval.ms", "1000");
    for (k, v) in &settings.properties {
        config.set(k, v);
    }
    let context = IngestContext {
        target: target.clone(),
        handle: handle.clone(),
        reset: opts.reset_offsets,
        state: Mutex::new(Assignment::default()),
    };
    let consumer: BaseConsumer<IngestContext> = config
        .create_with_context(context)
        .map_err(|source| IngestError::Client { what: "consumer", source })?;
    let result = read(target, settings, opts, handle, observer, &consumer);
    if !close(consumer) {
        observer.warning(&format!(
            "the Kafka consumer of `{}` did not leave group `{group}` within {} s (bronze is committed; the broker drops the member after session.timeout.ms)",
            target.name,
            CLOSE_LIMIT.as_secs()
        ));
    }
    result
}

/// How long leaving the consumer group may take at the end.
const CLOSE_LIMIT: Duration = Duration::from_secs(20);

/// Leaves the group and closes `consumer`, for at most `CLOSE_LIMIT`. rdkafka's own drop
/// polls until librdkafka says the consumer is closed, with no limit: a broker that never
/// answers the group leave or the last offset commit would hang the command, although
/// everything that matters is already in bronze's Delta log. Past the limit the consumer
/// is leaked (its threads end with the process); false then.
fn close(consumer: BaseConsumer<IngestContext>) -> bool {
    if consumer.close_queue().is_ok() {
        let deadline = Instant::now() + CLOSE_LIMIT;
        while !consumer.closed() {
            if Instant::now() >= deadline {
                std::mem::forget(consumer);
                return false;
            }
            // Serves the revoke that closing triggers; messages still queued are dropped
            // (bronze, not the group, records what was read).
            let _ = consumer.poll(Duration::from_millis(100));
        }
    }
    true
}

/// Reads the target's topics into bronze until asked to stop, caught up, or at the
/// message limit: join (or assign), then poll, apply what rebalances did, gather, commit.
fn read(
    target: &IngestTarget,
    settings: &KafkaSettings,
    opts: &IngestOptions,
    handle: &tokio::runtime::Handle,
    observer: &dyn IngestObserver,
    consumer: &BaseConsumer<IngestContext>,
) -> Result<Progress, IngestError> {
    let table = handle.block_on(BronzeTable::open(&target.dir))?;
    let watermarks = join(target, opts, consumer)?;
    let mut r = Reader {
        target,
        settings,
        handle,
        consumer,
        committer: Committer::new(target, table),
        watermarks,
        pending: Pending::default(),
        batch_started: Instant::now(),
        started: Instant::now(),
        progress: Progress {
            table: target.name.clone(),
            ..Progress::default()
        },
        epoch: 0,
    };
    let mut last_report = Instant::now();
    let mut stopping = false;
    loop {
        stopping |= opts.stop.load(Ordering::Relaxed);
        let polled = if stopping { None } else { consumer.poll(Duration::from_millis(100)) };
        let assigned_once = r.after_rebalance()?;
        let idle = matches!(polled, None | Some(Err(KafkaError::PartitionEOF(_))));
        match polled {
            Some(Ok(m)) => r.accept(&m),
            Some(Err(KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(e)) => {
                // Transient broker errors are retried by librdkafka; fatal ones end here.
                if matches!(e, KafkaError::MessageConsumption(code) if is_fatal(code)) {
                    return Err(e.into());
                }
            }
        }
        let max_reached = opts.max_messages.is_some_and(|max| r.progress.messages >= max);
        // Checked when there is nothing to read, or right after a batch went out (not per
        // message): the last batch goes as soon as the end is reached, not at its interval.
        let caught_up = opts.until_caught_up
            && assigned_once
            && (idle || r.pending.is_empty())
            && caught_up_with(&consumer.context().state(), &r.watermarks);
        r.flush_if(max_reached || stopping || caught_up)?;
        if last_report.elapsed() >= Duration::from_secs(1) {
            observer.progress(&r.report());
            last_report = Instant::now();
        }
        if stopping || max_reached || caught_up {
            break;
        }
    }
    r.committer.land(handle, consumer, &mut r.progress)?;
    observer.progress(&r.report());
    if !opts.exclusive {
        consumer.unsubscribe();
    }
    Ok(r.progress)
}

/// Joins the consumer group, or (exclusive) assigns every partition at the offsets bronze
/// records, as a rebalance would. Returns each partition's watermarks at the start, for
/// `--until-caught-up`.
fn join(
    target: &IngestTarget,
    opts: &IngestOptions,
    consumer: &BaseConsumer<IngestContext>,
) -> Result<Watermarks, IngestError> {
    let topics: Vec<&str> = target.source.topics.iter().map(String::as_str).collect();
    // Each topic's partitions, read once, for --until-caught-up and exclusive assignment.
    let mut partitions: Vec<(&str, i32)> = Vec::new();
    if opts.until_caught_up || opts.exclusive {
        for topic in &topics {
            let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(30))?;
            for t in md.topics() {
                if let (true, Some(e)) = (opts.until_caught_up, t.error()) {
                    return Err(IngestError::Broker(format!("topic `{topic}`: {e:?}")));
                }
                partitions.extend(t.partitions().iter().map(|p| (*topic, p.id())));
            }
        }
    }
    let mut watermarks = Watermarks::new();
    if opts.until_caught_up {
        for (topic, partition) in &partitions {
            let (low, high) = consumer.fetch_watermarks(topic, *partition, Duration::from_secs(30))?;
            watermarks.insert(((*topic).to_owned(), *partition), (low, high));
        }
    }
    if opts.exclusive {
        let mut tpl = TopicPartitionList::new();
        for (topic, partition) in &partitions {
            tpl.add_partition(topic, *partition);
        }
        consumer
            .context()
            .rebalance(consumer, RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, &mut tpl);
    } else {
        consumer.subscribe(&topics)?;
    }
    Ok(watermarks)
}

/// (topic, partition) -> its (low, high) watermarks.
type Watermarks = HashMap<(String, i32), (i64, i64)>;

/// The state of one table's read loop.
struct Reader<'a> {
    target: &'a IngestTarget,
    settings: &'a KafkaSettings,
    handle: &'a tokio::runtime::Handle,
    consumer: &'a BaseConsumer<IngestContext>,
    committer: Committer,
    /// Each partition's watermarks at the start.
    watermarks: Watermarks,
    /// The batch being gathered.
    pending: Pending,
    batch_started: Instant,
    started: Instant,
    progress: Progress,
    /// Increases with every commit, so each commit's files are named apart.
    epoch: i64,
}

impl Reader<'_> {
    /// Applies what the rebalance callback did since the last poll: an error ends the
    /// read; partitions reset (`--reset-offsets`) are recorded in one commit with no rows;
    /// rows of revoked partitions are dropped (their new owner reads them again from what
    /// bronze holds). Returns whether partitions were ever assigned.
    fn after_rebalance(&mut self) -> Result<bool, IngestError> {
        let (revoked, error, assigned_once, resets) = {
            let mut s = self.consumer.context().state();
            (
                std::mem::take(&mut s.revoked),
                s.error.take(),
                s.assigned_once,
                std::mem::take(&mut s.resets),
            )
        };
        if let Some(e) = error {
            return Err(e);
        }
        if !resets.is_empty() {
            self.committer.land(self.handle, self.consumer, &mut self.progress)?;
            let txns: Vec<(String, i64)> = resets
                .iter()
                .map(|((t, p), next)| (app_id(self.target, t, *p), next - 1))
                .collect();
            self.epoch += 1;
            let empty = BatchBuilder::new().finish(chrono::Utc::now())?;
            let t = self.committer.table()?;
            match self.handle.block_on(t.commit(empty, &txns, self.epoch)) {
                Ok(_) => self.progress.commits += 1,
                Err(CommitError::Conflict) => self.handle.block_on(t.refresh())?,
                Err(CommitError::Failed(e)) => return Err(e.into()),
            }
        }
        if !revoked.is_empty() {
            let topics = &self.target.source.topics;
            let gone: HashSet<(usize, i32)> = revoked
                .iter()
                .filter_map(|(t, p)| topics.iter().position(|n| n == t).map(|i| (i, *p)))
                .collect();
            self.pending.retain(|m| !gone.contains(&(m.topic, m.partition)));
        }
        Ok(assigned_once)
    }

    /// Adds a message to the batch, unless bronze already holds it (a message before the
    /// partition's next offset is a re-delivery).
    fn accept(&mut self, m: &rdkafka::message::BorrowedMessage<'_>) {
        let accept = {
            let mut s = self.consumer.context().state();
            match s.next.get_mut(m.topic(), m.partition()) {
                Some(next) if m.offset() >= *next => {
                    *next = m.offset() + 1;
                    true
                }
                _ => false,
            }
        };
        let topic = self.target.source.topics.iter().position(|t| t == m.topic());
        let (true, Some(topic)) = (accept, topic) else {
            return;
        };
        let value = m.payload();
        let error = payload::check(value, &self.target.source, self.settings.max_value_bytes);
        if error.is_some() {
            self.progress.parse_errors += 1;
        }
        if self.pending.is_empty() {
            self.batch_started = Instant::now();
        }
        self.pending
            .push(topic, m.partition(), m.offset(), m.key(), m.timestamp().to_millis(), value, error);
        self.progress.messages += 1;
        self.progress.bytes += value.map_or(0, <[u8]>::len) as u64;
    }

    /// Sends the batch to be committed when it is due (its count, size or age), or when
    /// `now` (the read is ending).
    fn flush_if(&mut self, now: bool) -> Result<(), IngestError> {
        let flush = self.settings.flush;
        let due = self.pending.len() >= flush.messages
            || self.pending.size() >= flush.bytes
            || (!self.pending.is_empty() && self.batch_started.elapsed() >= Duration::from_millis(flush.interval_ms));
        if !self.pending.is_empty() && (due || now) {
            self.epoch += 1;
            self.committer
                .dispatch(self.handle, self.consumer, &mut self.progress, &mut self.pending, self.epoch)?;
            self.batch_started = Instant::now();
        }
        Ok(())
    }

    /// Progress now, with each partition's lag.
    fn report(&mut self) -> Progress {
        self.progress.elapsed = self.started.elapsed();
        self.progress.lag = lag(&self.consumer.context().state(), &self.watermarks);
        self.progress.clone()
    }
}

/// The Delta side of the loop: the bronze table, the commit in flight (one at a time:
/// commits stay in order, and at most two batches are held in memory), and the buffers of
/// the last committed batch, for reuse.
struct Committer {
    target: IngestTarget,
    topics: Vec<String>,
    /// `None` while a commit has it.
    table: Option<BronzeTable>,
    in_flight: Option<Flight>,
    spare: Pending,
}

fn table_lost() -> IngestError {
    IngestError::Bug("the bronze table is lost".into())
}

impl Committer {
    fn new(target: &IngestTarget, table: BronzeTable) -> Committer {
        Committer {
            target: target.clone(),
            topics: target.source.topics.clone(),
            table: Some(table),
            in_flight: None,
            spare: Pending::default(),
        }
    }

    /// The table, when no commit is in flight.
    fn table(&mut self) -> Result<&mut BronzeTable, IngestError> {
        self.table.as_mut().ok_or_else(table_lost)
    }

    /// Lands the previous commit, then starts committing `pending` (which is left empty,
    /// with the buffers of the landed batch) while the loop goes on reading.
    fn dispatch(
        &mut self,
        handle: &tokio::runtime::Handle,
        consumer: &BaseConsumer<IngestContext>,
        progress: &mut Progress,
        pending: &mut Pending,
        epoch: i64,
    ) -> Result<(), IngestError> {
        self.land(handle, consumer, progress)?;
        let mut t = self.table.take().ok_or_else(table_lost)?;
        let mut batch = std::mem::replace(pending, std::mem::take(&mut self.spare));
        let (target, topics) = (self.target.clone(), self.topics.clone());
        self.in_flight = Some(handle.spawn(async move {
            let r = commit_batch(&mut t, &target, &topics, &mut batch, epoch).await;
            (t, batch, r)
        }));
        Ok(())
    }

    /// Waits for the commit in flight, if any, and takes its outcome: the table back, the
    /// batch's buffers for reuse, progress, and the consumer-group offsets (committed to
    /// Kafka for lag monitoring only; bronze is the record of what was read).
    fn land(
        &mut self,
        handle: &tokio::runtime::Handle,
        consumer: &BaseConsumer<IngestContext>,
        progress: &mut Progress,
    ) -> Result<(), IngestError> {
        let Some(flight) = self.in_flight.take() else {
            return Ok(());
        };
        let (t, mut batch, result) = handle.block_on(flight).map_err(|e| {
            IngestError::Bug(format!("a commit task failed: {e}"))
        })?;
        self.table = Some(t);
        batch.clear();
        self.spare = batch;
        let committed = result?;
        progress.commits += 1;
        progress.rows_committed += committed.rows as u64;
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), last) in committed.last {
            offsets
                .add_partition_offset(&topic, partition, Offset::Offset(last + 1))?;
        }
        if offsets.count() > 0 {
            let _ = consumer.commit(&offsets, CommitMode::Async);
        }
        Ok(())
    }
}

fn is_fatal(code: rdkafka::error::RDKafkaErrorCode) -> bool {
    use rdkafka::error::RDKafkaErrorCode as C;
    matches!(
        code,
        C::UnknownTopicOrPartition
            | C::TopicAuthorizationFailed
            | C::GroupAuthorizationFailed
            | C::Fatal
    )
}

/// Whether every partition was read up to the high watermark seen at start.
fn caught_up_with(state: &Assignment, start: &HashMap<(String, i32), (i64, i64)>) -> bool {
    state.next.iter().all(|(key, next)| match start.get(&key) {
        Some((low, high)) => next >= *high || high <= low,
        // A partition created after the start: not part of the target.
        None => true,
    })
}

/// Messages not read yet per partition: the high watermark last seen (from librdkafka's
/// statistics, or at start) minus the next offset.
fn lag(
    state: &Assignment,
    start: &HashMap<(String, i32), (i64, i64)>,
) -> BTreeMap<(String, i32), i64> {
    state
        .next
        .iter()
        .map(|(key, n)| {
            let high = state
                .high
                .get(&key)
                .copied()
                .or_else(|| start.get(&key).map(|(_, h)| *h))
                .unwrap_or(n);
            (key, (high - n).max(0))
        })
        .collect()
}

struct Committed {
    rows: usize,
    /// (topic, partition) -> last offset now in bronze.
    last: Vec<((String, i32), i64)>,
}

/// Commits the pending messages as one Delta commit. On a conflict (another ingester
/// committed one of these partitions first) the table is re-read, the rows it already
/// holds are dropped, and the rest is committed.
async fn commit_batch(
    table: &mut BronzeTable,
    target: &IngestTarget,
    topics: &[String],
    pending: &mut Pending,
    epoch: i64,
) -> Result<Committed, IngestError> {
    for _attempt in 0..20 {
        // Drop what bronze already holds (after a conflict, or a stale assignment).
        let mut committed: HashMap<(usize, i32), Option<i64>> = HashMap::new();
        for m in &pending.rows {
            if let std::collections::hash_map::Entry::Vacant(e) =
                committed.entry((m.topic, m.partition))
            {
                let app = app_id(target, &topics[m.topic], m.partition);
                e.insert(table.committed(&app).await?);
            }
        }
        pending.retain(|m| {
            committed
                .get(&(m.topic, m.partition))
                .copied()
                .flatten()
                .is_none_or(|last| m.offset > last)
        });
        if pending.is_empty() {
            return Ok(Committed {
                rows: 0,
                last: Vec::new(),
            });
        }
        let mut last: BTreeMap<(usize, i32), i64> = BTreeMap::new();
        let mut builder = BatchBuilder::with_capacity(pending.len(), pending.arena.len());
        for m in &pending.rows {
            let value = pending.bytes(m.value);
            let payload = match value {
                None => Payload::Null,
                Some(v) => match std::str::from_utf8(v) {
                    Ok(t) => Payload::Text(t),
                    Err(_) => Payload::Raw(v),
                },
            };
            builder.append(
                &topics[m.topic],
                &Message {
                    partition: m.partition,
                    offset: m.offset,
                    key: pending.bytes(m.key),
                    timestamp_ms: m.timestamp_ms,
                    payload,
                },
                m.error.as_deref(),
            );
            let e = last.entry((m.topic, m.partition)).or_insert(m.offset);
            *e = (*e).max(m.offset);
        }
        let batch = builder.finish(chrono::Utc::now())?;
        let txns: Vec<(String, i64)> = last
            .iter()
            .map(|((t, p), o)| (app_id(target, &topics[*t], *p), *o))
            .collect();
        match table.commit(batch, &txns, epoch).await {
            Ok(_) => {
                let rows = pending.len();
                pending.clear();
                return Ok(Committed {
                    rows,
                    last: last
                        .into_iter()
                        .map(|((t, p), o)| ((topics[t].clone(), p), o))
                        .collect(),
                });
            }
            Err(CommitError::Conflict) => {
                table.refresh().await?;
            }
            Err(CommitError::Failed(e)) => return Err(e.into()),
        }
    }
    Err(IngestError::Broker(format!(
        "`{}`: gave up after 20 conflicting commits with other ingesters",
        target.name
    )))
}

/// A commit running on the runtime while the consumer goes on reading (one at a time:
/// commits stay in order, and at most two batches are held in memory).
type Flight = tokio::task::JoinHandle<(BronzeTable, Pending, Result<Committed, IngestError>)>;
