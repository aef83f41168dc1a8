//! Views, tables, incremental strategies and seeds on real Delta tables.

use std::path::Path;

use silt::exec::Status;

use crate::support::{fixture, query, run, run_ok};

fn rows(dir: &Path, sql: &str) -> Vec<Vec<String>> {
    query(dir, sql).1
}

fn strs(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect()
}

async fn delta_version(dir: &Path, table: &str) -> u64 {
    let t = silt::exec::storage::open(&dir.join("warehouse/main").join(table))
        .await
        .expect("open table");
    t.version().expect("version")
}

fn version(dir: &Path, table: &str) -> u64 {
    silt::runtime::runtime(None)
        .expect("runtime")
        .block_on(delta_version(dir, table))
}

fn seed(dir: &Path) {
    run_ok(dir, &["resource_type:seed"], None, false);
}

#[test]
fn table_replaces_its_contents_as_a_new_version() {
    let dir = fixture("mat");
    seed(dir.path());
    run_ok(dir.path(), &["tbl"], None, false);
    assert_eq!(version(dir.path(), "tbl"), 0);
    run_ok(dir.path(), &["tbl"], None, false);
    assert_eq!(
        version(dir.path(), "tbl"),
        1,
        "a rebuild is a new Delta version, history kept"
    );
    assert_eq!(
        rows(dir.path(), "select count(*) from main.tbl"),
        strs(&[&["6"]])
    );
    // The previous version is still readable by any Delta reader.
    let old = silt::runtime::runtime(None).unwrap().block_on(async {
        let url =
            deltalake::ensure_table_uri(dir.path().join("warehouse/main/tbl").to_string_lossy())
                .unwrap();
        deltalake::open_table_with_version(url, 0)
            .await
            .unwrap()
            .version()
    });
    assert_eq!(old, Some(0));
}

#[test]
fn a_failed_model_leaves_its_table_and_skips_downstream() {
    let dir = fixture("mat");
    seed(dir.path());
    run_ok(dir.path(), &["+child_of_failing"], None, false);
    let before = version(dir.path(), "failing");
    let results = run(dir.path(), &["failing+"], Some("{break: true}"), false);
    let status = |name: &str| {
        results
            .iter()
            .find(|r| r.unique_id.ends_with(name))
            .map(|r| r.status)
    };
    assert_eq!(status(".failing"), Some(Status::Error));
    assert_eq!(status(".child_of_failing"), Some(Status::Skipped));
    let failing = results
        .iter()
        .find(|r| r.unique_id.ends_with(".failing"))
        .unwrap();
    assert!(
        failing
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("no_such_column"),
        "{:?}",
        failing.message
    );
    assert_eq!(version(dir.path(), "failing"), before, "no commit was made");
    assert_eq!(
        rows(dir.path(), "select count(*) from main.failing"),
        strs(&[&["6"]])
    );
}

#[test]
fn views_write_nothing_and_ephemerals_are_inlined() {
    let dir = fixture("mat");
    seed(dir.path());
    run_ok(dir.path(), &["+vw", "+uses_eph"], None, false);
    assert!(!dir.path().join("warehouse/main/vw").exists());
    assert!(!dir.path().join("warehouse/main/eph").exists());
    assert_eq!(
        rows(dir.path(), "select count(*) from main.vw"),
        strs(&[&["5"]])
    );
    assert_eq!(
        rows(dir.path(), "select sum(doubled) from main.uses_eph"),
        strs(&[&["246"]])
    );
}

#[test]
fn incremental_append() {
    let dir = fixture("mat");
    seed(dir.path());
    run_ok(dir.path(), &["inc_append"], Some("{batch: 1}"), false);
    run_ok(dir.path(), &["inc_append"], Some("{batch: 2}"), false);
    assert_eq!(
        rows(
            dir.path(),
            "select count(*), sum(amount) from main.inc_append"
        ),
        strs(&[&["6", "123"]])
    );
    // --full-refresh rebuilds from this run's rows only.
    run_ok(dir.path(), &["inc_append"], Some("{batch: 2}"), true);
    assert_eq!(
        rows(dir.path(), "select count(*) from main.inc_append"),
        strs(&[&["3"]])
    );
}

