//! Data tests: a compiled test is a query returning failing rows; running it counts them
//! (dbt's `get_test_sql`: `fail_calc`, `warn_if`, `error_if`, `limit`), decides PASS, WARN
//! or FAIL by the test's `severity`, keeps the failing rows in a Delta table when
//! `store_failures` asks, and brings back the first failing rows to show.

use std::path::Path;

use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::datatypes::{DataType, Int64Type};

use crate::exec::session::Session;
use crate::exec::show::Preview;
use crate::exec::write::{TableWrite, WriteMode};
use crate::exec::{ErrorKind, ExecError, Status};
use crate::parse::ParsedNode;

/// How many failing rows a failure shows.
pub const SAMPLE_ROWS: i64 = 5;

pub use crate::parse::{Severity, TestConfig};

/// A node's test configs (typed at parse, where bad ones were reported with their place).
pub fn test_config(node: &ParsedNode) -> Result<&TestConfig, ExecError> {
    node.config
        .test
        .as_ref()
        .ok_or_else(|| ExecError::compile(format!("`{}` is not a data test (this is a bug)", node.node.name)))
}

/// What running a test found.
#[derive(Debug, Clone)]
pub struct TestOutcome {
    pub status: Status,
    /// The `fail_calc` result (the number of failing rows by default).
    pub failures: u64,
    /// dbt's message: `Got 3 results, configured to fail if != 0`; none when it passed.
    pub message: Option<String>,
    /// The first failing rows, when it did not pass.
    pub sample: Option<Preview>,
    /// Where the failing rows were stored (`schema.table`).
    pub stored_in: Option<String>,
}

fn plural_results(n: u64) -> String {
    if n == 1 {
        "1 result".to_owned()
    } else {
        format!("{n} results")
    }
}

/// Runs the test `node`, whose compiled query is `sql`.
pub async fn run(
    session: &Session,
    warehouse: &Path,
    node: &ParsedNode,
    sql: &str,
) -> Result<TestOutcome, ExecError> {
    let config = test_config(node)?;
    let mut main_sql = sql.trim().trim_end_matches(';').to_owned();
    let mut stored_in = None;
    if config.store_failures {
        let (schema, name) = (&node.relation.schema, &node.relation.identifier);
        let dir = node.relation.path(warehouse);
        let df = session.query(&main_sql).await?;
        let df = match config.limit {
            Some(n) => df
                .limit(0, Some(n as usize))?,
            None => df,
        };
        TableWrite::new(session, &dir, crate::exec::materialize::nullable(df)?)
            .with_mode(WriteMode::Replace)
            .run()
            .await?;
        session.invalidate(schema, name);
        main_sql = format!("select * from {}", node.relation.render());
        stored_in = Some(node.relation.key());
    }
    let limit = config
        .limit
        .map(|n| format!("\n    limit {n}"))
        .unwrap_or_default();
    let fc = &config.fail_calc;
    let wrapped = format!(
        "select\n    cast({fc} as bigint) as failures,\n    {fc} {warn} as should_warn,\n    {fc} {error} as should_error\nfrom (\n{main_sql}{limit}\n) dbt_internal_test",
        warn = config.warn_if,
        error = config.error_if,
    );
    let df = session.query(&wrapped).await.map_err(|e| match e.kind() {
        ErrorKind::Sql => e.map_message(|m| {
            format!(
                "{m}\n(the test query, with fail_calc `{fc}`, warn_if `{}` and error_if `{}`, did not plan)",
                config.warn_if, config.error_if
            )
        }),
        _ => e,
    })?;
    let batches = df
        .collect()
        .await?;
    let (mut failures, mut should_warn, mut should_error) = (0u64, false, false);
    if let Some(b) = batches.iter().find(|b| b.num_rows() > 0) {
        let f = b.column(0);
        if f.data_type() == &DataType::Int64 && !f.is_null(0) {
            failures = f.as_primitive::<Int64Type>().value(0).max(0) as u64;
        }
        let flag = |i: usize| -> bool {
            let c = b.column(i);
            matches!(c.data_type(), DataType::Boolean) && !c.is_null(0) && c.as_boolean().value(0)
        };
        should_warn = flag(1);
        should_error = flag(2);
    }
    let (status, message) = if config.severity == Severity::Error && should_error {
        (
            Status::Fail,
            Some(format!(
                "Got {}, configured to fail if {}",
                plural_results(failures),
                config.error_if
            )),
        )
    } else if should_warn {
        (
            Status::Warn,
            Some(format!(
                "Got {}, configured to warn if {}",
                plural_results(failures),
                config.warn_if
            )),
        )
    } else {
        (Status::Pass, None)
    };
    let sample = if status != Status::Pass {
        let rows = config
            .limit
            .map_or(SAMPLE_ROWS, |l| SAMPLE_ROWS.min(i64::try_from(l).unwrap_or(i64::MAX)));
        first_rows(session, &main_sql, rows as usize).await
    } else {
        None
    };
    Ok(TestOutcome {
        status,
        failures: if status == Status::Pass { 0 } else { failures },
        message,
        sample,
        stored_in,
    })
}

/// The first failing rows, in a stable order (sorted by every column) so the same data
/// always shows the same rows.
async fn first_rows(session: &Session, sql: &str, n: usize) -> Option<Preview> {
    use deltalake::datafusion::logical_expr::{Expr, SortExpr};
    let df = session.query(sql).await.ok()?;
    let keys: Vec<SortExpr> = df
        .schema()
        .iter()
        .filter(|(_, f)| {
            !matches!(
                f.data_type(),
                DataType::List(_) | DataType::LargeList(_) | DataType::Struct(_) | DataType::Map(..)
            )
        })
        .map(|(q, f)| {
            Expr::Column(deltalake::datafusion::common::Column::new(q.cloned(), f.name()))
                .sort(true, false)
        })
        .collect();
    let sorted = if keys.is_empty() { df } else { df.sort(keys).ok()? };
    let limited = sorted.limit(0, Some(n)).ok()?;
    let schema = std::sync::Arc::new(limited.schema().as_arrow().clone());
    let batches = limited.collect().await.ok()?;
    Some(Preview { schema, batches })
}
