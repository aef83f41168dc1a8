//! `silt ingest` and `silt produce`: Kafka into bronze, and chat into Kafka.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use silt::ingest::{IngestError, IngestObserver, IngestOptions, Progress, Reset};
use silt::project::ResourceType;

use super::{Invocation, load, select};
use crate::cli::printer::Paint;
use crate::cli::{Cli, Outcome, Printer, ResetArg, SelectArgs};

/// Sets `stop` on Ctrl-C or SIGTERM, so the current batch is committed before exiting.
pub fn stop_on_signals() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        rt.block_on(async move {
            #[cfg(unix)]
            {
                let mut term =
                    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                        Ok(s) => s,
                        Err(_) => {
                            let _ = tokio::signal::ctrl_c().await;
                            flag.store(true, Ordering::Relaxed);
                            return;
                        }
                    };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
            flag.store(true, Ordering::Relaxed);
        });
    });
    stop
}

/// Progress lines on standard error.
pub struct Console {
    pub printer: Printer,
}

impl IngestObserver for Console {
    fn progress(&self, p: &Progress) {
        let lag: Vec<String> = p
            .lag
            .iter()
            .map(|((t, part), l)| format!("{t}[{part}] {l}"))
            .collect();
        self.printer.info(&format!(
            "{}: {} messages ({:.0}/s, {:.1} MB/s), {} rows committed in {} commits, {} parse errors; lag: {}",
            p.table,
            p.messages,
            p.rate(),
            p.bytes as f64 / 1e6 / p.elapsed.as_secs_f64().max(1e-9),
            p.rows_committed,
            p.commits,
            p.parse_errors,
            if lag.is_empty() { "none assigned".to_owned() } else { lag.join(", ") }
        ));
    }

    fn warning(&self, message: &str) {
        self.printer.err_line(&self.printer.paint(Paint::Yellow, &format!("warning: {message}")));
    }
}

/// Prints an ingestion error and returns the exit outcome.
pub fn report_error(printer: &Printer, e: &IngestError) -> Outcome {
    printer.err_line(&printer.paint(Paint::Red, &format!("Ingestion failed: {e}")));
    Outcome::Failure
}

pub fn run(
    cli: &Cli,
    printer: &Printer,
    args: &SelectArgs,
    until_caught_up: bool,
    max_messages: Option<u64>,
    reset: Option<ResetArg>,
) -> Result<Outcome> {
    let inv = Invocation::new("ingest");
    let loaded = match load(cli, printer, &inv, false)? {
        Ok(l) => l,
        Err(outcome) => return Ok(outcome),
    };
    let ids = match select(printer, &loaded, args, &[ResourceType::Source]) {
        Ok(ids) => ids,
        Err(outcome) => return Ok(outcome),
    };
    let targets = silt::ops::kafka_targets(&loaded.parsed, &loaded.graph, Some(&ids));
    if targets.is_empty() {
        printer.info("No Kafka-fed source tables selected (declare one with `kafka:` in a source table).");
        return Ok(Outcome::Success);
    }
    let opts = IngestOptions {
        until_caught_up,
        max_messages,
        reset_offsets: reset.map(|r| match r {
            ResetArg::Earliest => Reset::Earliest,
            ResetArg::Latest => Reset::Latest,
        }),
        stop: stop_on_signals(),
        exclusive: false,
    };
    printer.info(&format!(
        "Ingesting {}{}",
        targets.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "),
        if until_caught_up { " until caught up" } else { " (Ctrl-C to stop)" }
    ));
    let observer = Arc::new(Console { printer: *printer });
    match silt::ops::ingest(&loaded.parsed, &targets, &opts, observer) {
        Ok(progress) => {
            for p in &progress {
                printer.info(&printer.paint(
                    Paint::Green,
                    &format!(
                        "{}: {} messages, {} rows committed ({} parse errors) in {:.2}s",
                        p.table,
                        p.messages,
                        p.rows_committed,
                        p.parse_errors,
                        p.elapsed.as_secs_f64()
                    ),
                ));
            }
            Ok(Outcome::Success)
        }
        Err(e) => Ok(report_error(printer, &e)),
    }
}

/// What `silt produce` sends.
pub struct ProduceArgs {
    pub topic: Option<String>,
    pub synthetic: Option<u64>,
    pub seed: u64,
    pub start: u64,
    pub replay: Option<PathBuf>,
    pub channels: Vec<String>,
    pub rate: Option<f64>,
    pub max_messages: Option<u64>,
}

