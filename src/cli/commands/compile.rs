//! `silt compile`: render the selected nodes' SQL into target/compiled/.

use anyhow::Result;
use silt::compile::{CompileOptions, compile, compile_inline, write_compiled};
use silt::diagnostic::Diagnostics;
use silt::project::ResourceType;

use super::{Invocation, load, select, write_artifact};
use crate::cli::{Cli, Outcome, Printer, SelectArgs, report_diagnostics};

pub fn run(
    cli: &Cli,
    printer: &Printer,
    args: &SelectArgs,
    inline: Option<&str>,
    full_refresh: bool,
) -> Result<Outcome> {
    let inv = Invocation::new("compile");
    let loaded = match load(cli, printer, &inv, full_refresh)? {
        Ok(l) => l,
        Err(outcome) => return Ok(outcome),
    };
    let parsed = &loaded.parsed;
    let opts = CompileOptions {
        full_refresh,
        existing: silt::exec::existing_relations(parsed),
    };
    if let Some(sql) = inline {
        return match compile_inline(parsed, sql, &opts) {
            Ok(c) => {
                printer.info("Compiled inline node is:");
                printer.out(&format!("{}\n", c.sql));
                Ok(Outcome::Success)
            }
            Err(d) => Ok(report_diagnostics(printer, &d.into())),
        };
    }
    let ids = match select(
        printer,
        &loaded,
        args,
        &[
            ResourceType::Model,
            ResourceType::Test,
            ResourceType::Analysis,
        ],
    ) {
        Ok(ids) => ids,
        Err(outcome) => return Ok(outcome),
    };
    let clock = std::time::Instant::now();
    let mut timings = loaded.timings.clone();
    let compiled = compile(parsed, &ids, &opts);
    timings.push(("compile", clock.elapsed()));
    let clock = std::time::Instant::now();
    write_compiled(&parsed.project.settings.root, &compiled).map_err(|e| {
        anyhow::anyhow!(
            "cannot write compiled SQL under `{}`: {e}",
            parsed.project.settings.target_dir().display()
        )
    })?;
    timings.push(("write sql", clock.elapsed()));
    let clock = std::time::Instant::now();
    let invocation = inv.artifacts(cli, args, full_refresh);
    let manifest = silt::manifest::Manifest {
        parsed,
        graph: &loaded.graph,
        compiled: Some(&compiled),
        invocation: &invocation,
    };
    write_artifact(
        &parsed.project.settings.target_dir().join("manifest.json"),
        &manifest,
    )?;
    timings.push(("manifest", clock.elapsed()));
    if std::env::var_os("SILT_TIMINGS").is_some() {
        for (stage, t) in &timings {
            printer.err_raw(&format!("timing {stage}: {:.3}s\n", t.as_secs_f64()));
        }
    }
    let mut diags = Diagnostics::new();
    for r in compiled.values() {
        if let Err(d) = r {
            diags.push(d.clone());
        }
    }
    if !diags.is_empty() {
        diags.sort();
        return Ok(report_diagnostics(printer, &diags));
    }
    if !args.select.is_empty() && ids.len() == 1 {
        if let (Some(Ok(c)), Some(node)) = (compiled.get(&ids[0]), parsed.node(&ids[0])) {
            printer.info(&format!("Compiled node '{}' is:", node.node.name));
            printer.out(&format!("{}\n", c.sql));
        }
    }
    super::exit_without_freeing((loaded, compiled));
    Ok(Outcome::Success)
}
