//! `silt ingest`, `silt produce` and `silt optimize`: flags to options, results printed.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use silt::commands::Stop;
use silt::commands::produce::Produce;
use silt::exec::optimize::OptimizeRequest;
use silt::ingest::Reset;

use super::{fail, header, load_options, selection};
use crate::cli::console::{Console, Mode};
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
    let opts = silt::commands::ingest::Options {
        project: load_options(cli),
        selection: selection(args),
        until_caught_up,
        max_messages,
        reset_offsets: reset.map(|r| match r {
            ResetArg::Earliest => Reset::Earliest,
            ResetArg::Latest => Reset::Latest,
        }),
        stop: Stop::OnSignals,
    };
    let console = Console::new(*printer, Mode::Ingest { until_caught_up });
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
    let opts = silt::commands::produce::Options {
        project: load_options(cli),
        topic: flags.topic.clone(),
        what,
        rate: flags.rate,
        max_messages: flags.max_messages,
        stop: Stop::OnSignals,
    };
    let report = match silt::commands::produce(&opts, Arc::new(Console::new(*printer, Mode::Other))) {
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
    let opts = silt::commands::optimize::Options {
        project: load_options(cli),
        selection: selection(args),
        request: OptimizeRequest {
            zorder: zorder.to_vec(),
            target_size: target_size_mb.map(|m| m * 1024 * 1024),
            vacuum_retention: vacuum,
        },
    };
    // Each table is printed as it is done (`Events::optimized`).
    let console = Console::new(*printer, Mode::Optimize { vacuum: vacuum.is_some() });
    let report = match silt::commands::optimize(&opts, Arc::new(console)) {
        Ok(r) => r,
        Err(e) => return fail(printer, e),
    };
    if report.tables.is_empty() {
        printer.info("No tables to optimize (build them first).");
        return Ok(Outcome::Success);
    }
    let failed = report.tables.iter().any(|(_, outcome)| outcome.is_err());
    Ok(if failed { Outcome::Failure } else { Outcome::Success })
}
