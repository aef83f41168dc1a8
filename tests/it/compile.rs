//! Compilation: Jinja as dbt users write it, relations, ephemerals and configs.

use std::collections::BTreeMap;

use serde_json::json;
use silt::Loaded;
use silt::compile::{CompileOptions, CompiledNode, compile};
use silt::diagnostic::Diagnostic;
use silt::parse::ParseOptions;
use silt::project::ResourceType;
use silt::settings::LoadOptions;

use crate::support::{fixture, load, options, run_ok};

fn compile_all(
    loaded: &Loaded,
    opts: &CompileOptions,
) -> BTreeMap<String, Result<CompiledNode, Diagnostic>> {
    let ids = silt::graph::select(
        &loaded.parsed,
        &loaded.graph,
        &[],
        &[],
        &[ResourceType::Model, ResourceType::Analysis],
    )
    .expect("select");
    compile(&loaded.parsed, &ids, opts)
}

fn sql(compiled: &BTreeMap<String, Result<CompiledNode, Diagnostic>>, id: &str) -> String {
    match compiled.get(id) {
        Some(Ok(c)) => c.sql.clone(),
        Some(Err(d)) => panic!("{id} failed: {}", d.render(false)),
        None => panic!("{id} was not compiled"),
    }
}

#[test]
fn renders_dbt_jinja() {
    let dir = fixture("jinja");
    let loaded = load(dir.path(), None);
    let compiled = compile_all(&loaded, &CompileOptions::default());
    insta::assert_snapshot!("stg_orders", sql(&compiled, "model.jinja_shop.stg_orders"));
    insta::assert_snapshot!(
        "orders_summary",
        sql(&compiled, "model.jinja_shop.orders_summary")
    );
    insta::assert_snapshot!("eph_ids", sql(&compiled, "model.jinja_shop.eph_ids"));
    insta::assert_snapshot!(
        "incremental_first_run",
        sql(&compiled, "model.jinja_shop.incremental_events")
    );
    insta::assert_snapshot!("analysis", sql(&compiled, "analysis.jinja_shop.explore"));
}

