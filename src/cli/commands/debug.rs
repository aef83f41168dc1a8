//! `silt debug`: what the project and profile resolve to, and whether each check passed.

use anyhow::Result;

use super::load_options;
use crate::cli::{Cli, Outcome, Printer, report_diagnostics};

pub fn run(cli: &Cli, printer: &Printer) -> Result<Outcome> {
    printer.info(&format!("Running with silt={}", env!("CARGO_PKG_VERSION")));
    printer.info(&format!("silt version: {}", env!("CARGO_PKG_VERSION")));
    let report = silt::commands::debug(&load_options(cli));
    let settings = match &report.settings {
        Ok(s) => s,
        Err(d) => {
            printer.info("Configuration:");
            printer.info("  project or profile [ERROR invalid]");
            report_diagnostics(printer, d);
            return Ok(Outcome::Failure);
        }
    };
    let t = &settings.target;
    printer.info(&format!("Using profiles.yml file at {}", t.profiles_file.display()));
    printer.info(&format!(
        "Using {} file at {}",
        settings.project.file_name,
        settings.root.join(&settings.project.file_name).display()
    ));
    printer.info("Configuration:");
    printer.info("  profiles.yml file [OK found and valid]");
    printer.info(&format!("  {} file [OK found and valid]", settings.project.file_name));
    if let Some(Err(d)) = &report.project {
        report_diagnostics(printer, d);
    }
    let project_ok = matches!(report.project, Some(Ok(())));
    printer.info(&format!("  project files [{}]", if project_ok { "OK valid" } else { "ERROR invalid" }));
    printer.info("");
    printer.info("Connection:");
    printer.info(&format!("  profile: {}", t.profile_name));
    printer.info(&format!("  target: {}", t.name));
    printer.info(&format!("  type: {}", t.kind));
    printer.info(&format!("  warehouse: {} ({})", t.warehouse, t.warehouse_path.display()));
    printer.info(&format!("  schema: {}", t.schema));
    printer.info(&format!("  database: {}", t.database));
    printer.info(&format!("  threads: {}", t.threads));
    match &report.writable {
        Some(Ok(())) => printer.info("  Connection test: [OK warehouse is writable]"),
        Some(Err(e)) => printer.err_line(&format!("  Connection test: [ERROR warehouse is not writable: {e}]")),
        None => {}
    }
    printer.info("");
    if report.passed() {
        printer.info("All checks passed!");
        Ok(Outcome::Success)
    } else {
        printer.err_line("Some checks failed.");
        Ok(Outcome::Failure)
    }
}
