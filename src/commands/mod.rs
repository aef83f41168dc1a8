//! Every command as a library function: options in, a report out. The CLI only turns
//! flags into options and reports into text; a library user calls the same functions.
//!
//! Progress reaches the caller as it happens through [`Events`] (nodes starting and
//! finishing, Kafka progress, the steps of a build); what a command found is in the
//! report it returns. A [`CommandError`] says why a command could not do its work: the
//! project is invalid ([`CommandError::Project`]), Kafka failed, or Silt itself did.

pub mod build;
pub mod compile;
pub mod debug;
pub mod deps;
pub mod docs;
pub mod ingest;
pub mod ls;
pub mod optimize;
pub mod produce;
pub mod run_operation;
pub mod show;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde_json::{Value as Json, json};

use crate::Loaded;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::exec::optimize::OptimizeOutcome;
use crate::exec::{ExecError, NodeDesc, NodeResult, Observer};
use crate::graph::IndirectSelection;
use crate::ingest::{IngestError, IngestObserver, IngestTarget, Progress};
use crate::parse::{ParseOptions, ParsedProject};
use crate::project::ResourceType;
use crate::report::Invocation;
use crate::settings::LoadOptions;

pub use build::{build, run, seed, test};
pub use compile::compile;
pub use debug::debug;
pub use deps::deps;
pub use docs::{DocsReport, docs_generate, docs_serve};
pub use ingest::ingest;
pub use optimize::optimize;
pub use produce::produce;
pub use run_operation::run_operation;
pub use ls::ls;
pub use show::show;

/// What happens while a command runs, for a caller that shows progress. Every method has
/// a default that ignores it but those of [`Observer`] and [`IngestObserver`].
pub trait Events: Observer + IngestObserver {
    /// The project loaded; its warnings are in `loaded.parsed.project.warnings`.
    fn loaded(&self, _loaded: &Loaded) {}
    /// A selection that names nodes matched none of the kinds the command runs.
    fn matched_nothing(&self, _select: &[String]) {}
    /// Kafka sources are about to be read: caught up before a build, or ingested.
    fn ingesting(&self, _targets: &[IngestTarget]) {}
    /// The Kafka sources a build caught up, and what each read.
    fn caught_up(&self, _progress: &[Progress]) {}
    /// Nodes are about to run on `threads` workers against `target`.
    fn running(&self, _threads: usize, _target: &str) {}
    /// Every node has a result (the docs and the summary of a build come after).
    fn ran(&self, _parsed: &ParsedProject, _results: &[NodeResult], _elapsed: f64) {}
    /// The docs were written (after a build's run, or by `docs generate`).
    fn docs_written(&self, _docs: &DocsReport) {}
    /// One table of `silt optimize` is done.
    fn optimized(&self, _table: &str, _outcome: &Result<OptimizeOutcome, ExecError>) {}
    /// A line of status from a long-running client (a live chat relay).
    fn note(&self, _message: &str) {}
    /// A warning found while selecting (a change that breaks a model's contract).
    fn warned(&self, _warning: &Diagnostic) {}
}

/// Events that nobody shows.
pub struct Quiet;

impl Observer for Quiet {
    fn started(&self, _: usize, _: usize, _: &NodeDesc) {}
    fn finished(&self, _: usize, _: usize, _: &NodeDesc, _: &NodeResult) {}
}

impl IngestObserver for Quiet {
    fn progress(&self, _: &Progress) {}
}

impl Events for Quiet {}

