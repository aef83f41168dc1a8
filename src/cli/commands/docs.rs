//! `silt docs generate` and `silt docs serve`.

use std::sync::Arc;

use anyhow::Result;

use super::{fail, header, load_options};
use crate::cli::console::{Console, Mode};
use crate::cli::{Cli, Outcome, Printer};

pub fn generate(cli: &Cli, printer: &Printer) -> Result<Outcome> {
    header(printer);
    // What was written is printed as it is written (`Events::docs_written`).
    match silt::commands::docs_generate(&load_options(cli), Arc::new(Console::new(*printer, Mode::Other))) {
        Ok(_) => Ok(Outcome::Success),
        Err(e) => fail(printer, e),
    }
}

/// Serves target/docs/ until the process is stopped.
pub fn serve(cli: &Cli, printer: &Printer, host: &str, port: u16) -> Result<Outcome> {
    header(printer);
    let (server, site) = match silt::commands::docs_serve(&load_options(cli), host, port, Arc::new(Console::new(*printer, Mode::Other))) {
        Ok(s) => s,
        Err(e) => return fail(printer, e),
    };
    let addr = server.local_addr()?;
    printer.info(&format!("Serving the docs of `{}` at http://{addr}/ (Ctrl-C to stop)", site.display()));
    server.run()?;
    Ok(Outcome::Success)
}
