//! Data tests, unit tests, contracts and audit before publish, over real Delta tables.

use silt::exec::Status;

use crate::support::{build, build_excluding, fixture, load, query, result_of, run, run_ok, test};

fn delta_version(dir: &std::path::Path, relation: &str) -> Option<u64> {
    let rt = silt::runtime::runtime(None).expect("runtime");
    rt.block_on(async {
        silt::exec::storage::open(&dir.join("warehouse/main").join(relation))
            .await
            .ok()
            .and_then(|t| t.version())
    })
}

fn parquet_files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p.display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_test_kind_reports_its_status_and_failures() {
    let dir = fixture("testing");
    let d = dir.path();
    run_ok(d, &[], None, false);
    let results = test(d, &[], None);
    let expect = [
        // (test, status, failures)
        ("unique_events_t_id", Status::Pass, 0),
        ("not_null_events_t_id", Status::Pass, 0),
        ("accepted_values_events_t_kind__click__view__buy", Status::Pass, 0),
        // fail_calc sums the rows of every bad value: all six events.
        ("kind_is_not_refund", Status::Warn, 6),
        ("dbt_utils_accepted_range_events_t_amount__1000__0", Status::Pass, 0),
        // `limit: 1` caps what is counted.
        ("accepted_range_events_t_amount__False__0", Status::Warn, 1),
        // warn_if >0 and error_if >5 with three failing rows: a warning.
        ("dbt_utils_expression_is_true_events_t_amount_500", Status::Warn, 3),
        ("dbt_utils_unique_combination_of_columns_events_t_user_id__kind", Status::Fail, 1),
        ("dbt_utils_recency_events_t_day__created_at__100000", Status::Pass, 0),
        ("recency_events_t_day__created_at__1", Status::Warn, 1),
        // A custom generic test whose macro sets `severity='warn'` in `config()`.
        ("at_most_events_t_amount__650", Status::Warn, 2),
        // The project's own `not_empty` overrides Silt's built-in one (and always fails).
        ("not_empty_user_totals_", Status::Fail, 1),
        ("relationships_user_totals_user_id__id__ref_users_", Status::Pass, 0),
        ("not_null_user_totals_user_id", Status::Pass, 0),
        ("unique_users_id", Status::Pass, 0),
        ("assert_buy_has_amount", Status::Pass, 0),
        ("sums_amounts_per_user", Status::Pass, 0),
        ("csv_and_fixture_files", Status::Pass, 0),
        ("sql_rows_and_vars", Status::Pass, 0),
        ("incremental_reads_only_new_rows", Status::Pass, 0),
        ("a_failing_unit_test", Status::Fail, 1),
        ("reads_through_an_ephemeral_model", Status::Pass, 0),
        ("expects_no_rows", Status::Pass, 0),
        ("sql_expectation_by_column_name", Status::Pass, 0),
        ("csv_text_stays_text", Status::Pass, 0),
    ];
    for (name, status, failures) in expect {
        let r = result_of(&results, name);
        assert_eq!(r.status, status, "{name}: {:?} {:?}", r.message, r.detail);
        assert_eq!(r.failures, Some(failures), "{name}: {:?}", r.message);
    }
    // A test whose query does not plan is an error that names the column.
    let broken = result_of(&results, "not_null_events_t_no_such_column");
    assert_eq!(broken.status, Status::Error);
    assert!(
        broken.message.as_deref().unwrap_or("").contains("no_such_column"),
        "{:?}",
        broken.message
    );
    assert_eq!(results.len(), expect.len() + 1, "the disabled test does not run");
    // The failing unit test says how the rows differ.
    let unit = result_of(&results, "a_failing_unit_test");
    let detail = unit.detail.as_deref().unwrap_or("");
    assert!(detail.contains("| -    | 1       | 99    |"), "{detail}");
    assert!(detail.contains("| +    | 1       | 0     |"), "{detail}");
    // A failing test brings back its first failing rows.
    let combo = result_of(&results, "dbt_utils_unique_combination_of_columns_events_t_user_id__kind");
    let rows = combo.detail.as_deref().unwrap_or("");
    assert!(rows.contains("|       3 | buy  |"), "{rows}");
    // store_failures kept the failing rows as a Delta table.
    let (_, stored) = query(
        d,
        "select user_id, kind from main_dbt_test__audit.\"dbt_utils_unique_combination_of_columns_events_t_user_id__kind\"",
    );
    assert_eq!(stored, vec![vec!["3".to_owned(), "buy".to_owned()]]);
    assert!(rows.contains("main_dbt_test__audit"), "{rows}");
}

