//! `silt run-operation`: one macro called against the warehouse; its error printed as
//! dbt prints it.

use std::sync::Arc;

use anyhow::Result;
use silt::commands::run_operation::Options;
use silt::exec::Status;

use super::{exit_without_freeing, fail, header, load_options};
use crate::cli::console::{Console, Mode};
use crate::cli::{Cli, Outcome, Printer};

pub fn run(cli: &Cli, printer: &Printer, macro_name: &str, args: Option<&str>) -> Result<Outcome> {
    header(printer);
    let opts = Options {
        project: load_options(cli),
        macro_name: macro_name.to_owned(),
        args: args.map(str::to_owned),
    };
    let report = match silt::commands::run_operation(&opts, Arc::new(Console::new(*printer, Mode::Other))) {
        Ok(r) => r,
        Err(e) => return fail(printer, e),
    };
    let outcome = if report.result.status == Status::Success {
        Outcome::Success
    } else {
        printer.err_line("Encountered an error while running operation:");
        for line in report.result.message.as_deref().unwrap_or_default().lines() {
            printer.err_line(line);
        }
        Outcome::Failure
    };
    exit_without_freeing(report);
    Ok(outcome)
}
