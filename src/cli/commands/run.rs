//! `silt run`, `silt seed`, `silt test` and `silt build`: build models, load seeds, run
//! tests, or all three, in dependency order.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Result;
use silt::compile::write_compiled;
use silt::exec::{NodeDesc, NodeResult, Observer, Status};
use silt::ops::RunRequest;
use silt::parse::Materialization;
use silt::project::ResourceType;

use super::{Invocation, plural, runtime, write_artifact};
use crate::cli::printer::{Paint, progress_line};
use crate::cli::{BuildArgs, Cli, Outcome, Printer, SelectArgs, TestArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Run,
    Seed,
    Test,
    Build,
}

pub fn run(
    cli: &Cli,
    printer: &Printer,
    args: &SelectArgs,
    build: &BuildArgs,
    tests: &TestArgs,
    kind: Kind,
    docs: bool,
) -> Result<Outcome> {
    let inv = Invocation::new(match kind {
        Kind::Run => "run",
        Kind::Seed => "seed",
        Kind::Test => "test",
        Kind::Build => "build",
    });
    let loaded = match super::load_with(cli, printer, &inv, build.full_refresh, tests.store_failures)? {
        Ok(l) => l,
        Err(outcome) => return Ok(outcome),
    };
    let types: &[ResourceType] = match kind {
        Kind::Run => &[ResourceType::Model],
        Kind::Seed => &[ResourceType::Seed],
        Kind::Test => &[ResourceType::Test, ResourceType::UnitTest],
        Kind::Build => &[
            ResourceType::Model,
            ResourceType::Seed,
            ResourceType::Test,
            ResourceType::UnitTest,
        ],
    };
    let ids = match super::select_indirect(
        printer,
        &loaded,
        args,
        types,
        tests.indirect_selection.to_lib(),
    ) {
        Ok(ids) => ids,
        Err(outcome) => return Ok(outcome),
    };
    // The docs cover the whole project whatever the selection (chosen now, while the
    // project is still whole).
    let documented = if docs {
        match super::docs::documented(printer, &loaded) {
            Some(ids) => Some(ids),
            None => return Ok(Outcome::Failure),
        }
    } else {
        None
    };
    let mut caught_up = Vec::new();
    if kind == Kind::Build {
        // A build sees every message produced before it began: catch up the Kafka
        // sources upstream of what it builds first.
        let targets = silt::ops::kafka_targets(&loaded.parsed, &loaded.graph, Some(&ids));
        caught_up = targets.clone();
        if !targets.is_empty() {
            printer.info(&format!(
                "Catching up Kafka sources: {}",
                targets.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
            ));
            let opts = silt::ingest::IngestOptions {
                until_caught_up: true,
                stop: super::ingest::stop_on_signals(),
                ..Default::default()
            };
            let observer = Arc::new(super::ingest::Console { printer: *printer });
            match silt::ops::ingest(&loaded.parsed, &targets, &opts, observer) {
                Ok(progress) => {
                    for p in &progress {
                        printer.info(&format!(
                            "{}: {} new messages, {} rows committed ({} parse errors)",
                            p.table, p.messages, p.rows_committed, p.parse_errors
                        ));
                    }
                }
                Err(e) => return Ok(super::ingest::report_error(printer, &e)),
            }
        }
    }
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
        audit: kind == Kind::Build,
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
    let results = silt::manifest::run_results(&parsed, &report.results, &artifacts, report.elapsed);
    write_artifact(&target_dir.join("run_results.json"), &results)?;
    let status_path = target_dir.join("node_status.json");
    let previous = std::fs::read(&status_path).ok().and_then(|b| serde_json::from_slice(&b).ok());
    write_artifact(&status_path, &silt::manifest::node_status(previous, &results))?;
    write_artifact(
        &target_dir.join("manifest.json"),
        &silt::manifest::Manifest {
            parsed: &parsed,
            graph: &graph,
            compiled: Some(&report.compiled),
            invocation: &artifacts,
        },
    )?;
    let outcome = summary(printer, &parsed, &report.results, report.elapsed);
    // Docs after the run, so they show its results; a failing run still gets them.
    let site = match &documented {
        Some(ids) => {
            printer.info("");
            Some(super::docs::write_docs(printer, &parsed, &graph, ids, &artifacts)?)
        }
        None => None,
    };
    if kind == Kind::Build {
        pipeline_summary(printer, &parsed, &caught_up, &request.ids, &report.results);
    }
    if let Some(site) = site {
        printer.info(&format!("Docs: {} (open it, or run `silt docs serve`)", site.display()));
    }
    Ok(outcome)
}

