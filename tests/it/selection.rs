//! dbt's selection syntax over a small graph:
//! raw_a -> stg_a, stg_b -> fct (+ stg_b -> dim) -> report -> leaf; raw.events -> stg_events.

use silt::project::ResourceType;

use crate::support::{fixture, load};

const ALL: &[ResourceType] = &[
    ResourceType::Model,
    ResourceType::Seed,
    ResourceType::Source,
];

fn names(select: &[&str], exclude: &[&str]) -> Vec<String> {
    let dir = fixture("selection");
    let loaded = load(dir.path(), None);
    let s: Vec<String> = select.iter().map(|s| s.to_string()).collect();
    let e: Vec<String> = exclude.iter().map(|s| s.to_string()).collect();
    let mut out: Vec<String> = silt::graph::select(&loaded.parsed, &loaded.graph, &s, &e, ALL)
        .unwrap_or_else(|d| panic!("{}", d.render(false)))
        .into_iter()
        .map(|id| silt::graph::short_name(&id))
        .collect();
    out.sort();
    out
}

#[test]
fn graph_operators() {
    assert_eq!(names(&["fct"], &[]), ["fct"]);
    assert_eq!(names(&["+fct"], &[]), ["fct", "raw_a", "stg_a", "stg_b"]);
    assert_eq!(names(&["fct+"], &[]), ["fct", "leaf", "report"]);
    assert_eq!(names(&["1+report"], &[]), ["dim", "fct", "report"]);
    assert_eq!(
        names(&["2+report"], &[]),
        ["dim", "fct", "report", "stg_a", "stg_b"]
    );
    assert_eq!(names(&["report+1"], &[]), ["leaf", "report"]);
    assert_eq!(
        names(&["@stg_b"], &[]),
        ["dim", "fct", "leaf", "raw_a", "report", "stg_a", "stg_b"]
    );
}

#[test]
fn methods() {
    assert_eq!(
        names(&["tag:staging"], &[]),
        ["stg_a", "stg_b", "stg_events"]
    );
    assert_eq!(names(&["tag:nightly"], &[]), ["fct"]);
    assert_eq!(names(&["path:models/marts/deep"], &[]), ["leaf"]);
    assert_eq!(names(&["models/marts/dim.sql"], &[]), ["dim"]);
    assert_eq!(names(&["dim.sql"], &[]), ["dim"]);
    assert_eq!(names(&["file:leaf"], &[]), ["leaf"]);
    assert_eq!(names(&["marts"], &[]), ["dim", "fct", "leaf", "report"]);
    assert_eq!(names(&["marts.deep"], &[]), ["leaf"]);
    assert_eq!(names(&["sel.staging.stg_a"], &[]), ["stg_a"]);
    assert_eq!(
        names(&["config.materialized:view"], &[]),
        ["report", "stg_a", "stg_b", "stg_events"]
    );
    assert_eq!(names(&["config.materialized:incremental"], &[]), ["leaf"]);
    assert_eq!(names(&["resource_type:seed"], &[]), ["raw_a"]);
    assert_eq!(names(&["source:raw+"], &[]), ["raw.events", "stg_events"]);
    assert_eq!(names(&["source:raw.events"], &[]), ["raw.events"]);
    // A bare name selects nodes only, never a source of the same name.
    assert_eq!(names(&["events"], &[]), Vec::<String>::new());
    assert_eq!(names(&["stg_*"], &[]), ["stg_a", "stg_b", "stg_events"]);
    assert_eq!(names(&["package:sel,resource_type:seed"], &[]), ["raw_a"]);
}

#[test]
fn unions_intersections_and_exclusions() {
    assert_eq!(names(&["fct dim"], &[]), ["dim", "fct"]);
    assert_eq!(names(&["fct", "dim"], &[]), ["dim", "fct"]);
    assert_eq!(names(&["tag:staging,stg_a"], &[]), ["stg_a"]);
    assert_eq!(
        names(&["+report,config.materialized:table"], &[]),
        ["dim", "fct"]
    );
    assert_eq!(names(&["+fct"], &["raw_a"]), ["fct", "stg_a", "stg_b"]);
    assert_eq!(
        names(&[], &["marts", "resource_type:source"]),
        ["raw_a", "stg_a", "stg_b", "stg_events"]
    );
    assert_eq!(names(&["nothing_like_this"], &[]), Vec::<String>::new());
}

