//! One file per command: flags turned into the library command's options, and its report
//! printed. Shared here: the dispatch, the header line and how a failed command ends.

mod compile;
mod debug;
mod deps;
mod docs;
mod ingest;
mod ls;
mod operation;
mod run;
mod show;

use anyhow::Result;
use silt::commands::build::Kind;
use silt::commands::{CommandError, Selectors};
use silt::settings::LoadOptions;

use super::printer::Paint;
use super::{Cli, Command, Outcome, Printer, SelectArgs, report_diagnostics};

pub fn dispatch(cli: &Cli, printer: &Printer) -> Result<Outcome> {
    match &cli.command {
        Command::Compile {
            select,
            inline,
            full_refresh,
            empty,
        } => compile::run(cli, printer, select, inline.as_deref(), *full_refresh, *empty),
        Command::Ls {
            select,
            output,
            resource_types,
        } => ls::run(cli, printer, select, *output, resource_types),
        Command::Seed { select, build, show } => run::run(cli, printer, select, build, &Default::default(), Kind::Seed, run::Extras { show: *show, ..Default::default() }),
        Command::Snapshot { select, build } => run::run(cli, printer, select, build, &Default::default(), Kind::Snapshot, run::Extras::default()),
        Command::Run { select, build, empty } => run::run(cli, printer, select, build, &Default::default(), Kind::Run, run::Extras { empty: *empty, ..Default::default() }),
        Command::Test {
            select,
            tests,
            fail_fast,
        } => {
            let build = super::BuildArgs {
                full_refresh: false,
                fail_fast: *fail_fast,
            };
            run::run(cli, printer, select, &build, tests, Kind::Test, run::Extras::default())
        }
        Command::Build {
            select,
            build,
            tests,
            no_docs,
            empty,
        } => run::run(cli, printer, select, build, tests, Kind::Build, run::Extras { docs: !no_docs, empty: *empty, ..Default::default() }),
        Command::Show {
            select,
            inline,
            limit,
            output,
        } => show::run(cli, printer, select, inline.as_deref(), *limit, *output),
        Command::Debug => debug::run(cli, printer),
        Command::RunOperation { macro_name, args } => operation::run(cli, printer, macro_name, args.as_deref()),
        Command::Deps { upgrade, lock } => deps::run(cli, printer, *upgrade, *lock),
        Command::Docs { action: crate::cli::DocsCommand::Generate } => docs::generate(cli, printer),
        Command::Docs { action: crate::cli::DocsCommand::Serve { port, host } } => docs::serve(cli, printer, host, *port),
        Command::Ingest {
            select,
            until_caught_up,
            max_messages,
            reset_offsets,
        } => ingest::run(cli, printer, select, *until_caught_up, *max_messages, *reset_offsets),
        Command::Optimize {
            select,
            zorder,
            target_size_mb,
            vacuum,
            retention_hours,
        } => ingest::optimize(
            cli,
            printer,
            select,
            zorder,
            *target_size_mb,
            vacuum.then(|| chrono::Duration::hours(*retention_hours)),
        ),
        Command::Produce {
            topic,
            synthetic,
            seed,
            start,
            replay,
            channels,
            rate,
            max_messages,
        } => ingest::produce(
            cli,
            printer,
            &ingest::ProduceFlags {
                topic: topic.clone(),
                synthetic: *synthetic,
                seed: *seed,
                start: *start,
                replay: replay.clone(),
                channels: channels.clone(),
                rate: *rate,
                max_messages: *max_messages,
            },
        ),
    }
}

/// The first line of every command's output.
fn header(printer: &Printer) {
    printer.info(&format!("Running with silt={}", env!("CARGO_PKG_VERSION")));
}

fn load_options(cli: &Cli) -> LoadOptions {
    cli.global.load_options()
}

fn selection(args: &SelectArgs) -> Selectors {
    Selectors {
        select: args.select.clone(),
        exclude: args.exclude.clone(),
        selector: args.selector.clone(),
        state: args.state.clone(),
    }
}

/// How a command that could not do its work ends: the project's problems are printed and
/// exit with 1; Silt's own failures go up to exit with 2.
fn fail(printer: &Printer, e: CommandError) -> Result<Outcome> {
    if !e.is_project() {
        // The message already holds its cause: only the text goes up.
        return Err(anyhow::anyhow!("{e}"));
    }
    match e {
        CommandError::Project(diags) => return Ok(report_diagnostics(printer, &diags)),
        CommandError::NoDocsSite(_) => printer.err_line(&e.to_string()),
        _ => printer.err_line(&printer.paint(Paint::Red, &e.to_string())),
    }
    Ok(Outcome::Failure)
}

/// Leaves a loaded project to the operating system instead of freeing it node by node:
/// the process is about to exit, and tearing down a 10,000-model project takes longer than
/// the exit itself. Only for data with nothing to flush or close.
fn exit_without_freeing<T>(value: T) {
    std::mem::forget(value);
}
