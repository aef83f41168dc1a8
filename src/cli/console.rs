//! What a command shows while it runs: the [`Events`] of the library, printed as dbt
//! prints them (progress lines on standard error, timestamped).

use std::collections::BTreeMap;

use silt::Loaded;
use silt::commands::{DocsReport, Events};
use silt::exec::optimize::OptimizeOutcome;
use silt::exec::{ExecError, NodeDesc, NodeResult, Observer, Status};
use silt::ingest::{IngestObserver, IngestTarget, Progress};
use silt::parse::{Materialization, ParsedProject};
use silt::project::ResourceType;

use super::printer::{Paint, Printer, progress_line};

/// The command whose events are printed, where that changes how they read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `run`, `seed`, `test`, `build`: Kafka sources are caught up first, and the docs
    /// come after the run's summary.
    Build,
    /// `silt ingest`, until caught up or not.
    Ingest { until_caught_up: bool },
    /// `silt optimize`, with or without vacuuming.
    Optimize { vacuum: bool },
    /// Any other command.
    Other,
}

/// The console's view of a command, shared with worker threads.
pub struct Console {
    pub printer: Printer,
    pub mode: Mode,
}

impl Console {
    pub fn new(printer: Printer, mode: Mode) -> Console {
        Console { printer, mode }
    }
}

impl Events for Console {
    fn loaded(&self, loaded: &Loaded) {
        for w in &loaded.parsed.project.warnings {
            if !self.printer.quiet {
                self.printer.err_raw(&format!("{}\n", w.render(self.printer.color)));
            }
        }
        self.printer.info(&found_line(loaded));
    }

    fn matched_nothing(&self, select: &[String]) {
        if !self.printer.quiet {
            self.printer.info(&format!(
                "The selection criterion '{}' does not match any enabled nodes",
                select.join(" ")
            ));
        }
    }

    fn ingesting(&self, targets: &[IngestTarget]) {
        let names = targets.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ");
        self.printer.info(&match self.mode {
            Mode::Ingest { until_caught_up: true } => format!("Ingesting {names} until caught up"),
            Mode::Ingest { until_caught_up: false } => format!("Ingesting {names} (Ctrl-C to stop)"),
            _ => format!("Catching up Kafka sources: {names}"),
        });
    }

    fn caught_up(&self, progress: &[Progress]) {
        for p in progress {
            self.printer.info(&format!(
                "{}: {} new messages, {} rows committed ({} parse errors)",
                p.table, p.messages, p.rows_committed, p.parse_errors
            ));
        }
    }

    fn running(&self, threads: usize, target: &str) {
        self.printer.info("");
        self.printer.info(&format!("Concurrency: {threads} threads (target='{target}')"));
        self.printer.info("");
    }

    fn ran(&self, parsed: &ParsedProject, results: &[NodeResult], elapsed: f64) {
        summary(&self.printer, parsed, results, elapsed);
    }

    fn docs_written(&self, docs: &DocsReport) {
        let p = &self.printer;
        if self.mode == Mode::Build {
            p.info("");
        }
        for w in &docs.warnings {
            p.info(&format!("warning: {w}"));
        }
        p.info(&format!(
            "Catalog written to {} ({} nodes and {} sources that exist in the warehouse)",
            docs.catalog.display(),
            docs.nodes,
            docs.sources
        ));
        p.info(&format!("Docs site written to {} ({} nodes)", docs.site.display(), docs.site_nodes));
    }

    fn optimized(&self, table: &str, outcome: &Result<OptimizeOutcome, ExecError>) {
        let p = &self.printer;
        match outcome {
            Ok(o) => p.info(&format!(
                "{table}: {} files compacted into {}, checkpoint written{}, now at version {}",
                o.files_removed,
                o.files_added,
                if self.mode == (Mode::Optimize { vacuum: true }) {
                    format!(", {} files vacuumed", o.vacuumed)
                } else {
                    String::new()
                },
                o.version.unwrap_or_default()
            )),
            Err(e) => p.err_line(&p.paint(Paint::Red, &format!("{table}: {e}"))),
        }
    }

    fn note(&self, message: &str) {
        self.printer.info(message);
    }

    fn warned(&self, warning: &silt::diagnostic::Diagnostic) {
        if !self.printer.quiet {
            self.printer.err_raw(&format!("{}\n", warning.render(self.printer.color)));
        }
    }
}

impl IngestObserver for Console {
    fn progress(&self, p: &Progress) {
        let lag: Vec<String> = p
            .lag
            .iter()
            .map(|((t, part), l)| format!("{t}[{part}] {l}"))
            .collect();
        self.printer.info(&format!(
            "{}: {} messages ({:.0}/s, {:.1} MB/s), {} rows committed in {} commits, {} parse errors; lag: {}",
            p.table,
            p.messages,
            p.rate(),
            p.bytes as f64 / 1e6 / p.elapsed.as_secs_f64().max(1e-9),
            p.rows_committed,
            p.commits,
            p.parse_errors,
            if lag.is_empty() { "none assigned".to_owned() } else { lag.join(", ") }
        ));
    }

