//! `silt run` and `silt seed`: build models or load seeds, in dependency order.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Result;
use silt::compile::write_compiled;
use silt::exec::{NodeDesc, NodeResult, Observer, Status};
use silt::ops::RunRequest;
use silt::parse::Materialization;
use silt::project::ResourceType;

use super::{Invocation, load, plural, runtime, select, write_artifact};
use crate::cli::printer::{Paint, progress_line};
use crate::cli::{BuildArgs, Cli, Outcome, Printer, SelectArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Run,
    Seed,
}

pub fn run(
    cli: &Cli,
    printer: &Printer,
    args: &SelectArgs,
    build: &BuildArgs,
    kind: Kind,
) -> Result<Outcome> {
    let inv = Invocation::new(if kind == Kind::Run { "run" } else { "seed" });
    let loaded = match load(cli, printer, &inv, build.full_refresh)? {
        Ok(l) => l,
        Err(outcome) => return Ok(outcome),
    };
    let types: &[ResourceType] = if kind == Kind::Run {
        &[ResourceType::Model]
    } else {
        &[ResourceType::Seed]
    };
    let ids = match select(printer, &loaded, args, types) {
        Ok(ids) => ids,
        Err(outcome) => return Ok(outcome),
    };
    let target = &loaded.parsed.project.settings.target;
    let threads = target.threads;
    printer.info("");
    printer.info(&format!(
        "Concurrency: {threads} threads (target='{}')",
        target.name
    ));
    printer.info("");
    let silt::Loaded { parsed, graph, .. } = loaded;
    let parsed = Arc::new(parsed);
    let request = RunRequest {
        ids,
        threads,
        full_refresh: build.full_refresh,
        fail_fast: build.fail_fast,
    };
    let observer = Arc::new(Console { printer: *printer });
    let report = runtime()?
        .block_on(silt::ops::run(parsed.clone(), &graph, &request, observer))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    write_compiled(&parsed.project.settings.root, &report.compiled)
        .map_err(|e| anyhow::anyhow!("cannot write compiled SQL: {e}"))?;
    silt::ops::write_run_files(&parsed, &report)
        .map_err(|e| anyhow::anyhow!("cannot write target/run: {e}"))?;
    let artifacts = inv.artifacts(cli, args, build.full_refresh);
    let target_dir = parsed.project.settings.target_dir();
    write_artifact(
        &target_dir.join("run_results.json"),
        &silt::manifest::run_results(&parsed, &report.results, &artifacts, report.elapsed),
    )?;
    write_artifact(
        &target_dir.join("manifest.json"),
        &silt::manifest::Manifest {
            parsed: &parsed,
            graph: &graph,
            compiled: Some(&report.compiled),
            invocation: &artifacts,
        },
    )?;
    Ok(summary(printer, &parsed, &report.results, report.elapsed))
}

/// The console's view of progress, shared with worker threads.
struct Console {
    printer: Printer,
}

fn describe(node: &NodeDesc) -> String {
    match node.materialized {
        Materialization::Seed => format!("seed file {}", node.relation),
        m => format!("sql {} model {}", m.as_str(), node.relation),
    }
}

impl Observer for Console {
    fn started(&self, index: usize, total: usize, node: &NodeDesc) {
        self.printer.info(&progress_line(
            index,
            total,
            &format!("START {}", describe(node)),
            "RUN",
        ));
    }

    fn finished(&self, index: usize, total: usize, node: &NodeDesc, result: &NodeResult) {
        let p = &self.printer;
        let t = format!(" in {:.2}s", result.execution_time);
        let (msg, status) = match result.status {
            Status::Success => {
                let verb = if node.materialized == Materialization::Seed {
                    "loaded"
                } else {
                    "created"
                };
                let m = result.message.clone().unwrap_or_else(|| "OK".into());
                (
                    format!("OK {verb} {}", describe(node)),
                    format!("{}{t}", p.paint(Paint::Green, &m)),
                )
            }
            Status::Skipped => (
                format!("SKIP relation {}", node.relation),
                p.paint(Paint::Yellow, "SKIP"),
            ),
            _ => {
                let verb = if node.materialized == Materialization::Seed {
                    "loading"
                } else {
                    "creating"
                };
                (
                    format!("ERROR {verb} {}", describe(node)),
                    format!("{}{t}", p.paint(Paint::Red, "ERROR")),
                )
            }
        };
        let line = progress_line(index, total, &msg, &status);
        if result.status == Status::Error {
            p.err_line(&line)
        } else {
            p.info(&line)
        }
    }
}

