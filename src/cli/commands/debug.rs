//! `silt debug`: validate the project and profile and print the resolved target.

use anyhow::Result;

use crate::cli::{Cli, Outcome, Printer, report_diagnostics};

pub fn run(cli: &Cli, printer: &Printer) -> Result<Outcome> {
    printer.info(&format!("Running with silt={}", env!("CARGO_PKG_VERSION")));
    printer.info(&format!("silt version: {}", env!("CARGO_PKG_VERSION")));
    let settings = match silt::settings::Settings::load(&cli.global.load_options()) {
        Ok(s) => s,
        Err(d) => {
            printer.info("Configuration:");
            printer.info("  project or profile [ERROR invalid]");
            report_diagnostics(printer, &d);
            return Ok(Outcome::Failure);
        }
    };
    let t = &settings.target;
    printer.info(&format!(
        "Using profiles.yml file at {}",
        t.profiles_file.display()
    ));
    printer.info(&format!(
        "Using {} file at {}",
        settings.project.file_name,
        settings.root.join(&settings.project.file_name).display()
    ));
    printer.info("Configuration:");
    printer.info("  profiles.yml file [OK found and valid]");
    printer.info(&format!(
        "  {} file [OK found and valid]",
        settings.project.file_name
    ));
    let project_ok = match silt::project::Project::load(settings.clone())
        .and_then(|p| silt::parse::parse(p, &Default::default()))
    {
        Ok(parsed) => match silt::graph::Graph::build(&parsed) {
            Ok(_) => true,
            Err(d) => {
                report_diagnostics(printer, &d);
                false
            }
        },
        Err(d) => {
            report_diagnostics(printer, &d);
            false
        }
    };
    printer.info(&format!(
        "  project files [{}]",
        if project_ok {
            "OK valid"
        } else {
            "ERROR invalid"
        }
    ));
    printer.info("");
    printer.info("Connection:");
    printer.info(&format!("  profile: {}", t.profile_name));
    printer.info(&format!("  target: {}", t.name));
    printer.info(&format!("  type: {}", t.kind));
    printer.info(&format!(
        "  warehouse: {} ({})",
        t.warehouse,
        t.warehouse_path.display()
    ));
    printer.info(&format!("  schema: {}", t.schema));
    printer.info(&format!("  database: {}", t.database));
    printer.info(&format!("  threads: {}", t.threads));
    let writable = std::fs::create_dir_all(&t.warehouse_path).and_then(|_| {
        let probe = t.warehouse_path.join(".silt-debug-probe");
        std::fs::write(&probe, b"ok")?;
        std::fs::remove_file(&probe)
    });
    match &writable {
        Ok(()) => printer.info("  Connection test: [OK warehouse is writable]"),
        Err(e) => printer.err_line(&format!(
            "  Connection test: [ERROR warehouse is not writable: {e}]"
        )),
    }
    printer.info("");
    if project_ok && writable.is_ok() {
        printer.info("All checks passed!");
        Ok(Outcome::Success)
    } else {
        printer.err_line("Some checks failed.");
        Ok(Outcome::Failure)
    }
}
