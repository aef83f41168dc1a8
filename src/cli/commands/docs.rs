//! `silt docs generate` and `silt docs serve`.

use std::sync::Arc;

use anyhow::Result;
use silt::commands::docs::DocsReport;

use super::{fail, header, load_options};
use crate::cli::console::Console;
use crate::cli::{Cli, Outcome, Printer};

pub fn generate(cli: &Cli, printer: &Printer) -> Result<Outcome> {
    header(printer);
    match silt::commands::docs_generate(&load_options(cli), Arc::new(Console::new(*printer))) {
        Ok(docs) => {
            print_docs(printer, &docs);
            Ok(Outcome::Success)
        }
        Err(e) => fail(printer, e),
    }
}

/// What writing the docs did.
pub fn print_docs(printer: &Printer, docs: &DocsReport) {
    for w in &docs.warnings {
        printer.info(&format!("warning: {w}"));
    }
    printer.info(&format!(
        "Catalog written to {} ({} nodes and {} sources that exist in the warehouse)",
        docs.catalog.display(),
        docs.nodes,
        docs.sources
    ));
    printer.info(&format!("Docs site written to {} ({} nodes)", docs.site.display(), docs.site_nodes));
}

/// Serves target/docs/ until the process is stopped.
pub fn serve(cli: &Cli, printer: &Printer, host: &str, port: u16) -> Result<Outcome> {
    header(printer);
    let (server, site) = match silt::commands::docs_serve(&load_options(cli), host, port, Arc::new(Console::new(*printer))) {
        Ok(s) => s,
        Err(e) => return fail(printer, e),
    };
    let addr = server.local_addr()?;
    printer.info(&format!("Serving the docs of `{}` at http://{addr}/ (Ctrl-C to stop)", site.display()));
    server.run()?;
    Ok(Outcome::Success)
}