fn summary(
    printer: &Printer,
    parsed: &silt::parse::ParsedProject,
    results: &[NodeResult],
    elapsed: f64,
) -> Outcome {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in results {
        if let Some(n) = parsed.node(&r.unique_id) {
            let key = match n.materialized {
                Materialization::Seed => "seed".to_owned(),
                m => format!("{} model", m.as_str()),
            };
            *counts.entry(key).or_default() += 1;
        }
    }
    let what: Vec<String> = counts.iter().map(|(k, n)| plural(*n, k)).collect();
    let secs = elapsed;
    let (h, m) = ((secs / 3600.0) as u64, ((secs % 3600.0) / 60.0) as u64);
    printer.info("");
    printer.info(&format!(
        "Finished running {} in {h} hours {m} minutes and {:.2} seconds ({secs:.2}s).",
        if what.is_empty() {
            "0 nodes".to_owned()
        } else {
            what.join(", ")
        },
        secs % 60.0
    ));
    let errors: Vec<&NodeResult> = results
        .iter()
        .filter(|r| matches!(r.status, Status::Error | Status::Fail))
        .collect();
    let warnings = results.iter().filter(|r| r.status == Status::Warn).count();
    let skipped = results
        .iter()
        .filter(|r| r.status == Status::Skipped)
        .count();
    let passed = results
        .iter()
        .filter(|r| matches!(r.status, Status::Success | Status::Pass))
        .count();
    printer.info("");
    if errors.is_empty() {
        if warnings == 0 {
            printer.info(&printer.paint(Paint::Green, "Completed successfully"));
        } else {
            printer.info(&printer.paint(
                Paint::Yellow,
                &format!("Completed with {}:", plural(warnings, "warning")),
            ));
        }
    } else {
        printer.err_line(&printer.paint(
            Paint::Red,
            &format!(
                "Completed with {}, 0 partial successes, and {}:",
                plural(errors.len(), "error"),
                plural(warnings, "warning")
            ),
        ));
        for r in &errors {
            let Some(n) = parsed.node(&r.unique_id) else {
                continue;
            };
            let kind = n.node.resource_type.as_str();
            printer.err_line("");
            printer.err_line(&printer.paint(
                Paint::Red,
                &format!(
                    "Failure in {kind} {} ({})",
                    n.node.name, n.node.original_file_path
                ),
            ));
            let label = r.error_label.unwrap_or("Runtime Error");
            let message = r.message.clone().unwrap_or_default();
            let indented: Vec<String> = message.lines().map(|l| format!("  {l}")).collect();
            printer.err_line(&format!(
                "  {label} in {kind} {} ({})\n{}",
                n.node.name,
                n.node.original_file_path,
                indented.join("\n")
            ));
            if r.compiled_code.is_some() {
                printer.err_line("");
                let path = format!(
                    "{}/compiled/{}/{}",
                    parsed.project.settings.project.target_path,
                    n.node.package,
                    n.node.original_file_path
                );
                printer.err_line(&format!("  compiled code at {path}"));
            }
        }
    }
    printer.info("");
    let done = format!(
        "Done. PASS={passed} WARN={warnings} ERROR={} SKIP={skipped} NO-OP=0 TOTAL={}",
        errors.len(),
        results.len()
    );
    if errors.is_empty() {
        printer.info(&done)
    } else {
        printer.err_line(&done)
    }
    if errors.is_empty() {
        Outcome::Success
    } else {
        Outcome::Failure
    }
}
