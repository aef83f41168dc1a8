//! `silt compile`: the selected nodes' SQL rendered into `target/compiled/`, and
//! `target/manifest.json`; or one inline query compiled.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{CommandError, Events, Selectors, invocation, load, select, write_artifact};
use crate::Loaded;
use crate::compile::{CompileOptions, CompiledNode, compile as compile_nodes, compile_inline};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::graph::IndirectSelection;
use crate::project::ResourceType;
use crate::settings::LoadOptions;

/// What to compile.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub project: LoadOptions,
    pub selection: Selectors,
    /// Compile this SQL (with Jinja) instead of the project's nodes.
    pub inline: Option<String>,
    pub full_refresh: bool,
    /// `--empty`: every `ref` and `source` renders as a subquery with no rows.
    pub empty: bool,
}

/// What was compiled.
pub struct Report {
    pub loaded: Loaded,
    /// The selected nodes, in graph order.
    pub ids: Vec<String>,
    pub compiled: BTreeMap<String, Result<CompiledNode, Diagnostic>>,
    /// The inline query's SQL, when one was given.
    pub inline: Option<String>,
    /// How long each stage took (`SILT_TIMINGS`, the benchmarks).
    pub timings: Vec<(&'static str, Duration)>,
}

impl Report {
    /// Every node's compile error, sorted.
    pub fn errors(&self) -> Diagnostics {
        let mut diags = Diagnostics::new();
        for r in self.compiled.values() {
            if let Err(d) = r {
                diags.push(d.clone());
            }
        }
        diags.sort();
        diags
    }
}

/// `silt compile`.
pub fn compile(opts: &Options, events: Arc<dyn Events>) -> Result<Report, CommandError> {
    let inv = invocation("compile", &opts.project, &opts.selection, opts.full_refresh);
    let loaded = load(&opts.project, &inv, opts.full_refresh, false, events.as_ref())?;
    // As dbt's compile, `run_query` and introspection read the warehouse as it is.
    // (Views are not registered for them: that would compile every view twice.)
    let rt = super::runtime()?;
    let target = &loaded.parsed.project.settings.target;
    let session = crate::exec::Session::new(&target.warehouse_path, &target.schema)?;
    let compile_opts = CompileOptions {
        full_refresh: opts.full_refresh,
        existing: crate::exec::existing_relations(&loaded.parsed),
        empty: opts.empty,
        warehouse: Some(crate::exec::warehouse::SessionWarehouse::new(session, rt.handle().clone())),
    };
    if let Some(sql) = &opts.inline {
        let c = compile_inline(&loaded.parsed, sql, &compile_opts)?;
        return Ok(Report {
            timings: loaded.timings.clone(),
            loaded,
            ids: Vec::new(),
            compiled: BTreeMap::new(),
            inline: Some(c.sql),
        });
    }
    let types = [ResourceType::Model, ResourceType::Snapshot, ResourceType::Test, ResourceType::Analysis];
    let ids = select(&loaded, &opts.selection, &types, IndirectSelection::Eager, events.as_ref())?;
    let mut timings = loaded.timings.clone();
    let mut clock = Instant::now();
    let mut lap = |name: &'static str| {
        timings.push((name, clock.elapsed()));
        clock = Instant::now();
    };
    let compiled = compile_nodes(&loaded.parsed, &ids, &compile_opts);
    lap("compile");
    let settings = &loaded.parsed.project.settings;
    crate::report::write_compiled(&settings.root, &compiled).map_err(|source| CommandError::Write {
        what: format!("compiled SQL under `{}`", settings.target_dir().display()),
        source,
    })?;
    lap("write sql");
    let manifest = crate::report::Manifest {
        parsed: &loaded.parsed,
        graph: &loaded.graph,
        compiled: Some(&compiled),
        invocation: &inv,
    };
    write_artifact(&settings.target_dir().join("manifest.json"), &manifest)?;
    lap("manifest");
    Ok(Report {
        loaded,
        ids,
        compiled,
        inline: None,
        timings,
    })
}