#[test]
fn incremental_merge_on_one_and_two_columns() {
    let dir = fixture("mat");
    seed(dir.path());
    run_ok(
        dir.path(),
        &["inc_merge", "inc_merge2"],
        Some("{batch: 1}"),
        false,
    );
    run_ok(
        dir.path(),
        &["inc_merge", "inc_merge2"],
        Some("{batch: 2}"),
        false,
    );
    assert_eq!(
        rows(
            dir.path(),
            "select id, kind, amount, loaded_in from main.inc_merge"
        ),
        strs(&[
            &["1", "click", "10", "1"],
            &["2", "view", "7", "2"],
            &["3", "click", "5", "1"],
            &["4", "buy", "100", "2"],
            &["5", "click", "1", "2"]
        ])
    );
    // merge_update_columns: matched rows get the new amount but keep loaded_in.
    assert_eq!(
        rows(
            dir.path(),
            "select id, kind, amount, loaded_in from main.inc_merge2"
        ),
        strs(&[
            &["1", "click", "10", "1"],
            &["2", "view", "7", "1"],
            &["3", "click", "5", "1"],
            &["4", "buy", "100", "2"],
            &["5", "click", "1", "2"]
        ])
    );
}

#[test]
fn incremental_delete_insert_keeps_duplicates_of_new_rows() {
    let dir = fixture("mat");
    seed(dir.path());
    run_ok(dir.path(), &["inc_delins"], Some("{batch: 1}"), false);
    run_ok(dir.path(), &["inc_delins"], Some("{batch: 2}"), false);
    // Batch 2 has kinds buy, view, click: every old row of those kinds is replaced.
    assert_eq!(
        rows(dir.path(), "select kind, id, amount from main.inc_delins"),
        strs(&[
            &["buy", "4", "100"],
            &["click", "5", "1"],
            &["view", "2", "7"]
        ])
    );
}

#[test]
fn incremental_insert_overwrite_replaces_touched_partitions() {
    let dir = fixture("mat");
    seed(dir.path());
    run_ok(dir.path(), &["inc_overwrite"], Some("{batch: 1}"), false);
    run_ok(dir.path(), &["inc_overwrite"], Some("{batch: 2}"), false);
    assert_eq!(
        rows(
            dir.path(),
            "select cast(day as varchar), n, loaded_in from main.inc_overwrite"
        ),
        strs(&[
            &["2024-01-01", "2", "2"],
            &["2024-01-02", "1", "2"],
            &["2024-01-03", "2", "2"]
        ])
    );
}

fn write_model(dir: &Path, name: &str, sql: &str) {
    std::fs::write(dir.join("models").join(format!("{name}.sql")), sql).expect("write model");
}

#[test]
fn on_schema_change_modes() {
    let dir = fixture("mat");
    let d = dir.path();
    seed(d);
    let model = |mode: &str, cols: &str| {
        format!(
            "{{{{ config(materialized='incremental', unique_key='id', on_schema_change='{mode}') }}}}\nselect {cols} from {{{{ ref('events') }}}} where batch = {{{{ var('batch', 1) }}}}"
        )
    };
    for mode in ["ignore", "fail", "append_new_columns", "sync_all_columns"] {
        write_model(d, &format!("osc_{mode}"), &model(mode, "id, amount"));
    }
    run_ok(d, &["osc_*"], Some("{batch: 1}"), false);
    for mode in ["ignore", "fail", "append_new_columns", "sync_all_columns"] {
        write_model(d, &format!("osc_{mode}"), &model(mode, "id, kind"));
    }
    let results = run(d, &["osc_*"], Some("{batch: 2}"), false);
    let result = |mode: &str| {
        results
            .iter()
            .find(|r| r.unique_id.ends_with(&format!("osc_{mode}")))
            .expect("result")
    };
    // ignore: the table's columns rule; `amount` is missing from the new rows.
    assert_eq!(result("ignore").status, Status::Error);
    assert!(
        result("ignore")
            .message
            .as_deref()
            .unwrap()
            .contains("column `amount` of the existing table is not in the model's new rows")
    );
    // fail: any difference is an error naming the columns.
    assert_eq!(result("fail").status, Status::Error);
    insta::assert_snapshot!(
        "on_schema_change_fail",
        result("fail").message.as_deref().unwrap()
    );
    assert_eq!(result("append_new_columns").status, Status::Success);
    assert_eq!(
        rows(
            d,
            "select id, amount, kind from main.osc_append_new_columns"
        ),
        strs(&[
            &["1", "10", "\\N"],
            &["2", "\\N", "view"],
            &["3", "5", "\\N"],
            &["4", "\\N", "buy"],
            &["5", "\\N", "click"]
        ])
    );
    assert_eq!(result("sync_all_columns").status, Status::Success);
    let (header, data) = query(d, "select * from main.osc_sync_all_columns");
    assert_eq!(header, ["id", "kind"]);
    assert_eq!(
        data,
        strs(&[
            &["1", "\\N"],
            &["2", "view"],
            &["3", "\\N"],
            &["4", "buy"],
            &["5", "click"]
        ])
    );
}

