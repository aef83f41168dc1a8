//! `silt compile`: the compiled SQL of one node or of an inline query printed; every
//! compile error reported.

use std::sync::Arc;

use anyhow::Result;
use silt::commands::compile::Options;

use super::{exit_without_freeing, fail, header, load_options, selection};
use crate::cli::console::{Console, Mode};
use crate::cli::{Cli, Outcome, Printer, SelectArgs, report_diagnostics};

pub fn run(cli: &Cli, printer: &Printer, args: &SelectArgs, inline: Option<&str>, full_refresh: bool, empty: bool) -> Result<Outcome> {
    header(printer);
    let opts = Options {
        project: load_options(cli),
        selection: selection(args),
        inline: inline.map(str::to_owned),
        full_refresh,
        empty,
    };
    let report = match silt::commands::compile(&opts, Arc::new(Console::new(*printer, Mode::Other))) {
        Ok(r) => r,
        Err(e) => return fail(printer, e),
    };
    if let Some(sql) = &report.inline {
        printer.info("Compiled inline node is:");
        printer.out(&format!("{sql}\n"));
        return Ok(Outcome::Success);
    }
    if std::env::var_os("SILT_TIMINGS").is_some() {
        for (stage, t) in &report.timings {
            printer.err_raw(&format!("timing {stage}: {:.3}s\n", t.as_secs_f64()));
        }
    }
    let errors = report.errors();
    if !errors.is_empty() {
        return Ok(report_diagnostics(printer, &errors));
    }
    if let ([id], false) = (report.ids.as_slice(), args.select.is_empty())
        && let (Some(Ok(c)), Some(node)) = (report.compiled.get(id), report.loaded.parsed.node(id))
    {
        printer.info(&format!("Compiled node '{}' is:", node.node.name));
        printer.out(&format!("{}\n", c.sql));
    }
    exit_without_freeing(report);
    Ok(Outcome::Success)
}