#[test]
fn configs_merge_by_dbt_precedence() {
    let dir = fixture("jinja");
    let loaded = load(dir.path(), None);
    let node = loaded
        .parsed
        .node("model.jinja_shop.orders_summary")
        .expect("node");
    // Project levels first, then YAML, then the file's own config() call.
    assert_eq!(
        node.config.tags,
        ["project_tag", "file_level_tag", "yaml_tag", "inline_tag"]
    );
    assert_eq!(
        node.config.raw["meta"],
        json!({"owner": "analytics", "level": "file", "yaml_only": true})
    );
    assert_eq!(node.config.materialized.as_str(), "table");
    // A custom schema is appended to the target's, as dbt's generate_schema_name does.
    assert_eq!(node.relation.render(), r#""main_marts"."orders_summary""#);
    let stg = loaded
        .parsed
        .node("model.jinja_shop.stg_orders")
        .expect("node");
    assert_eq!(stg.config.materialized.as_str(), "view");
    assert_eq!(stg.relation.render(), r#""main"."stg_orders""#);
    let source = loaded
        .parsed
        .source("source.jinja_shop.raw.orders")
        .expect("source");
    assert_eq!(source.source.description, "Raw orders, one row per order.");
    assert_eq!(
        source.source.source_description,
        "Seeds standing in for raw data in dev"
    );
    assert_eq!(source.relation.render(), r#""main"."orders""#);
}

#[test]
fn vars_come_from_the_command_line_as_yaml_or_json() {
    for vars in [
        "{limit: 5, start_date: '2030-01-01'}",
        r#"{"limit": 5, "start_date": "2030-01-01"}"#,
    ] {
        let dir = fixture("jinja");
        let loaded = load(dir.path(), Some(vars));
        let compiled = compile_all(&loaded, &CompileOptions::default());
        assert!(
            sql(&compiled, "model.jinja_shop.orders_summary").contains("5 as limit_var"),
            "{vars}"
        );
        assert!(
            sql(&compiled, "model.jinja_shop.stg_orders").contains("'2030-01-01'"),
            "{vars}"
        );
    }
}

#[test]
fn target_selects_the_profile_output() {
    let dir = fixture("jinja");
    let opts = LoadOptions {
        target: Some("prod".into()),
        ..options(dir.path(), None)
    };
    let loaded = silt::load(&opts, &ParseOptions::default())
        .unwrap_or_else(|d| panic!("{}", d.render(false)));
    let node = loaded
        .parsed
        .node("model.jinja_shop.orders_summary")
        .expect("node");
    assert_eq!(node.relation.schema, "prod_marts");
    let compiled = compile_all(&loaded, &CompileOptions::default());
    assert!(sql(&compiled, "model.jinja_shop.orders_summary").contains("'prod/prod/datafusion/"));
}

#[test]
fn is_incremental_once_the_table_exists() {
    let dir = fixture("jinja");
    // The source reads the seed's table, which dbt does not order before it: seed first.
    run_ok(dir.path(), &["resource_type:seed"], None, false);
    run_ok(dir.path(), &["resource_type:model"], None, false);
    let loaded = load(dir.path(), None);
    let existing = silt::exec::existing_relations(&loaded.parsed);
    let compiled = compile_all(
        &loaded,
        &CompileOptions {
            full_refresh: false,
            existing: existing.clone(),
            empty: false,
            warehouse: None,
        },
    );
    insta::assert_snapshot!(
        "incremental_second_run",
        sql(&compiled, "model.jinja_shop.incremental_events")
    );
    let full = compile_all(
        &loaded,
        &CompileOptions {
            full_refresh: true,
            existing,
            empty: false,
            warehouse: None,
        },
    );
    assert!(!sql(&full, "model.jinja_shop.incremental_events").contains("where id >"));
}

#[test]
fn dependencies_and_macros_are_recorded() {
    let dir = fixture("jinja");
    let loaded = load(dir.path(), None);
    let summary = loaded
        .parsed
        .node("model.jinja_shop.orders_summary")
        .expect("node");
    assert_eq!(
        summary.depends_on,
        ["model.jinja_shop.eph_ids", "model.jinja_shop.stg_orders"]
    );
    assert!(
        summary
            .macros
            .contains(&"macro.jinja_shop.countdown".to_owned())
    );
    assert!(
        summary
            .macros
            .contains(&"macro.jinja_shop.datafusion__greeting".to_owned())
    );
    let stg = loaded
        .parsed
        .node("model.jinja_shop.stg_orders")
        .expect("node");
    assert_eq!(stg.depends_on, ["source.jinja_shop.raw.orders"]);
}

#[test]
fn every_key_dbt_accepts_loads() {
    let dir = fixture("all_keys");
    let loaded = load(dir.path(), None);
    let warnings: Vec<String> = loaded
        .parsed
        .project
        .warnings
        .iter()
        .map(|w| w.message.clone())
        .collect();
    // Hooks are read (they run with `run`, `seed`, `test` and `build`), in either spelling.
    let project = &loaded.parsed.project.settings.project;
    assert_eq!(project.on_run_start, ["select 1"]);
    assert_eq!(project.on_run_end, ["select 2"]);
    let view = loaded.parsed.node("model.all_keys.people_view").expect("model");
    let sql = |h: &[silt::parse::Hook]| h.iter().map(|h| h.sql.clone()).collect::<Vec<_>>();
    assert_eq!(sql(&view.config.pre_hook), ["select 1"]);
    assert_eq!(sql(&view.config.post_hook), ["select 2"]);
    assert!(!warnings.iter().any(|w| w.contains("hook")), "{warnings:?}");
    // The snapshot takes its configs from the project file; `target_schema` as written.
    let snap = loaded.parsed.node("snapshot.all_keys.people_snapshot").expect("snapshot");
    assert!(snap.error.is_none(), "{:?}", snap.error);
    assert_eq!(snap.relation.schema, "snapshots");
    let cfg = snap.config.snapshot.as_ref().expect("snapshot config");
    assert_eq!(cfg.strategy, silt::parse::SnapshotStrategy::Check { cols: None, updated_at: None });
    assert_eq!(cfg.hard_deletes, silt::parse::HardDeletes::Invalidate);
    assert_eq!(cfg.unique_key, ["id"]);
    let node = loaded
        .parsed
        .node("model.all_keys.people_view")
        .expect("model");
    assert_eq!(node.node.description, "People.");
    assert_eq!(node.config.raw["meta"], json!({"owner": "me", "tier": 1}));
    let source = loaded
        .parsed
        .source("source.all_keys.raw.events")
        .expect("source");
    assert_eq!(source.relation.render(), r#""raw"."events_v2""#);
}

#[test]
fn rendered_booleans_configure_like_booleans() {
    let dir = fixture("selection");
    let project = std::fs::read_to_string(dir.path().join("project.yml")).unwrap();
    // Jinja in the project file renders to text (`False`), which configures like false.
    let project = project.replace(
        "    marts:\n",
        "    marts:\n      deep:\n        +enabled: \"{{ target.name == 'prod' }}\"\n",
    );
    std::fs::write(dir.path().join("project.yml"), project).unwrap();
    let loaded = load(dir.path(), None);
    assert!(!loaded.parsed.node("model.sel.leaf").unwrap().config.enabled);
    assert!(loaded.parsed.node("model.sel.report").unwrap().config.enabled);
}