#[test]
fn seeds_are_typed_like_dbt() {
    let dir = fixture("mat");
    seed(dir.path());
    let (header, data) = query(
        dir.path(),
        "select code, price, flag, cast(at as varchar), n, ratio, note, arrow_typeof(code), arrow_typeof(price), arrow_typeof(flag), arrow_typeof(at), arrow_typeof(n), arrow_typeof(ratio) from main.typed",
    );
    assert_eq!(header.len(), 13);
    assert_eq!(
        data,
        strs(&[
            &[
                "007",
                "1.50",
                "true",
                "2024-01-01T10:00:00",
                "1",
                "0.5",
                "hello",
                "Utf8View",
                "Decimal128(10, 2)",
                "Boolean",
                "Timestamp(µs)",
                "Int64",
                "Float64"
            ],
            &[
                "010",
                "2.25",
                "false",
                "2024-01-02T11:30:00",
                "2",
                "1.0",
                "null",
                "Utf8View",
                "Decimal128(10, 2)",
                "Boolean",
                "Timestamp(µs)",
                "Int64",
                "Float64"
            ],
        ])
    );
}

/// A decimal in a column typed as an integer loads rounded, as DuckDB loads it (dbt_utils'
/// `data_width_bucket` writes `4.0`); one that is not a number is still an error.
#[test]
fn decimals_load_rounded_into_integer_seed_columns() {
    let dir = fixture("mat");
    let d = dir.path();
    std::fs::write(d.join("seeds/widths.csv"), "n,m\n4.0,1\n4.5,2\n-2.5,3\n7,4\n").unwrap();
    std::fs::write(
        d.join("seeds/widths.yml"),
        "version: 2\nseeds:\n  - name: widths\n    config:\n      column_types: {n: integer}\n",
    )
    .unwrap();
    run_ok(d, &["widths"], None, false);
    assert_eq!(
        rows(d, "select n, arrow_typeof(n) from main.widths"),
        strs(&[&["-3", "Int32"], &["4", "Int32"], &["5", "Int32"], &["7", "Int32"]])
    );
    std::fs::write(d.join("seeds/widths.csv"), "n,m\nfour,1\n").unwrap();
    let results = run(d, &["widths"], None, true);
    assert_eq!(results[0].status, Status::Error, "{results:?}");
}

#[test]
fn reseeding_keeps_the_table_types_unless_full_refresh() {
    let dir = fixture("mat");
    let d = dir.path();
    seed(d);
    // New contents whose inferred type would differ: `amount` now has decimals.
    std::fs::write(
        d.join("seeds/events.csv"),
        "id,kind,amount,day,batch\n9,x,1,2024-02-01,1\n",
    )
    .unwrap();
    run_ok(d, &["events"], None, false);
    assert_eq!(
        rows(d, "select id, arrow_typeof(amount) from main.events"),
        strs(&[&["9", "Int64"]])
    );
    std::fs::write(
        d.join("seeds/events.csv"),
        "id,kind,amount,day,batch\n9,x,1.5,2024-02-01,1\n",
    )
    .unwrap();
    run_ok(d, &["events"], None, true);
    assert_eq!(
        rows(d, "select amount, arrow_typeof(amount) from main.events"),
        strs(&[&["1.5", "Float64"]])
    );
}

