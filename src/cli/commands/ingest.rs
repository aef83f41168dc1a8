//! `silt ingest`, `silt produce` and `silt optimize`: flags to options, results printed.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use silt::commands::ingest::{IngestArgs, OptimizeArgs, Produce, ProduceArgs};
use silt::exec::optimize::OptimizeRequest;
use silt::ingest::Reset;

use super::{fail, header, load_options, selection};
use crate::cli::console::{Console, Ingesting};
use crate::cli::printer::Paint;
use crate::cli::{Cli, Outcome, Printer, ResetArg, SelectArgs};

pub fn run(
    cli: &Cli,
    printer: &Printer,
    args: &SelectArgs,
    until_caught_up: bool,
    max_messages: Option<u64>,
    reset: Option<ResetArg>,
) -> Result<Outcome> {
    header(printer);
    let opts = IngestArgs {
        project: load_options(cli),
        selection: selection(args),
        until_caught_up,
        max_messages,
        reset_offsets: reset.map(|r| match r {
            ResetArg::Earliest => Reset::Earliest,
            ResetArg::Latest => Reset::Latest,
        }),
        stop: silt::runtime::stop_on_signals(),
    };
    let console = Console {
        printer: *printer,
        ingesting: Ingesting::Ingest { until_caught_up },
    };
    let report = match silt::commands::ingest(&opts, Arc::new(console)) {
        Ok(r) => r,
        Err(e) => return fail(printer, e),
    };
    if report.targets.is_empty() {
        printer.info("No Kafka-fed source tables selected (declare one with `kafka:` in a source table).");
    }
    for p in &report.progress {
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

/// What `silt produce` was asked to send.
pub struct ProduceFlags {
    pub topic: Option<String>,
    pub synthetic: Option<u64>,
    pub seed: u64,
    pub start: u64,
    pub replay: Option<PathBuf>,
    pub channels: Vec<String>,
    pub rate: Option<f64>,
    pub max_messages: Option<u64>,
}

pub fn produce(cli: &Cli, printer: &Printer, flags: &ProduceFlags) -> Result<Outcome> {
    header(printer);
    let what = if let Some(count) = flags.synthetic {
        Some(Produce::Synthetic { count, seed: flags.seed, start: flags.start })
    } else if let Some(file) = &flags.replay {
        Some(Produce::Replay(file.clone()))
    } else if !flags.channels.is_empty() {
        Some(Produce::Channels(flags.channels.clone()))
    } else {
        None
    };
    let opts = ProduceArgs {
        project: load_options(cli),
        topic: flags.topic.clone(),
        what,
        rate: flags.rate,
        max_messages: flags.max_messages,
        stop: silt::runtime::stop_on_signals(),
    };
    let report = match silt::commands::produce(&opts, Arc::new(Console::new(*printer))) {
        Ok(r) => r,
        Err(e) => return fail(printer, e),
    };
    for (line, why) in report.skipped.iter().take(10) {
        printer.info(&format!("line {line} skipped: {why}"));
    }
    let skipped = if report.skipped.is_empty() {
        String::new()
    } else {
        format!(" ({} lines skipped)", report.skipped.len())
    };
    printer.info(&printer.paint(
        Paint::Green,
        &format!("Produced {} messages to `{}`{skipped}", report.sent, report.topic),
    ));
    Ok(Outcome::Success)
}

pub fn optimize(
    cli: &Cli,
    printer: &Printer,
    args: &SelectArgs,
    zorder: &[String],
    target_size_mb: Option<u64>,
    vacuum: Option<chrono::Duration>,
) -> Result<Outcome> {
    header(printer);
    let opts = OptimizeArgs {
        project: load_options(cli),
        selection: selection(args),
        request: OptimizeRequest {
            zorder: zorder.to_vec(),
            target_size: target_size_mb.map(|m| m * 1024 * 1024),
            vacuum_retention: vacuum,
        },
    };
    let report = match silt::commands::optimize(&opts, Arc::new(Console::new(*printer))) {
        Ok(r) => r,
        Err(e) => return fail(printer, e),
    };
    if report.tables.is_empty() {
        printer.info("No tables to optimize (build them first).");
        return Ok(Outcome::Success);
    }
    let mut failed = false;
    for (name, outcome) in &report.tables {
        match outcome {
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
