//! `silt run`, `silt seed`, `silt test` and `silt build`: flags to options, then the
//! report printed: the docs written, a build's rows by layer and tests' tally.

use std::sync::Arc;

use anyhow::Result;
use silt::commands::Stop;
use silt::commands::build::{Kind, Options, Report};

use super::{fail, header, load_options, selection};
use crate::cli::console::{Console, Mode};
use crate::cli::{BuildArgs, Cli, Outcome, Printer, SelectArgs, TestArgs};

/// What some commands add: `build` writes the docs, `seed --show`, `run/build --empty`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras {
    pub docs: bool,
    pub show: bool,
    pub empty: bool,
}

pub fn run(
    cli: &Cli,
    printer: &Printer,
    args: &SelectArgs,
    build: &BuildArgs,
    tests: &TestArgs,
    kind: Kind,
    extras: Extras,
) -> Result<Outcome> {
    header(printer);
    let opts = Options {
        project: load_options(cli),
        selection: selection(args),
        full_refresh: build.full_refresh,
        fail_fast: build.fail_fast,
        store_failures: tests.store_failures,
        indirect: tests.indirect_selection.to_lib(),
        docs: extras.docs,
        empty: extras.empty,
        stop: Stop::OnSignals,
    };
    let report = match silt::commands::build::execute(kind, &opts, Arc::new(Console::new(*printer, Mode::Build))) {
        Ok(r) => r,
        Err(e) => return fail(printer, e),
    };
    if let Some(layers) = &report.layers {
        pipeline_summary(printer, &report, layers);
    }
    if let Some(docs) = &report.docs {
        printer.info(&format!("Docs: {} (open it, or run `silt docs serve`)", docs.site.display()));
    }
    if extras.show {
        show_samples(printer, &report)?;
    }
    Ok(if report.success() { Outcome::Success } else { Outcome::Failure })
}

/// `seed --show`: each seed's random sample, under dbt's header.
fn show_samples(printer: &Printer, report: &Report) -> Result<()> {
    let samples = match silt::commands::show::seed_samples(report) {
        Ok(s) => s,
        Err(e) => {
            printer.info(&format!("(no samples: {e})"));
            return Ok(());
        }
    };
    for s in samples {
        let header = format!("Random sample of table: {}", s.relation);
        printer.info("");
        printer.info(&header);
        printer.info(&"-".repeat(header.chars().count()));
        let table = if s.more { s.preview.to_table_with_more()? } else { s.preview.to_table()? };
        printer.out(&table);
        printer.info("");
    }
    Ok(())
}

/// After a build: the rows of each table it touched, by layer, and the tests' tally.
fn pipeline_summary(
    printer: &Printer,
    report: &Report,
    layers: &Result<Vec<silt::commands::build::LayerRows>, silt::exec::ExecError>,
) {
    let rows = match layers {
        Ok(rows) => rows,
        Err(e) => {
            printer.info(&format!("(no row counts: {e})"));
            return;
        }
    };
    if rows.is_empty() {
        return;
    }
    printer.info("");
    printer.info("Rows by layer:");
    let width = rows.iter().map(|r| r.relation.len()).max().unwrap_or(0);
    let layer_width = rows.iter().map(|r| r.layer.len()).max().unwrap_or(0);
    for r in rows {
        let errors = match r.parse_errors {
            Some(n) => format!(" ({n} parse errors)"),
            None => String::new(),
        };
        printer.info(&format!(
            "  {:<layer_width$}  {:<width$}  {:>9} rows{errors}",
            r.layer, r.relation, r.rows
        ));
    }
    let t = report.tests();
    printer.info(&format!(
        "Tests: {} passed, {} warned, {} failed, {} errored, {} skipped.",
        t.passed, t.warned, t.failed, t.errored, t.skipped
    ));
}