#[test]
fn many_workers_build_everything() {
    let dir = fixture("mat");
    seed(dir.path());
    let results = run_ok(dir.path(), &["resource_type:model"], None, false);
    assert_eq!(results.len(), 10, "every model but the ephemeral one runs");
}

/// As in dbt, an incremental strategy Silt does not have fails only the runs that need it:
/// the first run builds the table, an incremental run is that model's error (with the
/// line of its config), and the models beside it run.
#[test]
fn an_unknown_incremental_strategy_fails_only_incremental_runs() {
    let dir = fixture("mat");
    let d = dir.path();
    seed(d);
    write_model(
        d,
        "inc_upsert",
        "{{ config(materialized='incremental', incremental_strategy='upsert', unique_key='id') }}\nselect id, amount from {{ ref('events') }} where batch = {{ var('batch', 1) }}",
    );
    run_ok(d, &["inc_upsert", "tbl"], Some("{batch: 1}"), false);
    assert_eq!(rows(d, "select count(*) from main.inc_upsert"), strs(&[&["3"]]));
    let results = run(d, &["inc_upsert", "tbl"], Some("{batch: 2}"), false);
    let upsert = results.iter().find(|r| r.unique_id.ends_with("inc_upsert")).expect("result");
    assert_eq!(upsert.status, Status::Error);
    let message = upsert.message.as_deref().unwrap();
    assert!(message.contains("incremental strategy `upsert` is not supported (in model `inc_upsert`)"), "{message}");
    assert!(message.contains("models/inc_upsert.sql:1:"), "{message}");
    assert!(message.contains("use one of: append, merge, delete+insert, insert_overwrite"), "{message}");
    let tbl = results.iter().find(|r| r.unique_id.ends_with(".tbl")).expect("result");
    assert_eq!(tbl.status, Status::Success);
    // The table is as the first run left it; a full refresh builds it again.
    assert_eq!(rows(d, "select count(*) from main.inc_upsert"), strs(&[&["3"]]));
    run_ok(d, &["inc_upsert"], Some("{batch: 2}"), true);
}

/// Hooks run their statements on the warehouse's Delta tables: a script of several
/// statements (create if not exists, insert with a column list, update, delete) before the
/// write, and an insert that reads the new table after it. What Silt cannot run fails its
/// node with the statement named, and the rest of the run goes on.
#[test]
fn hooks_run_statements_and_fail_their_node_clearly() {
    let dir = fixture("mat");
    let d = dir.path();
    seed(d);
    write_model(
        d,
        "hooked",
        "{{ config(materialized='table',
             pre_hook=\"create table if not exists {{ this.schema }}.audit_log (id bigint, note varchar);
                        insert into {{ this.schema }}.audit_log (note) values ('a'), ('b');
                        update {{ this.schema }}.audit_log set id = 1 where note = 'a';
                        delete from {{ this.schema }}.audit_log where note = 'b'\",
             post_hook=\"insert into {{ this.schema }}.audit_log select count(*), 'rows' from {{ this }}\") }}
select id from {{ ref('events') }}",
    );
    write_model(
        d,
        "granted",
        "{{ config(materialized='table', post_hook='grant select on {{ this }} to reporter') }}\nselect 1 as id",
    );
    write_model(
        d,
        "scripted",
        "{{ config(pre_hook=\"select 1;\\ninsert into {{ this.schema }}.nowhere values (1)\") }}\nselect 1 as id",
    );
    write_model(
        d,
        "conflicting",
        "{{ config({'pre_hook': 'select 1', 'pre-hook': 'select 2'}) }}\nselect 1 as id",
    );
    let results = run(d, &["hooked", "granted", "scripted", "conflicting", "tbl"], None, false);
    let status = |name: &str| {
        let r = results.iter().find(|r| r.unique_id.ends_with(&format!(".{name}"))).expect("result");
        (r.status, r.message.clone().unwrap_or_default())
    };
    assert_eq!(status("hooked").0, Status::Success, "{}", status("hooked").1);
    let events = rows(d, "select count(*) from main.events")[0][0].clone();
    assert_eq!(
        rows(d, "select id, note from main.audit_log order by note"),
        strs(&[&["1", "a"], &[&events, "rows"]])
    );
    let (s, m) = status("granted");
    assert_eq!(s, Status::Error);
    assert!(
        m.contains("post-hook 1 of 1 failed: `GRANT SELECT ON` is not supported: Delta tables on disk have no grants"),
        "{m}"
    );
    // The post-hook ran after the write, which stays.
    assert_eq!(rows(d, "select id from main.granted"), strs(&[&["1"]]));
    let (s, m) = status("scripted");
    assert_eq!(s, Status::Error);
    assert!(m.contains("in the statement on line 2: table `main.nowhere` does not exist"), "{m}");
    let (s, m) = status("conflicting");
    assert_eq!(s, Status::Error);
    assert!(m.contains("Invalid config, has conflicting keys \"pre_hook\" and \"pre-hook\""), "{m}");
    assert!(m.contains("models/conflicting.sql"), "{m}");
    assert_eq!(status("tbl").0, Status::Success);
}

