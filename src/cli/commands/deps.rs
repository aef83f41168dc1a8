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
    for p in &report.installed {
        printer.info(&format!("Installing {}", p.pinned.key()));
        printer.info(&format!("Installed from {}", p.pinned.version()));
        if let Pinned::Git { subdirectory: Some(sub), .. } = &p.pinned {
            printer.info(&format!("and subdirectory {sub}"));
        }
    }
    Ok(Outcome::Success)
}