/// After a build: the rows of each table it touched, by layer, and the tests' tally.
fn pipeline_summary(
    printer: &Printer,
    parsed: &silt::parse::ParsedProject,
    kafka: &[silt::ingest::IngestTarget],
    ids: &[String],
    results: &[NodeResult],
) {
    let rows = match runtime().and_then(|rt| {
        rt.block_on(silt::ops::layer_rows(parsed, kafka, ids))
            .map_err(|e| anyhow::anyhow!("{e}"))
    }) {
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
    for r in &rows {
        let errors = match r.parse_errors {
            Some(n) => format!(" ({n} parse errors)"),
            None => String::new(),
        };
        printer.info(&format!(
            "  {:<layer_width$}  {:<width$}  {:>9} rows{errors}",
            r.layer, r.relation, r.rows
        ));
    }
    let tests: Vec<&NodeResult> = results
        .iter()
        .filter(|r| {
            parsed
                .node(&r.unique_id)
                .is_some_and(|n| matches!(n.config.materialized, Materialization::Test | Materialization::UnitTest))
        })
        .collect();
    let n = |s: Status| tests.iter().filter(|r| r.status == s).count();
    printer.info(&format!(
        "Tests: {} passed, {} warned, {} failed, {} errored, {} skipped.",
        n(Status::Pass),
        n(Status::Warn),
        n(Status::Fail),
        n(Status::Error),
        n(Status::Skipped)
    ));
}

/// The console's view of progress, shared with worker threads.
struct Console {
    printer: Printer,
}

fn describe(node: &NodeDesc) -> String {
    match node.materialized {
        Materialization::Seed => format!("seed file {}", node.relation),
        Materialization::Test => format!("test {}", node.name),
        Materialization::UnitTest => format!("unit_test {}", unit_label(node)),
        m => format!("sql {} model {}", m.as_str(), node.relation),
    }
}

/// `model::test`, as dbt names unit tests in its output.
fn unit_label(node: &NodeDesc) -> String {
    // unit_test.<project>.<model>.<name>
    let mut parts = node.unique_id.splitn(4, '.');
    let model = parts.nth(2).unwrap_or("");
    format!("{model}::{}", node.name)
}

fn is_test(node: &NodeDesc) -> bool {
    matches!(
        node.materialized,
        Materialization::Test | Materialization::UnitTest
    )
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
        let name = if node.materialized == Materialization::UnitTest {
            unit_label(node)
        } else {
            node.name.clone()
        };
        let failures = result.failures.unwrap_or(0);
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
            Status::Pass => (
                format!("PASS {name}"),
                format!("{}{t}", p.paint(Paint::Green, "PASS")),
            ),
            Status::Warn => (
                format!("WARN {failures} {name}"),
                format!("{}{t}", p.paint(Paint::Yellow, &format!("WARN {failures}"))),
            ),
            Status::Fail => (
                format!("FAIL {failures} {name}"),
                format!("{}{t}", p.paint(Paint::Red, &format!("FAIL {failures}"))),
            ),
            Status::Skipped if is_test(node) => (
                format!("SKIP {}", describe(node)),
                p.paint(Paint::Yellow, "SKIP"),
            ),
            Status::Skipped => (
                format!("SKIP relation {}", node.relation),
                p.paint(Paint::Yellow, "SKIP"),
            ),
            Status::Error if is_test(node) => (
                format!("ERROR {name}"),
                format!("{}{t}", p.paint(Paint::Red, "ERROR")),
            ),
            Status::Error => {
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
        if matches!(result.status, Status::Error | Status::Fail) {
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
            let key = match n.config.materialized {
                Materialization::Seed => "seed".to_owned(),
                Materialization::Test => "data test".to_owned(),
                Materialization::UnitTest => "unit test".to_owned(),
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
    let warnings: Vec<&NodeResult> = results.iter().filter(|r| r.status == Status::Warn).collect();
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
        if warnings.is_empty() {
            printer.info(&printer.paint(Paint::Green, "Completed successfully"));
        } else {
            printer.info(&printer.paint(
                Paint::Yellow,
                &format!("Completed with {}:", plural(warnings.len(), "warning")),
            ));
        }
    } else {
        printer.err_line(&printer.paint(
            Paint::Red,
            &format!(
                "Completed with {}, 0 partial successes, and {}:",
                plural(errors.len(), "error"),
                plural(warnings.len(), "warning")
            ),
        ));
    }
    for r in errors.iter().chain(&warnings) {
        let Some(n) = parsed.node(&r.unique_id) else {
            continue;
        };
        let is_warning = r.status == Status::Warn;
        let emit = |line: &str| {
            if is_warning {
                printer.info(line)
            } else {
                printer.err_line(line)
            }
        };
        let kind = n.node.resource_type.as_str();
        emit("");
        let head = format!(
            "{} in {kind} {} ({})",
            if is_warning { "Warning" } else { "Failure" },
            n.node.name,
            n.node.original_file_path
        );
        emit(&printer.paint(if is_warning { Paint::Yellow } else { Paint::Red }, &head));
        let message = r.message.clone().unwrap_or_default();
        let indented: Vec<String> = message.lines().map(|l| format!("  {l}")).collect();
        if r.status == Status::Error {
            let label = r.error_label.unwrap_or("Runtime Error");
            emit(&format!(
                "  {label} in {kind} {} ({})",
                n.node.name, n.node.original_file_path
            ));
            // Each line on its own, so each gets its timestamp.
            for l in message.lines() {
                emit(&format!("    {l}"));
            }
        } else {
            for l in &indented {
                emit(l);
            }
        }
        if let Some(detail) = &r.detail {
            emit("");
            for l in detail.trim_end().lines() {
                emit(&format!("  {l}"));
            }
        }
        if r.compiled_code.is_some() && n.config.materialized != Materialization::UnitTest {
            emit("");
            let path = format!(
                "{}/compiled/{}/{}",
                parsed.project.settings.project.target_path,
                n.node.package,
                n.node.compiled_rel_path()
            );
            emit(&format!("  compiled code at {path}"));
        }
    }
    printer.info("");
    let done = format!(
        "Done. PASS={passed} WARN={} ERROR={} SKIP={skipped} NO-OP=0 TOTAL={}",
        warnings.len(),
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