/// `set_sql_header`: the header runs in the model's own session before its query; its
/// settings reach that model only.
#[test]
fn sql_headers_set_the_session_of_their_model_only() {
    let dir = fixture("mat");
    let d = dir.path();
    seed(d);
    write_model(
        d,
        "kolkata",
        "{{ config(materialized='table') }}
{% call set_sql_header(config) %}
set session time zone 'Asia/Kolkata';
{%- endcall %}
select current_setting('timezone') as tz",
    );
    write_model(d, "plain", "{{ config(materialized='table') }}\nselect current_setting('timezone') as tz");
    write_model(
        d,
        "bad_zone",
        "{{ config(materialized='table', sql_header=\"set timezone = 'Mars/Olympus'\") }}\nselect 1 as id",
    );
    write_model(
        d,
        "bad_setting",
        "{{ config(materialized='table', sql_header='set search_path = x') }}\nselect 1 as id",
    );
    write_model(
        d,
        "set_in_hook",
        "{{ config(materialized='table', pre_hook=\"set timezone = 'Asia/Kolkata'\") }}\nselect 1 as id",
    );
    let results = run(d, &["kolkata", "plain", "bad_zone", "bad_setting", "set_in_hook"], None, false);
    let status = |name: &str| {
        let r = results.iter().find(|r| r.unique_id.ends_with(&format!(".{name}"))).expect("result");
        (r.status, r.message.clone().unwrap_or_default())
    };
    assert_eq!(status("kolkata").0, Status::Success, "{}", status("kolkata").1);
    assert_eq!(rows(d, "select tz from main.kolkata"), strs(&[&["Asia/Kolkata"]]));
    assert_eq!(rows(d, "select tz from main.plain"), strs(&[&["UTC"]]));
    let (s, m) = status("bad_zone");
    assert_eq!(s, Status::Error);
    assert!(m.contains("sql_header failed") && m.contains("unknown time zone 'Mars/Olympus'"), "{m}");
    let (s, m) = status("bad_setting");
    assert_eq!(s, Status::Error);
    assert!(m.contains("`SET SEARCH_PATH =` is not supported"), "{m}");
    assert!(!d.join("warehouse/main/bad_zone").exists());
    // Outside a header, SET would reach every model running at once: refused.
    let (s, m) = status("set_in_hook");
    assert_eq!(s, Status::Error);
    assert!(m.contains("would change the session every model shares"), "{m}");

    // What a model with a header writes is what later models read, even when the shared
    // session opened its table before (here, its pre-hook).
    write_model(
        d,
        "headed",
        "{{ config(materialized='table', sql_header=\"set timezone = 'UTC'\", pre_hook='create table if not exists {{ this }} as select 0 as n; select count(*) from {{ this }}') }}\nselect {{ var('n') }} as n",
    );
    write_model(d, "reads_headed", "{{ config(materialized='table') }}\nselect n from {{ ref('headed') }}");
    for n in ["1", "2"] {
        let vars = format!("{{n: {n}}}");
        let results = run(d, &["headed", "reads_headed"], Some(&vars), false);
        assert!(results.iter().all(|r| r.status == Status::Success), "{results:?}");
        assert_eq!(rows(d, "select n from main.reads_headed"), strs(&[&[n]]));
    }
}

