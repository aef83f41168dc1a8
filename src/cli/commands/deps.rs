//! `silt deps`: what was locked and installed, printed as dbt prints it.

use anyhow::Result;
use silt::commands::deps::Options;
use silt::packages::Pinned;

use super::{fail, header, load_options};
use crate::cli::{Cli, Outcome, Printer};

pub fn run(cli: &Cli, printer: &Printer, upgrade: bool, lock: bool) -> Result<Outcome> {
    header(printer);
    let opts = Options {
        project: load_options(cli),
        upgrade,
        lock_only: lock,
    };
    let report = match silt::commands::deps(&opts) {
        Ok(r) => r,
        Err(e) => return fail(printer, e),
    };
    if let Some(path) = &report.lock_written {
        printer.info(&format!("Updating lock file in file path: {}", path.display()));
    }
    if report.declared_in.is_none() {
        printer.info("Warning: No packages were found in packages.yml");
        return Ok(Outcome::Success);
    }
    let mut outdated = Vec::new();
    for p in &report.installed {
        printer.info(&format!("Installing {}", p.pinned.key()));
        printer.info(&format!("Installed from {}", p.pinned.version()));
        match &p.pinned {
            Pinned::Git { subdirectory: Some(sub), .. } => printer.info(&format!("and subdirectory {sub}")),
            Pinned::Hub { package, version } => match report.latest.get(package) {
                Some(latest) if latest != version => {
                    printer.info(&format!("Updated version available: {latest}"));
                    outdated.push(package.clone());
                }
                _ => printer.info("Up to date!"),
            },
            _ => {}
        }
    }
    if !outdated.is_empty() {
        printer.info(&format!("Updates available for packages: {}", outdated.join(", ")));
        printer.info("Update your versions in packages.yml, then run `silt deps`");
    }
    Ok(Outcome::Success)
}