    fn warning(&self, message: &str) {
        self.printer.err_line(&self.printer.paint(Paint::Yellow, &format!("warning: {message}")));
    }
}

/// `Found 3 models, 1 seed, 2 sources, 12 macros`
fn found_line(loaded: &Loaded) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for n in loaded.parsed.nodes.iter().filter(|n| n.config.enabled) {
        let label = match n.node.resource_type {
            ResourceType::Model => "model",
            ResourceType::Seed => "seed",
            ResourceType::Test => "data test",
            ResourceType::UnitTest => "unit test",
            ResourceType::Analysis => "analysis",
            ResourceType::Snapshot => "snapshot",
            ResourceType::Exposure => "exposure",
            _ => "other",
        };
        *counts.entry(label).or_default() += 1;
    }
    let sources = loaded.parsed.sources.iter().filter(|s| s.enabled).count();
    let macros = loaded.parsed.templates.macros().count();
    let mut parts: Vec<String> = Vec::new();
    for label in ["model", "snapshot", "seed", "data test", "unit test", "analysis"] {
        if let Some(n) = counts.get(label) {
            parts.push(plural(*n, label));
        }
    }
    if sources > 0 {
        parts.push(plural(sources, "source"));
    }
    parts.push(plural(macros, "macro"));
    if let Some(n) = counts.get("exposure") {
        parts.push(plural(*n, "exposure"));
    }
    format!("Found {}", parts.join(", "))
}

pub fn plural(n: usize, noun: &str) -> String {
    let word = if n == 1 {
        noun.to_owned()
    } else if noun == "analysis" {
        "analyses".to_owned()
    } else {
        format!("{noun}s")
    };
    format!("{n} {word}")
}

fn describe(node: &NodeDesc) -> String {
    match node.materialized {
        Materialization::Seed => format!("seed file {}", node.relation),
        Materialization::Snapshot => format!("snapshot {}", node.relation),
        Materialization::Test => format!("test {}", node.name),
        Materialization::UnitTest => format!("unit_test {}", unit_label(node)),
        Materialization::Exposure => format!("exposure {}", node.name),
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
                let what = if node.materialized == Materialization::Snapshot {
                    // dbt: `OK snapshotted main.orders_snapshot`.
                    format!("snapshotted {}", node.relation)
                } else {
                    format!("{verb} {}", describe(node))
                };
                (
                    format!("OK {what}"),
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
            // dbt: `1 of 5 NO-OP exposure weekly_dashboard ..... [NO-OP in 0.00s]`.
            Status::NoOp => (
                format!("NO-OP {}", describe(node)),
                format!("{}{t}", p.paint(Paint::Yellow, "NO-OP")),
            ),
            Status::Skipped if node.materialized == Materialization::Exposure => (
                format!("SKIP {}", describe(node)),
                p.paint(Paint::Yellow, "SKIP"),
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

    fn hook_started(&self, index: usize, total: usize, name: &str) {
        self.printer.info(&progress_line(index, total, &format!("START hook: {name}"), "RUN"));
    }

    fn hook_finished(&self, index: usize, total: usize, name: &str, result: &NodeResult) {
        let p = &self.printer;
        let t = format!(" in {:.2}s", result.execution_time);
        if result.status == Status::Error {
            p.err_line(&progress_line(index, total, &format!("ERROR hook: {name}"), &format!("{}{t}", p.paint(Paint::Red, "ERROR"))));
        } else {
            p.info(&progress_line(index, total, &format!("OK hook: {name}"), &format!("{}{t}", p.paint(Paint::Green, "OK"))));
        }
    }
}

fn summary(
    printer: &Printer,
    parsed: &ParsedProject,
    results: &[NodeResult],
    elapsed: f64,
) {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in results {
        if r.unique_id.starts_with("operation.") {
            *counts.entry("project hook".to_owned()).or_default() += 1;
        }
        if let Some(n) = parsed.node(&r.unique_id) {
            let key = match n.config.materialized {
                Materialization::Seed => "seed".to_owned(),
                Materialization::Snapshot => "snapshot".to_owned(),
                Materialization::Test => "data test".to_owned(),
                Materialization::UnitTest => "unit test".to_owned(),
                Materialization::Exposure => "exposure".to_owned(),
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
    let no_ops = results.iter().filter(|r| r.status == Status::NoOp).count();
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
            if let Some(hook) = r.unique_id.strip_prefix("operation.") {
                // A project hook: no node, its message says which and why.
                printer.err_line("");
                printer.err_line(&printer.paint(Paint::Red, &format!("Failure in operation {hook}")));
                for l in r.message.as_deref().unwrap_or_default().lines() {
                    printer.err_line(&format!("  {l}"));
                }
            }
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
        "Done. PASS={passed} WARN={} ERROR={} SKIP={skipped} NO-OP={no_ops} TOTAL={}",
        warnings.len(),
        errors.len(),
        results.len()
    );
    if errors.is_empty() {
        printer.info(&done)
    } else {
        printer.err_line(&done)
    }
}