/// As in dbt, a seed's hooks may not read other nodes.
#[test]
fn a_seed_hook_that_refs_a_model_fails_that_seed() {
    let dir = fixture("mat");
    let d = dir.path();
    std::fs::write(
        d.join("seeds/props.yml"),
        "version: 2\nseeds:\n  - name: typed\n    config:\n      post_hook: \"select * from {{ ref('tbl') }}\"\n",
    )
    .unwrap();
    let results = run(d, &["resource_type:seed"], None, false);
    let typed = results.iter().find(|r| r.unique_id.ends_with(".typed")).expect("result");
    assert_eq!(typed.status, Status::Error);
    let m = typed.message.as_deref().unwrap_or_default();
    assert!(m.contains("Seeds cannot depend on other nodes"), "{m}");
    assert!(m.contains("- post_hook: \"select * from {{ ref('tbl') }}\""), "{m}");
    let events = results.iter().find(|r| r.unique_id.ends_with(".events")).expect("result");
    assert_eq!(events.status, Status::Success);
}

/// A snapshot's config errors are that snapshot's (the others run), named with the key at
/// fault and the file; a file in `snapshot-paths` without a block is the project's error.
#[test]
fn snapshot_config_errors_fail_that_snapshot() {
    let dir = fixture("mat");
    let d = dir.path();
    seed(d);
    std::fs::create_dir_all(d.join("snapshots")).unwrap();
    std::fs::write(
        d.join("snapshots/history.sql"),
        "{% snapshot no_strategy %}\n{{ config(unique_key='id') }}\nselect id from {{ ref('events') }}\n{% endsnapshot %}\n\n\
         {% snapshot no_updated_at %}\n{{ config(unique_key='id', strategy='timestamp') }}\nselect id from {{ ref('events') }}\n{% endsnapshot %}\n\n\
         {% snapshot fine %}\n{{ config(unique_key='id', strategy='check', check_cols='all') }}\nselect distinct id from {{ ref('events') }}\n{% endsnapshot %}\n",
    )
    .unwrap();
    let results = crate::support::execute(d, &["resource_type:snapshot"], None, false, &[silt::project::ResourceType::Snapshot], false);
    let get = |name: &str| results.iter().find(|r| r.unique_id == format!("snapshot.mat.{name}")).expect("result");
    let m = get("no_strategy").message.clone().unwrap_or_default();
    assert!(m.contains("a snapshot needs `strategy`: `timestamp` or `check`"), "{m}");
    assert!(m.contains("snapshots/history.sql"), "{m}");
    let m = get("no_updated_at").message.clone().unwrap_or_default();
    assert!(m.contains("the `timestamp` strategy needs `updated_at`"), "{m}");
    assert_eq!(get("fine").status, Status::Success, "{:?}", get("fine").message);
    assert_eq!(
        rows(d, "select count(*) as a, count(dbt_valid_from) as b, count(dbt_valid_to) as c from main.fine"),
        rows(d, "select count(distinct id) as a, count(distinct id) as b, 0 as c from main.events")
    );

    std::fs::write(d.join("snapshots/empty.sql"), "select 1\n").unwrap();
    let parse = silt::parse::ParseOptions {
        invocation_id: "test".into(),
        full_refresh: false,
        which: "run".into(),
        store_failures: false,
    };
    let err = silt::load(&crate::support::options(d, None), &parse).err().expect("a load error");
    let text = err.render(false);
    assert!(text.contains("a file in `snapshot-paths` holds no `{% snapshot name %}` block"), "{text}");
    assert!(text.contains("snapshots/empty.sql"), "{text}");
}

/// Fixture rows name columns in any case, as dbt on DuckDB reads them: `ID` in one row is
/// `id` of another (dbt-tests-adapter's `BaseUnitTestCaseInsensivity`).
#[test]
fn unit_test_fixture_columns_are_case_insensitive() {
    let dir = fixture("mat");
    let d = dir.path();
    std::fs::write(
        d.join("models/unit.yml"),
        "unit_tests:\n  - name: any_case\n    model: tbl\n    given:\n      - input: ref('events')\n        rows:\n          - {id: 1, kind: a}\n          - {ID: 2, KIND: b}\n          - {Id: 3}\n    expect:\n      rows:\n        - {id: 1, kind: a}\n        - {Id: 2, Kind: b}\n        - {ID: 3, kind: null}\n",
    )
    .unwrap();
    let results = crate::support::test(d, &["tbl"], None);
    let r = results.iter().find(|r| r.unique_id.ends_with("any_case")).expect("result");
    assert_eq!(r.status, Status::Pass, "{:?} {:?}", r.message, r.detail);
}