#[test]
fn tests_select_by_what_they_test_and_by_type() {
    let dir = fixture("testing");
    let d = dir.path();
    let loaded = load(d, None);
    let types = [
        silt::project::ResourceType::Test,
        silt::project::ResourceType::UnitTest,
    ];
    let names = |select: &[&str]| -> Vec<String> {
        let select: Vec<String> = select.iter().map(|s| s.to_string()).collect();
        let mut ids = silt::graph::select(&loaded.parsed, &loaded.graph, &select, &[], &types).expect("select");
        ids.sort();
        ids.into_iter()
            .map(|i| i.split('.').nth(2).unwrap_or("").to_owned())
            .collect()
    };
    // `--select user_totals` picks the tests on user_totals (and its unit tests).
    assert_eq!(
        names(&["user_totals"]),
        vec![
            "not_empty_user_totals_",
            "not_null_user_totals_user_id",
            "relationships_user_totals_user_id__id__ref_users_",
            "user_totals",
            "user_totals",
            "user_totals",
            "user_totals",
            "user_totals",
            "user_totals",
        ]
    );
    assert_eq!(names(&["test_type:singular"]), vec!["assert_buy_has_amount"]);
    assert_eq!(names(&["test_type:unit"]).len(), 9);
    // A test of an excluded model is excluded with it, however it was selected.
    let select: Vec<String> = vec!["events_t+".into()];
    let exclude: Vec<String> = vec!["user_totals".into()];
    let ids = silt::graph::select(&loaded.parsed, &loaded.graph, &select, &exclude, &types).expect("select");
    assert!(ids.iter().all(|i| !i.contains("user_totals")), "{ids:?}");
    assert!(ids.iter().any(|i| i.contains("unique_events_t_id")), "{ids:?}");
    assert_eq!(names(&["test_type:unit,tag:failing"]).len(), 1);
    assert_eq!(names(&["test_name:relationships"]), vec!["relationships_user_totals_user_id__id__ref_users_"]);
    // As in dbt: a unit test by its name; a singular test has no test name.
    // (a unit test's id is `unit_test.<project>.<model>.<name>`)
    assert_eq!(names(&["test_name:sums_amounts_*"]), vec!["user_totals"]);
    assert_eq!(names(&["test_name:sums_amounts_*,test_type:unit"]), vec!["user_totals"]);
    assert!(names(&["test_name:assert_buy_has_amount"]).is_empty());
    assert_eq!(names(&["tag:where_test"]), vec!["not_null_user_totals_user_id"]);
    // Tags from the project's data_tests tree reach every test.
    assert_eq!(names(&["tag:all_tests"]).len(), 17);
}