/// Why a command could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The project, the profile, the selection or an argument is invalid; the
    /// diagnostics say where.
    #[error("{}", .0.render(false).trim_end())]
    Project(Diagnostics),
    /// The project cannot run as asked, for a reason that is one line.
    #[error("{0}")]
    Failed(String),
    /// `silt docs serve` before `silt docs generate`.
    #[error("there is no docs site in `{}`: run `silt docs generate` first", .0.display())]
    NoDocsSite(PathBuf),
    /// Kafka ingestion failed.
    #[error("Ingestion failed: {0}")]
    Ingest(#[from] IngestError),
    /// The engine failed outside of any one node.
    #[error("{0}")]
    Exec(#[from] ExecError),
    /// A file Silt writes could not be written.
    #[error("cannot write {what}: {source}")]
    Write {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A server could not listen.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        #[source]
        source: std::io::Error,
    },
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl From<Diagnostic> for CommandError {
    fn from(d: Diagnostic) -> CommandError {
        CommandError::Project(d.into())
    }
}

impl From<Diagnostics> for CommandError {
    fn from(d: Diagnostics) -> CommandError {
        CommandError::Project(d)
    }
}

impl CommandError {
    /// Whether the project is at fault (exit code 1) rather than Silt (exit code 2).
    pub fn is_project(&self) -> bool {
        matches!(
            self,
            CommandError::Project(_) | CommandError::Failed(_) | CommandError::NoDocsSite(_) | CommandError::Ingest(_)
        )
    }
}

/// Which nodes a command acts on: dbt's `--select` and `--exclude` selectors.
#[derive(Debug, Clone, Default)]
pub struct Selectors {
    pub select: Vec<String>,
    pub exclude: Vec<String>,
    /// `--selector`: a selection named in `selectors.yml`.
    pub selector: Option<String>,
    /// The folder of an earlier run's `manifest.json`, which `state:` compares with.
    pub state: Option<std::path::PathBuf>,
}

/// How a long step (a Kafka catch-up, an ingestion, a relay) is told to stop. When it is,
/// the work in hand (an ingester's batch) is committed first.
#[derive(Debug, Clone, Default)]
pub enum Stop {
    /// Never: the step runs to its end.
    #[default]
    Never,
    /// On Ctrl-C or SIGTERM: the process's handlers are installed when the step starts,
    /// and only then (before it, the signals end the process as usual).
    OnSignals,
    /// When this flag is set.
    Flag(Arc<AtomicBool>),
}

impl Stop {
    /// The flag the step watches, installing the signal handlers if asked.
    fn flag(&self) -> Arc<AtomicBool> {
        match self {
            Stop::Never => Arc::new(AtomicBool::new(false)),
            Stop::OnSignals => crate::runtime::stop_on_signals(),
            Stop::Flag(f) => f.clone(),
        }
    }
}

/// Loads the project for the command `which`.
fn load(
    project: &LoadOptions,
    invocation: &Invocation,
    full_refresh: bool,
    store_failures: bool,
    events: &dyn Events,
) -> Result<Loaded, CommandError> {
    let parse = ParseOptions {
        invocation_id: invocation.invocation_id.clone(),
        full_refresh,
        which: invocation.which.clone(),
        store_failures,
    };
    let loaded = crate::load(project, &parse)?;
    events.loaded(&loaded);
    Ok(loaded)
}

/// The selected unique ids of `types`, in graph order; a selection that matches nothing
/// is told to `events`.
fn select(
    loaded: &Loaded,
    selection: &Selectors,
    types: &[ResourceType],
    indirect: IndirectSelection,
    events: &dyn Events,
) -> Result<Vec<String>, CommandError> {
    // `--selector` (or, with nothing selected, the selector marked `default: true`) stands
    // for its `--select` and `--exclude`, as in dbt.
    let named = crate::graph::selectors_file::Selectors::load(&loaded.parsed.project.settings.root)?;
    let chosen = match (&selection.selector, selection.select.is_empty()) {
        (Some(_), false) => {
            return Err(CommandError::Project(
                Diagnostic::error("--selector and --select cannot be used together").into(),
            ))
        }
        (Some(name), true) => Some(name.as_str()),
        (None, true) => named.default_selector(),
        (None, false) => None,
    };
    let resolved;
    let selection = match chosen {
        Some(name) => {
            let (select, mut exclude) = named.resolve(name)?;
            exclude.extend(selection.exclude.iter().cloned());
            resolved = Selectors { select, exclude, ..selection.clone() };
            &resolved
        }
        None => selection,
    };
    let parsed = crate::graph::selector::Selection::parse(&selection.select, &selection.exclude)?;
    // The earlier run is read only when a selector compares with it, as in dbt.
    let state = match &selection.state {
        Some(dir) if parsed.uses_state() => Some(crate::graph::state::State::load(dir)?),
        _ => None,
    };
    let comparison = state.as_ref().map(|s| {
        s.compare(crate::graph::state::Resources::from_manifest(
            crate::report::manifest::comparable(&loaded.parsed),
        ))
    });
    // As dbt, a change that breaks an enforced contract is told whenever `state:` compares
    // (a warning for models without versions, which are all of Silt's).
    if let Some(c) = &comparison {
        for (id, breaks) in c.broken_contracts() {
            let Some(node) = loaded.parsed.node(&id) else { continue };
            let d = Diagnostic::warning(format!(
                "breaking change to the contract of model `{}`: {}",
                node.node.name,
                breaks.join("; ")
            ))
            .with_span(crate::diagnostic::Span::file(node.node.original_file_path.clone()))
            .with_help("while comparing with the --state run, the model's enforced contract changed in a way its readers may depend on");
            events.warned(&d);
        }
    }
    let ids = crate::graph::select_with(
        &loaded.parsed,
        &loaded.graph,
        &selection.select,
        &selection.exclude,
        types,
        indirect,
        comparison.as_ref(),
    )?;
    // "Names nodes": the selection as parsed, so that blank selectors name none.
    let names_nodes = !parsed.is_empty();
    if ids.is_empty() && names_nodes {
        events.matched_nothing(&selection.select);
    }
    Ok(ids)
}

/// The invocation of `which`, with the arguments `run_results.json` records (as dbt
/// records the flags it was given).
fn invocation(which: &str, project: &LoadOptions, selection: &Selectors, full_refresh: bool) -> Invocation {
    let mut args = json!({
        "which": which,
        "select": selection.select,
        "exclude": selection.exclude,
        "vars": project.vars.clone().unwrap_or_default(),
        "full_refresh": full_refresh,
        "project_dir": project.project_dir.display().to_string(),
        "profiles_dir": project.profiles_dir.as_ref().map(|p| p.display().to_string()),
        "target": project.target,
        "threads": project.threads,
        "invocation_command": std::env::args().collect::<Vec<_>>().join(" "),
    });
    if let (Some(dir), Json::Object(m)) = (&selection.state, &mut args) {
        m.insert("state".into(), json!(dir.display().to_string()));
    }
    Invocation::new(which, args)
}

/// A runtime for the engine.
fn runtime() -> Result<tokio::runtime::Runtime, CommandError> {
    crate::runtime::runtime(None).map_err(CommandError::Runtime)
}

/// Writes an artifact, naming it in the error.
fn write_artifact(path: &std::path::Path, value: &impl serde::Serialize) -> Result<(), CommandError> {
    crate::report::write_json(path, value).map_err(|source| CommandError::Write {
        what: format!("`{}`", path.display()),
        source,
    })
}

/// Reads a JSON file Silt wrote before, if it is there and whole.
fn read_json(path: &std::path::Path) -> Option<Json> {
    std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok())
}