/// The statement layer's other statements, as hooks and `run_query` send them: create
/// schema, create table as, insert overwrite, truncate, rename, drop schema cascade.
#[test]
fn statements_change_the_warehouse_as_written() {
    let dir = fixture("mat");
    let d = dir.path();
    seed(d);
    let loaded = crate::support::load(d, None);
    let events: u64 = rows(d, "select count(*) as n from main.events")[0][0].parse().unwrap();
    let early: u64 = rows(d, "select count(*) as n from main.events where id < 3")[0][0].parse().unwrap();
    assert!(early < events);
    let rt = silt::runtime::runtime(None).expect("runtime");
    let count = |outcomes: Vec<silt::exec::statement::StatementOutcome>| -> u64 {
        outcomes.last().and_then(|o| o.rows).expect("a count")
    };
    rt.block_on(async {
        let session = silt::exec::open_session(&loaded.parsed).expect("session");
        let run = |sql: &'static str| silt::exec::statement::run_script(&session, sql);
        run("create schema side; create table side.t as select id, kind from main.events").await.expect("create");
        assert_eq!(count(run("select * from side.t").await.unwrap()), events);
        run("insert overwrite side.t select id, kind from main.events where id < 3").await.expect("overwrite");
        assert_eq!(count(run("select * from side.t").await.unwrap()), early);
        run("alter table side.t rename to u").await.expect("rename");
        assert_eq!(count(run("select * from side.u").await.unwrap()), early);
        let e = run("select * from side.t").await.unwrap_err().to_string();
        assert!(e.contains("side.t") || e.contains("not found"), "{e}");
        run("truncate table side.u").await.expect("truncate");
        assert_eq!(count(run("select * from side.u").await.unwrap()), 0);
        let e = run("drop schema side").await.unwrap_err().to_string();
        assert!(e.contains("schema `side` is not empty"), "{e}");
        run("drop schema side cascade").await.expect("drop cascade");
        assert!(!d.join("warehouse/side").exists());
    });
}

/// The adapter's introspection and `api.Column` helpers while compiling.
#[test]
fn adapter_introspection_while_compiling() {
    let dir = fixture("mat");
    let d = dir.path();
    seed(d);
    write_model(
        d,
        "introspected",
        "{{ config(materialized='table') }}
{% set rels = adapter.list_relations_without_caching(api.Relation.create(schema='main')) | map(attribute='identifier') | list %}
{% set q = run_query('select id, kind from ' ~ ref('events') ~ ' order by id limit 1') %}
{# Unguarded: while parsing, nothing runs and this renders as nothing, as in dbt. #}
{% set one = run_query('select 1 as one').columns[0].values()[0] %}
select {{ adapter.check_schema_exists('silt', 'main') }} as has_main,
       {{ adapter.check_schema_exists('silt', 'nowhere') }} as has_nowhere,
       {{ 'events' in rels }} as lists_events,
       {{ 'main' in adapter.list_schemas('silt') }} as lists_main,
       {{ adapter.get_missing_columns(ref('events'), api.Relation.create(schema='main', identifier='events')) | length }} as missing,
       '{{ api.Column.string_type(10) }}' as string_type,
       '{{ api.Column.numeric_type('decimal', 10, 2) }}' as numeric_type,
       '{{ q.rows[0].keys() | join('|') }}' as row_keys,
       '{{ q.rows[-1]['kind'] }}' as last_kind,
       {{ q.columns[0].values()[-1] }} as last_id,
       {{ one }} as one",
    );
    run_ok(d, &["introspected"], None, false);
    assert_eq!(
        rows(d, "select * from main.introspected"),
        strs(&[&["true", "false", "true", "true", "0", "varchar(10)", "decimal(10,2)", "id|kind", "click", "1", "1"]])
    );
}
