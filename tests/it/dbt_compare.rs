//! The dbt_shop fixture, an unmodified dbt project, must give exactly the tables that
//! dbt-core with dbt-duckdb gives (tests/fixtures/dbt_shop/make_expected.py wrote them).
//! It covers seeds, a source with Jinja in its YAML, an ephemeral model built by a loop
//! over a list var, a macro with a default argument, window functions, a view over a
//! table, and an incremental merge on a two-column key run twice with different vars; and
//! Silt's SQL rules where DataFusion differs: integer division, date - date, date + int,
//! string literals compared with dates, modulo.

use std::path::Path;

use crate::support::{fixtures, query, read_expected, run_ok, same_cell};

fn assert_matches(project: &Path, relation: &str, expected: &Path) {
    let (want_header, want_rows) = read_expected(expected);
    let (got_header, got_rows) = query(project, &format!("select * from main.\"{relation}\""));
    assert_eq!(got_header, want_header, "columns of {relation}");
    assert_eq!(
        got_rows.len(),
        want_rows.len(),
        "row count of {relation}: got {got_rows:?}"
    );
    for (got, want) in got_rows.iter().zip(&want_rows) {
        let same = got.len() == want.len() && got.iter().zip(want).all(|(g, w)| same_cell(g, w));
        assert!(
            same,
            "{relation}: row differs\n  silt: {got:?}\n  dbt:  {want:?}"
        );
    }
}

#[test]
fn dbt_shop_matches_dbt_duckdb() {
    let dir = crate::support::fixture("dbt_shop");
    let expected = fixtures().join("dbt_shop/expected");
    run_ok(dir.path(), &["resource_type:seed"], None, false);
    run_ok(
        dir.path(),
        &["resource_type:model"],
        Some("{batch: 1}"),
        false,
    );
    assert_matches(
        dir.path(),
        "payments_incremental",
        &expected.join("after_run1/payments_incremental.csv"),
    );
    run_ok(
        dir.path(),
        &["resource_type:model"],
        Some("{\"batch\": 2}"),
        false,
    );
    for relation in [
        "raw_customers",
        "raw_orders",
        "raw_payments",
        "stg_customers",
        "stg_orders",
        "customer_orders",
        "customers",
        "recent_orders",
        "payments_incremental",
    ] {
        assert_matches(
            dir.path(),
            relation,
            &expected.join(format!("{relation}.csv")),
        );
    }
}
