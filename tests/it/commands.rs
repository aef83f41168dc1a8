//! The commands as a library user calls them: `silt::commands::build` and
//! `docs_generate` on a fixture, with progress recorded through `Events`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use silt::Loaded;
use silt::commands::{CommandError, Events, build};
use silt::exec::{NodeDesc, NodeResult, Observer, Status};
use silt::ingest::{IngestObserver, Progress};
use silt::parse::ParsedProject;

use crate::support::{fixture, options};

/// Counts what a command told its caller.
#[derive(Default)]
struct Recorder {
    loaded: AtomicUsize,
    started: AtomicUsize,
    finished: AtomicUsize,
    ran: AtomicUsize,
}

impl Observer for Recorder {
    fn started(&self, _: usize, _: usize, _: &NodeDesc) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }
    fn finished(&self, _: usize, _: usize, _: &NodeDesc, _: &NodeResult) {
        self.finished.fetch_add(1, Ordering::SeqCst);
    }
}

impl IngestObserver for Recorder {
    fn progress(&self, _: &Progress) {}
}

impl Events for Recorder {
    fn loaded(&self, _: &Loaded) {
        self.loaded.fetch_add(1, Ordering::SeqCst);
    }
    fn ran(&self, _: &ParsedProject, results: &[NodeResult], _: f64) {
        self.ran.fetch_add(results.len(), Ordering::SeqCst);
    }
}

#[test]
fn a_library_user_builds_a_project_and_writes_its_docs() {
    let dir = fixture("dbt_shop");
    let events = Arc::new(Recorder::default());
    let opts = build::Options {
        project: options(dir.path(), Some("{batch: 1}")),
        docs: true,
        ..Default::default()
    };
    // The fixture's source is a seed's table, which dbt does not order before the models
    // that read it: seed first, as its own dbt test does.
    let seeded = silt::commands::seed(&opts, Arc::new(silt::commands::Quiet)).expect("seed");
    assert_eq!(seeded.results.len(), 3);
    assert!(seeded.success() && seeded.docs.is_none() && seeded.layers.is_none());
    let report = silt::commands::build(&opts, events.clone()).expect("build");
    assert!(report.success(), "{:#?}", report.results);
    let ok = |prefix: &str| {
        report
            .results
            .iter()
            .filter(|r| r.unique_id.starts_with(prefix) && r.status == Status::Success)
            .count()
    };
    assert_eq!((ok("seed."), ok("model.")), (3, 6), "{:#?}", report.results);
    assert_eq!(events.loaded.load(Ordering::SeqCst), 1);
    let n = report.results.len();
    assert_eq!(events.started.load(Ordering::SeqCst), n, "each node announced once");
    assert_eq!(events.finished.load(Ordering::SeqCst), n);
    assert_eq!(events.ran.load(Ordering::SeqCst), n);
    // The run's artifacts, and the docs written after it.
    let target = dir.path().join("target");
    let run_results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(target.join("run_results.json")).unwrap()).unwrap();
    assert_eq!(run_results["results"].as_array().map(Vec::len), Some(n));
    let docs = report.docs.as_ref().expect("the docs were written");
    assert!(docs.site.is_file() && docs.catalog.is_file());
    assert_eq!(docs.nodes, 9, "the 3 seeds and 6 models (views planned) are in the catalog");
    // `silt docs generate` alone gives the same catalog.
    let again = silt::commands::docs_generate(&opts.project, Arc::new(silt::commands::Quiet)).expect("docs");
    assert_eq!((again.nodes, again.sources), (docs.nodes, docs.sources));
    // An invalid project is the project's error, with its diagnostics.
    std::fs::write(dir.path().join("models/staging/broken.sql"), "select {{ ref('nope') }}").unwrap();
    match silt::commands::build(&opts, Arc::new(silt::commands::Quiet)) {
        Err(e @ CommandError::Project(_)) => {
            assert!(e.is_project());
            assert!(e.to_string().contains("`ref` to unknown model `nope`"), "{e}");
        }
        Err(other) => panic!("not a project error: {other}"),
        Ok(_) => panic!("a broken project built"),
    }
}