#[test]
fn bad_selectors_are_errors() {
    let dir = fixture("selection");
    let loaded = load(dir.path(), None);
    let err = silt::graph::select(&loaded.parsed, &loaded.graph, &["tags:x".into()], &[], ALL).unwrap_err();
    assert_eq!(
        err.message,
        "invalid selector `tags:x`: unknown selection method `tags`"
    );
    assert_eq!(err.help.as_deref(), Some("did you mean `tag:`?"));
    let err = silt::graph::select(&loaded.parsed, &loaded.graph, &["resource_type:modle".into()], &[], ALL).unwrap_err();
    assert_eq!(err.message, "unknown resource type `modle`");
    let err = silt::graph::select(&loaded.parsed, &loaded.graph, &["state:modified".into()], &[], ALL).unwrap_err();
    assert_eq!(
        err.message,
        "`state:modified` compares the project with an earlier run, and no --state was given"
    );
    let err = silt::graph::select(&loaded.parsed, &loaded.graph, &["state:changed".into()], &[], ALL).unwrap_err();
    assert!(err.message.starts_with("invalid selector `state:changed`: `state:` takes one of `new`, `old`, `modified`, `unmodified`, `modified.body`"), "{}", err.message);
    let err = silt::graph::select(&loaded.parsed, &loaded.graph, &["result:error".into()], &[], ALL).unwrap_err();
    assert_eq!(err.message, "`result:error` selects by an earlier run's results, and no --state was given");
    let err = silt::graph::select(&loaded.parsed, &loaded.graph, &["metric:revenue".into()], &[], ALL).unwrap_err();
    assert!(err.message.contains("not supported"), "{}", err.message);
}

/// `state:` against dbt: the state fixture is parsed and its manifest written, then its
/// changes/ are laid over it (a model's SQL, project and YAML configs, an alias, persisted
/// and unpersisted descriptions, tags, a contract, a macro, a seed, a generic test's
/// severity, a unit test, sources; a model added, one deleted), and each selector picks
/// the nodes `dbt ls --state` picks (tests/fixtures/state/make_expected.py), tests and
/// unit tests joining through what they test.
#[test]
fn state_selection_picks_what_dbt_picks() {
    use silt::graph::state::{Resources, State};
    let dir = fixture("state");
    let d = dir.path();
    let changes = d.join("changes");
    let aside = tempfile::tempdir().expect("tempdir");
    std::fs::rename(&changes, aside.path().join("changes")).expect("set changes aside");
    let before = load(d, None);
    let manifest = silt::report::Manifest {
        parsed: &before.parsed,
        graph: &before.graph,
        compiled: None,
        invocation: &silt::report::Invocation::new("parse", serde_json::json!({})),
    };
    let prev = aside.path().join("prev");
    std::fs::create_dir_all(&prev).unwrap();
    std::fs::write(prev.join("manifest.json"), serde_json::to_string(&manifest).unwrap()).unwrap();

    let changes = aside.path().join("changes");
    crate::common::copy_dir(&changes, d);
    std::fs::remove_file(d.join("DELETED")).unwrap();
    for gone in std::fs::read_to_string(changes.join("DELETED")).unwrap().split_whitespace() {
        std::fs::remove_file(d.join(gone)).unwrap();
    }
    let after = load(d, None);
    let state = State::load(&prev).unwrap_or_else(|e| panic!("{}", e.render(false)));
    let comparison = state.compare(Resources::from_manifest(silt::report::manifest::comparable(&after.parsed)));
    let everything = [
        ResourceType::Model,
        ResourceType::Seed,
        ResourceType::Source,
        ResourceType::Test,
        ResourceType::UnitTest,
        ResourceType::Analysis,
    ];
    let expected: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(crate::common::fixtures().join("state/expected/selected.json")).unwrap(),
    )
    .unwrap();
    let mut wrong = Vec::new();
    for (selector, want) in &expected {
        let mut got = silt::graph::select_with(
            &after.parsed,
            &after.graph,
            &[selector.clone()],
            &[],
            &everything,
            silt::graph::IndirectSelection::Eager,
            Some(&comparison),
        )
        .unwrap_or_else(|e| panic!("{selector}: {}", e.render(false)));
        got.sort();
        let want: Vec<String> = serde_json::from_value(want.clone()).unwrap();
        if got != want {
            let missing: Vec<_> = want.iter().filter(|w| !got.contains(w)).collect();
            let extra: Vec<_> = got.iter().filter(|g| !want.contains(g)).collect();
            wrong.push(format!("{selector}: missing {missing:?}, extra {extra:?}"));
        }
    }
    assert!(wrong.is_empty(), "differs from dbt:\n{}", wrong.join("\n"));
}
