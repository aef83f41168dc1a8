//! One file per command; shared steps (loading, the header, selection) live here.

mod compile;
mod debug;
mod docs;
mod ingest;
mod ls;
mod run;
mod show;

use std::collections::BTreeMap;

use anyhow::Result;
use silt::Loaded;
use silt::graph::selector::Selection;
use silt::parse::ParseOptions;
use silt::project::ResourceType;

use super::{Cli, Command, Outcome, Printer, SelectArgs, report_diagnostics};

pub fn dispatch(cli: &Cli, printer: &Printer) -> Result<Outcome> {
    match &cli.command {
        Command::Compile {
            select,
            inline,
            full_refresh,
        } => compile::run(cli, printer, select, inline.as_deref(), *full_refresh),
        Command::Ls {
            select,
            output,
            resource_types,
        } => ls::run(cli, printer, select, *output, resource_types),
        Command::Seed { select, build } => {
            run::run(cli, printer, select, build, &Default::default(), run::Kind::Seed, false)
        }
        Command::Run { select, build } => {
            run::run(cli, printer, select, build, &Default::default(), run::Kind::Run, false)
        }
        Command::Test {
            select,
            tests,
            fail_fast,
        } => {
            let build = super::BuildArgs {
                full_refresh: false,
                fail_fast: *fail_fast,
            };
            run::run(cli, printer, select, &build, tests, run::Kind::Test, false)
        }
        Command::Build {
            select,
            build,
            tests,
            no_docs,
        } => run::run(cli, printer, select, build, tests, run::Kind::Build, !no_docs),
        Command::Show {
            select,
            inline,
            limit,
            output,
        } => show::run(cli, printer, select, inline.as_deref(), *limit, *output),
        Command::Debug => debug::run(cli, printer),
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
            &ingest::ProduceArgs {
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

/// Facts about this invocation.
pub struct Invocation {
    pub id: String,
    pub started: chrono::DateTime<chrono::Utc>,
    pub which: &'static str,
}

impl Invocation {
    pub fn new(which: &'static str) -> Invocation {
        Invocation {
            id: uuid::Uuid::new_v4().to_string(),
            started: chrono::Utc::now(),
            which,
        }
    }

    pub fn artifacts(
        &self,
        cli: &Cli,
        select: &SelectArgs,
        full_refresh: bool,
    ) -> silt::manifest::Invocation {
        silt::manifest::Invocation {
            invocation_id: self.id.clone(),
            started_at: self.started,
            which: self.which.to_owned(),
            args: serde_json::json!({
                "which": self.which,
                "select": select.select,
                "exclude": select.exclude,
                "vars": cli.global.vars.clone().unwrap_or_default(),
                "full_refresh": full_refresh,
                "project_dir": cli.global.project_dir.display().to_string(),
                "profiles_dir": cli.global.profiles_dir.as_ref().map(|p| p.display().to_string()),
                "target": cli.global.target,
                "threads": cli.global.threads,
                "invocation_command": std::env::args().collect::<Vec<_>>().join(" "),
            }),
        }
    }
}

/// Loads the project; on problems prints them and returns the outcome to exit with.
pub fn load(
    cli: &Cli,
    printer: &Printer,
    inv: &Invocation,
    full_refresh: bool,
) -> Result<std::result::Result<Loaded, Outcome>> {
    load_with(cli, printer, inv, full_refresh, false)
}

/// [`load`], with `--store-failures` applied to every test that does not say otherwise.
pub fn load_with(
    cli: &Cli,
    printer: &Printer,
    inv: &Invocation,
    full_refresh: bool,
    store_failures: bool,
) -> Result<std::result::Result<Loaded, Outcome>> {
    printer.info(&format!("Running with silt={}", env!("CARGO_PKG_VERSION")));
    let opts = ParseOptions {
        invocation_id: inv.id.clone(),
        full_refresh,
        which: inv.which.to_owned(),
        store_failures,
    };
    match silt::load(&cli.global.load_options(), &opts) {
        Ok(loaded) => {
            for w in &loaded.parsed.project.warnings {
                if !printer.quiet {
                    printer.err_raw(&format!("{}\n", w.render(printer.color)));
                }
            }
            printer.info(&found_line(&loaded));
            Ok(Ok(loaded))
        }
        Err(diags) => Ok(Err(report_diagnostics(printer, &diags))),
    }
}

/// `Found 3 models, 1 seed, 2 sources, 12 macros`
fn found_line(loaded: &Loaded) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for n in loaded.parsed.nodes.iter().filter(|n| n.config.enabled) {
        let label = match n.node.resource_type {
            ResourceType::Model => "model",
            ResourceType::Seed => "seed",
            ResourceType::Test => "data test",
            ResourceType::UnitTest => "unit test",
            ResourceType::Analysis => "analysis",
            _ => "other",
        };
        *counts.entry(label).or_default() += 1;
    }
    let sources = loaded.parsed.sources.iter().filter(|s| s.enabled).count();
    let macros = loaded.parsed.templates.macros().count();
    let mut parts: Vec<String> = Vec::new();
    for label in ["model", "seed", "data test", "unit test", "analysis"] {
        if let Some(n) = counts.get(label) {
            parts.push(plural(*n, label));
        }
    }
    if sources > 0 {
        parts.push(plural(sources, "source"));
    }
    parts.push(plural(macros, "macro"));
    format!("Found {}", parts.join(", "))
}

pub fn plural(n: usize, noun: &str) -> String {
    let word = if n == 1 {
        noun.to_owned()
    } else if noun == "analysis" {
        "analyses".to_owned()
    } else {
        format!("{noun}s")
    };
    format!("{n} {word}")
}

/// The selected unique ids of the given types; a bad selector is printed as an error.
pub fn select(
    printer: &Printer,
    loaded: &Loaded,
    args: &SelectArgs,
    types: &[ResourceType],
) -> std::result::Result<Vec<String>, Outcome> {
    select_indirect(printer, loaded, args, types, silt::ops::IndirectSelection::Eager)
}

/// [`select`], with tests joining through what they test as `indirect` says.
pub fn select_indirect(
    printer: &Printer,
    loaded: &Loaded,
    args: &SelectArgs,
    types: &[ResourceType],
    indirect: silt::ops::IndirectSelection,
) -> std::result::Result<Vec<String>, Outcome> {
    let selection = match Selection::parse(&args.select, &args.exclude) {
        Ok(s) => s,
        Err(d) => return Err(report_diagnostics(printer, &d.into())),
    };
    // In graph order, so output and runs are stable.
    match silt::ops::select_with(loaded, &args.select, &args.exclude, types, indirect) {
        Ok(ids) => {
            if ids.is_empty() && !selection.is_empty() && !printer.quiet {
                printer.info(&format!(
                    "The selection criterion '{}' does not match any enabled nodes",
                    args.select.join(" ")
                ));
            }
            Ok(ids)
        }
        Err(d) => Err(report_diagnostics(printer, &d.into())),
    }
}

/// Writes an artifact, naming it in the error if that fails.
pub fn write_artifact(path: &std::path::Path, value: &impl serde::Serialize) -> Result<()> {
    silt::manifest::write_json(path, value)
        .map_err(|e| anyhow::anyhow!("cannot write `{}`: {e}", path.display()))
}

/// A tokio runtime for the engine.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))
}

/// Leaves a loaded project to the operating system instead of freeing it node by node:
/// the process is about to exit, and tearing down a 10,000-model project takes longer than
/// the exit itself. Only for data with nothing to flush or close.
pub fn exit_without_freeing<T>(value: T) {
    std::mem::forget(value);
}
