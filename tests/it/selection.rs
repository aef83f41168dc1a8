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
    assert!(err.message.contains("not supported"), "{}", err.message);
}
