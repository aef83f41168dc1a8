//! The SQL of each node as files, as dbt writes them: `target/compiled/<project>/<path>`
//! (what compiling produced) and `target/run/<project>/<path>` (what a run executed).

use std::collections::BTreeMap;
use std::path::Path;

use crate::compile::CompiledNode;
use crate::diagnostic::Diagnostic;
use crate::exec::{NodeResult, Status};
use crate::par::map as parallel_map;
use crate::parse::{Materialization, ParsedProject};

/// Writes each compiled node's SQL to its `compiled_path` under `root`. A file that already
/// holds that SQL is left alone (creating files is the slow part of compiling a large
/// project), and the writes are spread over a few threads.
pub fn write_compiled(
    root: &Path,
    compiled: &BTreeMap<String, Result<CompiledNode, Diagnostic>>,
) -> std::io::Result<()> {
    let nodes: Vec<&CompiledNode> = compiled
        .values()
        .flatten()
        .filter(|n| !n.compiled_path.is_empty() && !n.on_disk)
        .collect();
    let dirs: std::collections::BTreeSet<std::path::PathBuf> = nodes
        .iter()
        .filter_map(|n| root.join(&n.compiled_path).parent().map(Path::to_path_buf))
        .collect();
    for dir in dirs {
        std::fs::create_dir_all(dir)?;
    }
    let results = parallel_map(&nodes, |node| std::fs::write(root.join(&node.compiled_path), &node.sql));
    results.into_iter().collect()
}

/// Writes what each node ran to `target/run/<project>/<path>`, as dbt does: the compiled
/// SQL, under a comment saying what Silt did with it.
pub fn write_run_files(parsed: &ParsedProject, results: &[NodeResult]) -> std::io::Result<()> {
    let settings = &parsed.project.settings;
    for r in results {
        let (Some(node), Some(sql)) = (parsed.node(&r.unique_id), r.compiled_code.as_ref()) else {
            continue;
        };
        if !matches!(
            r.status,
            Status::Success
                | Status::Pass
                | Status::Warn
                | Status::Fail
        ) {
            continue;
        }
        let what = match node.config.materialized {
            Materialization::View => {
                format!("-- silt: view {} (planned, not stored)", node.relation)
            }
            Materialization::Table => format!(
                "-- silt: replace table {} (Delta version {})",
                node.relation,
                r.version.unwrap_or_default()
            ),
            Materialization::Incremental => format!(
                "-- silt: incremental {} ({}, Delta version {})",
                node.relation,
                node.config.incremental_strategy.as_str(),
                r.version.unwrap_or_default()
            ),
            Materialization::Test => "-- silt: data test (the query returns the failing rows)".to_owned(),
            Materialization::UnitTest | Materialization::Exposure => continue,
            other => format!("-- silt: {} {}", other.as_str(), node.relation),
        };
        let path = settings
            .root
            .join(&settings.project.target_path)
            .join("run")
            .join(&node.node.package)
            .join(node.node.compiled_rel_path());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, format!("{what}\n{sql}\n"))?;
    }
    Ok(())
}