#[test]
fn contracts_hold_models_to_their_declared_columns() {
    let dir = fixture("contracts");
    let d = dir.path();
    run_ok(d, &["items"], None, false);
    let results = run(d, &[], None, false);
    // A kept contract: the table has the contract's column order and its constraints.
    assert_eq!(result_of(&results, "kept").status, Status::Success);
    let (header, rows) = query(d, "select * from main.kept");
    assert_eq!(header, vec!["id", "name", "price"]);
    assert_eq!(rows.len(), 4);
    let rt = silt::runtime::runtime(None).expect("runtime");
    let (config, nullable) = rt.block_on(async {
        let t = silt::exec::storage::open(&d.join("warehouse/main/kept"))
            .await
            .expect("kept table");
        let snapshot = t.snapshot().expect("snapshot");
        let config = snapshot.metadata().configuration().clone();
        let schema = snapshot.snapshot().arrow_schema();
        let nullable: Vec<(String, bool)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.is_nullable()))
            .collect();
        (config, nullable)
    });
    assert_eq!(
        config.get("delta.constraints.price_not_negative").map(String::as_str),
        Some("price >= 0"),
        "{config:?}"
    );
    assert_eq!(
        nullable,
        vec![
            ("id".to_owned(), false),
            ("name".to_owned(), false),
            ("price".to_owned(), true)
        ]
    );
    // Each broken contract fails its model before anything is written.
    let wrong = result_of(&results, "wrong_types");
    assert_eq!(wrong.status, Status::Error);
    let msg = wrong.message.as_deref().unwrap_or("");
    insta::assert_snapshot!("contract_mismatch", msg);
    for (model, needle) in [
        ("has_nulls", "column `name` has a `not_null` constraint"),
        ("too_expensive", "is violated by 1 row"),
        ("duplicate_names", "requires (name) to be unique, but 1 value appear"),
    ] {
        let r = result_of(&results, model);
        assert_eq!(r.status, Status::Error, "{model}");
        let m = r.message.as_deref().unwrap_or("");
        assert!(m.contains(needle), "{model}: {m}");
        assert!(
            !d.join("warehouse/main").join(model).join("_delta_log").exists(),
            "{model} must not be created"
        );
        assert!(parquet_files(&d.join("warehouse/main").join(model)).is_empty(), "{model} left files");
    }
    assert_eq!(result_of(&results, "a_view").status, Status::Success);
    // Integer literals take the contract's integer type when their value fits it.
    assert_eq!(result_of(&results, "literals").status, Status::Success);
    let types = rt.block_on(async {
        let t = silt::exec::storage::open(&d.join("warehouse/main/literals")).await.expect("literals table");
        let schema = t.snapshot().expect("snapshot").snapshot().arrow_schema();
        schema.fields().iter().map(|f| f.data_type().to_string()).collect::<Vec<_>>()
    });
    assert_eq!(types, vec!["Int32", "Int16", "Int64", "Utf8"]);
    assert_eq!(query(d, "select id, small, big from main.literals").1, vec![vec!["1", "2", "3000000000"]]);
    let too_big = result_of(&results, "literal_too_big");
    assert_eq!(too_big.status, Status::Error);
    assert!(too_big.message.as_deref().unwrap_or("").contains("data type mismatch"), "{too_big:?}");

    // A loosened check: the old constraint is dropped before the new data is written.
    let schema = d.join("models/schema.yml");
    let text = std::fs::read_to_string(&schema).unwrap();
    std::fs::write(&schema, text.replace("price >= 0", "price > -1")).unwrap();
    // New data that breaks the old rule and keeps the new one.
    let model = d.join("models/kept.sql");
    let sql = std::fs::read_to_string(&model).unwrap();
    std::fs::write(&model, sql.replace("select price,", "select price - 2 as price,")).unwrap();
    let again = run(d, &["kept"], None, false);
    assert_eq!(again[0].status, Status::Success, "{:?}", again[0].message);
    let config = rt.block_on(async {
        let t = silt::exec::storage::open(&d.join("warehouse/main/kept"))
            .await
            .expect("kept table");
        t.snapshot().expect("snapshot").metadata().configuration().clone()
    });
    assert_eq!(
        config.get("delta.constraints.price_not_negative").map(String::as_str),
        Some("price > -1")
    );
}

#[test]
fn audit_before_publish_keeps_the_previous_version() {
    let dir = fixture("audit");
    let d = dir.path();
    let first = build(d, &[], None);
    for r in &first {
        assert!(
            matches!(r.status, Status::Success | Status::Pass),
            "{}: {:?}",
            r.unique_id,
            r.message
        );
    }
    let daily_v = delta_version(d, "daily").expect("daily exists");
    let scores_v = delta_version(d, "scores").expect("scores exists");
    let daily_files = parquet_files(&d.join("warehouse/main/daily"));
    let scores_files = parquet_files(&d.join("warehouse/main/scores"));

    let second = build(d, &[], Some("{bad: true}"));
    let daily = result_of(&second, "daily");
    assert_eq!(daily.status, Status::Error);
    assert_eq!(
        daily.message.as_deref(),
        Some(&*format!(
            "new data not published: test `not_null_daily_name` failed (1 failing row); `main.daily` stays at version {daily_v}"
        ))
    );
    assert_eq!(result_of(&second, "not_null_daily_name").status, Status::Fail);
    assert_eq!(result_of(&second, "unique_daily_id").status, Status::Pass);
    assert_eq!(result_of(&second, "daily_summary").status, Status::Skipped);
    assert_eq!(result_of(&second, "not_null_daily_summary_people").status, Status::Skipped);
    assert_eq!(
        result_of(&second, "accepted_values_daily_name__ann__bob__cid").status,
        Status::Skipped,
        "a test of data that was not published does not run"
    );
    let scores = result_of(&second, "scores");
    assert_eq!(scores.status, Status::Error, "{:?}", scores.message);
    assert_eq!(
        result_of(&second, "dbt_utils_accepted_range_scores_score__100").failures,
        Some(3)
    );
    // The tables are as they were: same version, same files, the old rows readable.
    assert_eq!(delta_version(d, "daily"), Some(daily_v));
    assert_eq!(delta_version(d, "scores"), Some(scores_v));
    assert_eq!(parquet_files(&d.join("warehouse/main/daily")), daily_files);
    assert_eq!(parquet_files(&d.join("warehouse/main/scores")), scores_files);
    let (_, rows) = query(d, "select id, name from main.daily");
    assert_eq!(
        rows,
        vec![
            vec!["1".to_owned(), "ann".to_owned()],
            vec!["2".to_owned(), "bob".to_owned()],
            vec!["3".to_owned(), "cid".to_owned()]
        ]
    );
    let (_, rows) = query(d, "select sum(score) from main.scores");
    assert_eq!(rows, vec![vec!["60".to_owned()]]);
}