pub fn produce(cli: &Cli, printer: &Printer, args: &ProduceArgs) -> Result<Outcome> {
    let inv = Invocation::new("produce");
    let loaded = match load(cli, printer, &inv, false)? {
        Ok(l) => l,
        Err(outcome) => return Ok(outcome),
    };
    let fail = |msg: String| {
        printer.err_line(&printer.paint(Paint::Red, &msg));
        Ok(Outcome::Failure)
    };
    let target = &loaded.parsed.project.settings.target;
    let Some(kafka) = &target.kafka else {
        return fail(format!(
            "target `{}` has no `kafka:` section: produce needs `kafka: {{bootstrap_servers: host:port}}`",
            target.name
        ));
    };
    if kafka.is_embedded() {
        return fail(
            "`silt produce` needs a Kafka broker: an embedded cluster lives only as long as one command (set `bootstrap_servers` to host:port)".into(),
        );
    }
    let topic = match &args.topic {
        Some(t) => t.clone(),
        None => {
            let targets = silt::ops::kafka_targets(&loaded.parsed, &loaded.graph, None);
            let mut topics: Vec<&String> = targets.iter().flat_map(|t| t.source.topics.iter()).collect();
            topics.sort();
            topics.dedup();
            match topics.as_slice() {
                [one] => (*one).clone(),
                [] => return fail("no Kafka source declares a topic: pass `--topic`".into()),
                many => {
                    return fail(format!(
                        "the project's Kafka sources read several topics ({}): pass `--topic`",
                        many.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
    };
    let stop = stop_on_signals();
    let producer = match silt::ingest::produce::producer(&kafka.bootstrap_servers, &kafka.properties) {
        Ok(p) => p,
        Err(e) => return Ok(report_error(printer, &e)),
    };
    let result = if let Some(n) = args.synthetic {
        silt::ingest::produce::synthetic(
            &producer,
            &topic,
            args.seed,
            args.start,
            args.start + n,
            silt::ingest::produce::Partitioning::Broker,
            args.rate,
            &stop,
        )
        .map(|sent| (sent, Vec::new()))
    } else if let Some(file) = &args.replay {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => return fail(format!("cannot read `{}`: {e}", file.display())),
        };
        silt::ingest::produce::replay(&producer, &topic, &text, args.rate, &stop)
    } else if !args.channels.is_empty() {
        silt::ingest::twitch::produce_live(
            &producer,
            &topic,
            &silt::ingest::twitch::Connection::twitch(&args.channels),
            args.max_messages,
            &stop,
            &|line| printer.info(line),
        )
        .map(|sent| (sent, Vec::new()))
    } else {
        return fail("say what to produce: `--synthetic N`, `--replay FILE` or `--channels a,b`".into());
    };
    match result {
        Ok((sent, skipped)) => {
            for (line, why) in skipped.iter().take(10) {
                printer.info(&format!("line {line} skipped: {why}"));
            }
            printer.info(&printer.paint(
                Paint::Green,
                &format!("Produced {sent} messages to `{topic}`{}", if skipped.is_empty() { String::new() } else { format!(" ({} lines skipped)", skipped.len()) }),
            ));
            Ok(Outcome::Success)
        }
        Err(e) => Ok(report_error(printer, &e)),
    }
}

/// `silt optimize`.
pub fn optimize(
    cli: &Cli,
    printer: &Printer,
    args: &SelectArgs,
    zorder: &[String],
    target_size_mb: Option<u64>,
    vacuum: Option<chrono::Duration>,
) -> Result<Outcome> {
    let inv = Invocation::new("optimize");
    let loaded = match load(cli, printer, &inv, false)? {
        Ok(l) => l,
        Err(outcome) => return Ok(outcome),
    };
    let ids = match select(
        printer,
        &loaded,
        args,
        &[ResourceType::Model, ResourceType::Seed, ResourceType::Source],
    ) {
        Ok(ids) => ids,
        Err(outcome) => return Ok(outcome),
    };
    let tables = silt::ops::table_dirs(&loaded.parsed, &ids);
    if tables.is_empty() {
        printer.info("No tables to optimize (build them first).");
        return Ok(Outcome::Success);
    }
    let req = silt::exec::optimize::OptimizeRequest {
        zorder: zorder.to_vec(),
        target_size: target_size_mb.map(|m| m * 1024 * 1024),
        vacuum_retention: vacuum,
    };
    let rt = super::runtime()?;
    let session = silt::exec::open_session(&loaded.parsed).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut failed = false;
    for (name, dir) in &tables {
        match rt.block_on(silt::exec::optimize::optimize(&session, dir, &req)) {
            Ok(o) => printer.info(&format!(
                "{name}: {} files compacted into {}, checkpoint written{}, now at version {}",
                o.files_removed,
                o.files_added,
                if vacuum.is_some() { format!(", {} files vacuumed", o.vacuumed) } else { String::new() },
                o.version.unwrap_or_default()
            )),
            Err(e) => {
                failed = true;
                printer.err_line(&printer.paint(Paint::Red, &format!("{name}: {e}")));
            }
        }
    }
    Ok(if failed { Outcome::Failure } else { Outcome::Success })
}
