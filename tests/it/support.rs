//! Helpers: copying fixtures to temporary folders, running them, reading tables back.

use std::cmp::Ordering;
use std::path::Path;
use std::sync::Arc;

use silt::Loaded;
use silt::exec::{NodeResult, Status};
use silt::commands::Quiet;
use silt::exec::RunOptions;
use silt::parse::ParseOptions;
use silt::project::ResourceType;
use silt::settings::LoadOptions;

pub use crate::common::{fixture, fixtures};

pub fn options(dir: &Path, vars: Option<&str>) -> LoadOptions {
    LoadOptions {
        project_dir: dir.to_path_buf(),
        profiles_dir: None,
        target: None,
        vars: vars.map(str::to_owned),
        threads: None,
    }
}

/// Loads a project, failing the test with the rendered diagnostics if it does not load.
pub fn load(dir: &Path, vars: Option<&str>) -> Loaded {
    load_with(dir, vars, false)
}

pub fn load_with(dir: &Path, vars: Option<&str>, full_refresh: bool) -> Loaded {
    let parse = ParseOptions {
        invocation_id: "test".into(),
        full_refresh,
        which: "run".into(),
        store_failures: false,
    };
    match silt::load(&options(dir, vars), &parse) {
        Ok(l) => l,
        Err(d) => panic!("project did not load:\n{}", d.render(false)),
    }
}

/// Runs the selection (every model and seed when `select` is empty).
pub fn run(dir: &Path, select: &[&str], vars: Option<&str>, full_refresh: bool) -> Vec<NodeResult> {
    execute(
        dir,
        select,
        vars,
        full_refresh,
        &[ResourceType::Model, ResourceType::Seed],
        false,
    )
}

/// `silt build`: seeds, models, data tests and unit tests, with audit before publish.
pub fn build(dir: &Path, select: &[&str], vars: Option<&str>) -> Vec<NodeResult> {
    build_excluding(dir, select, &[], vars)
}

/// `silt build --exclude ...`.
pub fn build_excluding(
    dir: &Path,
    select: &[&str],
    exclude: &[&str],
    vars: Option<&str>,
) -> Vec<NodeResult> {
    execute_with(
        dir,
        select,
        exclude,
        vars,
        false,
        &[
            ResourceType::Model,
            ResourceType::Seed,
            ResourceType::Test,
            ResourceType::UnitTest,
        ],
        true,
    )
}

/// `silt test`: the data tests and unit tests of the selection.
pub fn test(dir: &Path, select: &[&str], vars: Option<&str>) -> Vec<NodeResult> {
    execute(
        dir,
        select,
        vars,
        false,
        &[ResourceType::Test, ResourceType::UnitTest],
        false,
    )
}

pub fn execute(
    dir: &Path,
    select: &[&str],
    vars: Option<&str>,
    full_refresh: bool,
    types: &[ResourceType],
    audit: bool,
) -> Vec<NodeResult> {
    execute_with(dir, select, &[], vars, full_refresh, types, audit)
}

pub fn execute_with(
    dir: &Path,
    select: &[&str],
    exclude: &[&str],
    vars: Option<&str>,
    full_refresh: bool,
    types: &[ResourceType],
    audit: bool,
) -> Vec<NodeResult> {
    let loaded = load_with(dir, vars, full_refresh);
    let select: Vec<String> = select.iter().map(|s| s.to_string()).collect();
    let exclude: Vec<String> = exclude.iter().map(|s| s.to_string()).collect();
    let ids = silt::graph::select(&loaded.parsed, &loaded.graph, &select, &exclude, types).expect("selection");
    let Loaded { parsed, graph, .. } = loaded;
    let opts = RunOptions {
        threads: 2,
        full_refresh,
        fail_fast: false,
        empty: false,
    };
    let selected = silt::commands::build::Selected {
        parsed: Arc::new(parsed),
        graph: &graph,
        ids: &ids,
        audit,
        opts,
        project_hooks: false,
    };
    silt::commands::build::run_selected(selected, Arc::new(Quiet)).expect("run")
}

/// The result for the node whose unique id ends with `suffix` (`.not_null_orders_id.`...).
pub fn result_of<'a>(results: &'a [NodeResult], name: &str) -> &'a NodeResult {
    results
        .iter()
        .find(|r| {
            let parts: Vec<&str> = r.unique_id.split('.').collect();
            match parts.as_slice() {
                [_, _, n] => *n == name,
                ["test", _, n, _] => *n == name,
                ["unit_test", _, _, n] => *n == name,
                _ => false,
            }
        })
        .unwrap_or_else(|| {
            let ids: Vec<&str> = results.iter().map(|r| r.unique_id.as_str()).collect();
            panic!("no result for `{name}` among {ids:#?}")
        })
}

/// Runs and asserts every node succeeded.
pub fn run_ok(
    dir: &Path,
    select: &[&str],
    vars: Option<&str>,
    full_refresh: bool,
) -> Vec<NodeResult> {
    let results = run(dir, select, vars, full_refresh);
    for r in &results {
        assert_eq!(
            r.status,
            Status::Success,
            "{} failed: {:?}",
            r.unique_id,
            r.message
        );
    }
    results
}

/// A query's rows as text cells (the format the dbt oracle writes), sorted.
pub fn query(dir: &Path, sql: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let rt = silt::runtime::runtime(None).expect("runtime");
    let loaded = load(dir, None);
    rt.block_on(async {
        let session = silt::exec::session_with_views(&loaded.parsed).expect("session");
        let preview = silt::exec::show::preview(&session, sql, -1)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let header: Vec<String> = preview
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let mut rows = cells(&preview);
        rows.sort_by(|a, b| compare_rows(a, b));
        (header, rows)
    })
}

fn cells(p: &silt::exec::show::Preview) -> Vec<Vec<String>> {
    use deltalake::arrow::array::Array;
    use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
    let opts = FormatOptions::default()
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S"))
        .with_null("\\N");
    let mut rows = Vec::new();
    for b in &p.batches {
        let formatters: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).expect("formatter"))
            .collect();
        for r in 0..b.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .zip(b.columns())
                    .map(|(f, c)| {
                        if c.is_null(r) {
                            "\\N".to_owned()
                        } else {
                            f.value(r).to_string()
                        }
                    })
                    .collect(),
            );
        }
    }
    rows
}

fn compare_cells(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.cmp(b),
    }
}

pub fn compare_rows(a: &[String], b: &[String]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| compare_cells(x, y))
        .find(|o| *o != Ordering::Equal)
        .unwrap_or(Ordering::Equal)
}

/// Whether two cells hold the same value (numbers to 1e-9).
pub fn same_cell(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => false,
    }
}

/// Reads an expected CSV written by a fixture's make_expected.py.
pub fn read_expected(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .map(str::to_owned)
        .collect();
    let mut rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    rows.sort_by(|a, b| compare_rows(a, b));
    (header, rows)
}