#[test]
fn build_skips_downstream_of_a_failing_test_but_not_of_a_warning() {
    let dir = fixture("audit");
    let d = dir.path();
    let results = build(d, &[], Some("{bad: true}"));
    // No previous version: the failed audit leaves no table at all.
    assert_eq!(result_of(&results, "daily").status, Status::Error);
    assert!(!d.join("warehouse/main/daily/_delta_log").exists());
    assert!(parquet_files(&d.join("warehouse/main/daily")).is_empty());
    assert_eq!(result_of(&results, "raw").status, Status::Success);
    // events_t's failing error test (unique combination) stops what reads events_t,
    // unit tests of models downstream included.
    let dir = fixture("testing");
    let d = dir.path();
    let results = build(d, &[], None);
    assert_eq!(result_of(&results, "events_t").status, Status::Error);
    assert_eq!(result_of(&results, "event_log").status, Status::Skipped);
    assert_eq!(result_of(&results, "user_totals").status, Status::Skipped);
    assert_eq!(result_of(&results, "a_failing_unit_test").status, Status::Skipped);
    // users has only passing tests: it is built.
    assert_eq!(result_of(&results, "users").status, Status::Success);
    // Unit tests run before their model; a failing one skips the model.
    let results = build_excluding(
        d,
        &[],
        &["test_name:unique_combination_of_columns", "tag:broken"],
        None,
    );
    assert_eq!(result_of(&results, "events_t").status, Status::Success);
    assert_eq!(result_of(&results, "a_failing_unit_test").status, Status::Fail);
    assert_eq!(result_of(&results, "sums_amounts_per_user").status, Status::Pass);
    assert_eq!(result_of(&results, "user_totals").status, Status::Skipped);
    assert_eq!(result_of(&results, "incremental_reads_only_new_rows").status, Status::Pass);
    assert_eq!(result_of(&results, "event_log").status, Status::Success);
}

/// A test audited before its table is published reads that table's columns while
/// compiling (dbt_expectations' column tests do): on a first build the staged table
/// answers, though nothing is on disk yet.
#[test]
fn audited_tests_see_the_staged_tables_columns() {
    let dir = fixture("mat");
    let d = dir.path();
    std::fs::create_dir_all(d.join("macros")).unwrap();
    std::fs::write(
        d.join("macros/ncols.sql"),
        "{% test has_columns(model, n) %}\n{% set cols = adapter.get_columns_in_relation(model) %}\nselect {{ cols | length }} as found where {{ cols | length }} != {{ n }}\n{% endtest %}\n",
    )
    .unwrap();
    std::fs::write(
        d.join("models/tbl.yml"),
        "version: 2\nmodels:\n  - name: tbl\n    data_tests:\n      - has_columns: {n: 5}\n",
    )
    .unwrap();
    run_ok(d, &["events"], None, false);
    assert!(!d.join("warehouse/main/tbl").exists());
    let results = build(d, &["tbl"], None);
    assert_eq!(result_of(&results, "tbl").status, Status::Success, "{results:?}");
    let t = results.iter().find(|r| r.unique_id.starts_with("test.mat.has_columns_tbl")).expect("the test ran");
    assert_eq!(t.status, Status::Pass, "{t:?}");
}
