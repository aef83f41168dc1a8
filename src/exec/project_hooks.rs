//! `on-run-start` and `on-run-end`: the project's (and its packages') hooks around `run`,
//! `seed`, `test` and `build`. As in dbt, each is an operation with its own result
//! (`operation.<package>.<package>-on-run-start-<n>`), packages' hooks run before the
//! root project's, and once a hook fails the rest of its kind are skipped.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use serde_json::{Value as Json, json};

use super::runner::Stopwatch;
use super::{NodeResult, Observer, Session, Status, Timing};
use crate::parse::{ParsedProject, model_json};

/// Which project hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunHook {
    Start,
    End,
}

impl RunHook {
    pub fn key(self) -> &'static str {
        match self {
            RunHook::Start => "on-run-start",
            RunHook::End => "on-run-end",
        }
    }
}

/// One project hook to run.
#[derive(Debug, Clone)]
pub struct ProjectHook {
    pub unique_id: String,
    /// `<package>.on-run-start.<n>`, as dbt's log names it.
    pub display: String,
    pub package: String,
    pub sql: String,
}

/// The hooks of `kind` in the order dbt runs them: installed packages by name, then the
/// root project; each project's in the order written.
pub fn project_hooks(parsed: &ParsedProject, kind: RunHook) -> Vec<ProjectHook> {
    let settings = &parsed.project.settings;
    let mut projects: Vec<&crate::settings::ProjectSettings> = settings.packages.iter().collect();
    projects.sort_by(|a, b| a.name.cmp(&b.name));
    projects.push(&settings.project);
    let mut out = Vec::new();
    for p in projects {
        let list = match kind {
            RunHook::Start => &p.on_run_start,
            RunHook::End => &p.on_run_end,
        };
        for (i, sql) in list.iter().enumerate() {
            out.push(ProjectHook {
                unique_id: format!("operation.{0}.{0}-{1}-{i}", p.name, kind.key()),
                display: format!("{}.{}.{i}", p.name, kind.key()),
                package: p.name.clone(),
                sql: sql.clone(),
            });
        }
    }
    out
}

/// The variables `on-run-end` hooks see: `results` (each node's result, with its node),
/// `schemas` and `database_schemas` (where nodes that built a relation succeeded).
pub fn end_context(parsed: &ParsedProject, results: &[NodeResult]) -> Vec<(&'static str, Json)> {
    let mut pairs: BTreeSet<(String, String)> = BTreeSet::new();
    let mut list = Vec::new();
    for r in results {
        let node = parsed.node(&r.unique_id);
        if let Some(n) = node
            && n.config.materialized.builds_relation()
            && matches!(r.status, Status::Success | Status::Pass | Status::Warn)
        {
            pairs.insert((n.relation.database.clone(), n.relation.schema.clone()));
        }
        list.push(json!({
            "status": r.status.as_str(),
            "message": r.message,
            "failures": r.failures,
            "execution_time": r.execution_time,
            "thread_id": r.thread_id,
            "adapter_response": r.adapter_response(),
            "timing": r.timing.iter().map(|t| json!({"name": t.name, "started_at": t.started_at.to_rfc3339(), "completed_at": t.completed_at.to_rfc3339()})).collect::<Vec<_>>(),
            "unique_id": r.unique_id,
            "node": node.map(|n| model_json(&n.node, &n.config.raw, Some(&n.relation))).unwrap_or(Json::Null),
        }));
    }
    let schemas: BTreeSet<&String> = pairs.iter().map(|(_, s)| s).collect();
    vec![
        ("results", Json::Array(list)),
        ("schemas", json!(schemas)),
        ("database_schemas", json!(pairs.iter().map(|(d, s)| json!([d, s])).collect::<Vec<_>>())),
    ]
}

/// Runs the hooks of `kind`; a result for each (hooks after a failure are skipped).
pub async fn run_project_hooks(
    parsed: &ParsedProject,
    session: &Session,
    kind: RunHook,
    extra: Vec<(&'static str, Json)>,
    warehouse: Option<Arc<dyn crate::template::warehouse::Warehouse>>,
    observer: &dyn Observer,
) -> Vec<NodeResult> {
    let hooks = project_hooks(parsed, kind);
    let total = hooks.len();
    let mut out = Vec::with_capacity(total);
    let mut failed = false;
    for (i, hook) in hooks.iter().enumerate() {
        let index = i + 1;
        if failed {
            out.push(NodeResult {
                message: Some(format!("{} skipped", hook.display)),
                thread_id: "main".into(),
                ..NodeResult::new(&hook.unique_id, Status::Skipped)
            });
            continue;
        }
        observer.hook_started(index, total, &hook.display);
        let compile_start = Utc::now();
        let clock = Instant::now();
        let rendered = crate::compile::render_run_hook(parsed, &hook.package, &hook.display, &hook.sql, extra.clone(), warehouse.clone());
        let mut result = NodeResult {
            thread_id: "main".into(),
            timing: vec![Timing {
                name: "compile",
                started_at: compile_start,
                completed_at: Utc::now(),
            }],
            ..NodeResult::new(&hook.unique_id, Status::Success)
        };
        let watch = Stopwatch::start();
        let outcome = match rendered {
            Ok(sql) => {
                result.compiled_code = Some(sql.clone());
                if sql.is_empty() {
                    Ok(())
                } else {
                    super::statement::run_script(session, &sql).await.map(|_| ())
                }
            }
            Err(d) => Err(super::ExecError::diagnostic(&d)),
        };
        watch.stop(&mut result);
        result.execution_time = clock.elapsed().as_secs_f64();
        match outcome {
            Ok(()) => {
                result.message = Some(format!("{} passed", hook.display));
                result.failures = Some(0);
            }
            Err(e) => {
                failed = true;
                result.status = Status::Error;
                result.error_label = Some(e.label());
                result.failures = Some(1);
                result.message = Some(format!("{} failed, error:\n {e}", hook.display));
            }
        }
        observer.hook_finished(index, total, &hook.display, &result);
        out.push(result);
    }
    out
}
