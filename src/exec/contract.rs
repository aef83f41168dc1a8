//! Model contracts (`contract: {enforced: true}`): the planned schema of a model must be
//! the columns and types its YAML declares, checked before anything is written; a mismatch
//! fails the model with a table of expected and actual columns, as dbt prints it.
//!
//! Constraints: `not_null` columns are declared not null in the Delta schema and the write
//! fails at the first null (so nothing is committed); `check` expressions and
//! `unique`/`primary_key` columns are verified on the new data before it is published (the
//! write is staged), and check and not-null constraints are also kept on the Delta table,
//! where every other writer is bound by them. `foreign_key` and `custom` constraints are
//! recorded, not enforced (as on most of dbt's adapters).

use std::collections::BTreeMap;

use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::common::Column;
use deltalake::datafusion::dataframe::DataFrame;
use deltalake::datafusion::common::ScalarValue;
use deltalake::datafusion::logical_expr::{Expr, LogicalPlan};
use serde_json::Value as Json;

use super::ExecError;
use super::session::Session;
use super::types::{sql_type, type_name};
use crate::parse::ParsedNode;
use crate::relation::quote_ident;

/// One declared column.
#[derive(Debug, Clone)]
pub struct ContractColumn {
    pub name: String,
    pub data_type: Option<String>,
    pub not_null: bool,
}

/// A model's enforced contract.
#[derive(Debug, Clone, Default)]
pub struct Contract {
    pub columns: Vec<ContractColumn>,
    /// Check constraints: (Delta constraint name, SQL expression).
    pub checks: Vec<(String, String)>,
    /// `unique` and `primary_key` constraints: (name, columns).
    pub unique: Vec<(String, Vec<String>)>,
}

impl Contract {
    /// The node's contract when `contract: {enforced: true}`.
    pub fn of(node: &ParsedNode) -> Result<Option<Contract>, ExecError> {
        if !node.config.contract_enforced {
            return Ok(None);
        }
        let mut c = Contract::default();
        let model = &node.node.name;
        if node.node.columns.is_empty() {
            return Err(ExecError::schema(format!(
                "`{model}` has an enforced contract but its YAML declares no columns"
            )));
        }
        for col in node.node.columns.values() {
            let mut not_null = false;
            for (i, k) in col.constraints.iter().enumerate() {
                let kind = k.get("type").and_then(Json::as_str).unwrap_or("");
                let name = k.get("name").and_then(Json::as_str).map(sanitize);
                match kind {
                    "not_null" => not_null = true,
                    "check" => {
                        let expr = expression(k, model, &col.name)?;
                        c.checks.push((
                            name.unwrap_or_else(|| format!("{}_check_{}", sanitize(&col.name), i + 1)),
                            expr,
                        ));
                    }
                    "unique" => c.unique.push((
                        name.unwrap_or_else(|| format!("{}_unique", sanitize(&col.name))),
                        vec![col.name.clone()],
                    )),
                    "primary_key" => {
                        not_null = true;
                        c.unique.push((
                            name.unwrap_or_else(|| format!("{}_pk", sanitize(&col.name))),
                            vec![col.name.clone()],
                        ));
                    }
                    "foreign_key" | "custom" => {}
                    other => {
                        return Err(ExecError::schema(format!(
                            "column `{}` of `{model}` has a constraint of unknown type `{other}` (use not_null, check, unique, primary_key, foreign_key or custom)",
                            col.name
                        )));
                    }
                }
            }
            c.columns.push(ContractColumn {
                name: col.name.clone(),
                data_type: col.data_type.clone(),
                not_null,
            });
        }
        for (i, k) in node.node.constraints.iter().enumerate() {
            let kind = k.get("type").and_then(Json::as_str).unwrap_or("");
            let name = k.get("name").and_then(Json::as_str).map(sanitize);
            let columns: Vec<String> = crate::config::string_list(k.get("columns"));
            match kind {
                "check" => c.checks.push((
                    name.unwrap_or_else(|| format!("{}_check_{}", sanitize(model), i + 1)),
                    expression(k, model, "")?,
                )),
                "unique" | "primary_key" => {
                    if columns.is_empty() {
                        return Err(ExecError::schema(format!(
                            "the model-level `{kind}` constraint of `{model}` needs `columns`"
                        )));
                    }
                    if kind == "primary_key" {
                        for col in &mut c.columns {
                            if columns.iter().any(|k| k.eq_ignore_ascii_case(&col.name)) {
                                col.not_null = true;
                            }
                        }
                    }
                    c.unique.push((
                        name.unwrap_or_else(|| format!("{}_{kind}", sanitize(model))),
                        columns,
                    ));
                }
                "not_null" => {
                    for col in &mut c.columns {
                        if columns.iter().any(|k| k.eq_ignore_ascii_case(&col.name)) {
                            col.not_null = true;
                        }
                    }
                }
                "foreign_key" | "custom" => {}
                other => {
                    return Err(ExecError::schema(format!(
                        "`{model}` has a constraint of unknown type `{other}`"
                    )));
                }
            }
        }
        Ok(Some(c))
    }

    /// Whether the new data must be verified before it is published.
    pub fn needs_stage(&self) -> bool {
        !self.checks.is_empty() || !self.unique.is_empty()
    }
}

fn expression(k: &Json, model: &str, column: &str) -> Result<String, ExecError> {
    match k.get("expression").and_then(Json::as_str) {
        Some(e) if !e.trim().is_empty() => {
            let e = e.trim();
            // dbt writes check expressions with or without their parentheses.
            Ok(e.strip_prefix('(')
                .and_then(|x| x.strip_suffix(')'))
                .filter(|x| balanced(x))
                .unwrap_or(e)
                .to_owned())
        }
        _ => Err(ExecError::schema(format!(
            "a `check` constraint {} of `{model}` needs an `expression`",
            if column.is_empty() { String::new() } else { format!("on `{column}`") }
        ))),
    }
}

fn balanced(s: &str) -> bool {
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c.to_ascii_lowercase() } else { '_' })
        .collect()
}

/// Types compared as a contract sees them: one string type, one binary type, timestamps
/// by time zone and not by unit (Delta stores microseconds whatever the plan says).
fn same_type(declared: &DataType, actual: &DataType, declared_text: &str) -> bool {
    use DataType as D;
    match (declared, actual) {
        (D::Utf8 | D::Utf8View | D::LargeUtf8, D::Utf8 | D::Utf8View | D::LargeUtf8) => true,
        (D::Binary | D::BinaryView | D::LargeBinary, D::Binary | D::BinaryView | D::LargeBinary) => true,
        (D::Timestamp(_, a), D::Timestamp(_, b)) => a.is_some() == b.is_some(),
        (D::Decimal128(..) | D::Decimal256(..), D::Decimal128(p, s) | D::Decimal256(p, s)) => {
            // `decimal` or `numeric` alone accepts any precision; written out, it must match.
            if declared_text.contains('(') {
                matches!(declared, D::Decimal128(dp, ds) | D::Decimal256(dp, ds) if dp == p && ds == s)
            } else {
                true
            }
        }
        (D::Date32 | D::Date64, D::Date32 | D::Date64) => true,
        (a, b) => a == b,
    }
}

async fn resolve_type(session: &Session, name: &str) -> Result<DataType, ExecError> {
    // DataFusion plans `timestamp with time zone` as a timestamp without one (unless the
    // session has a time zone); Delta's is UTC.
    if sql_type(name) == "timestamp with time zone" {
        return Ok(DataType::Timestamp(deltalake::arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into())));
    }
    let sql = format!("select cast(null as {}) as t", sql_type(name));
    let df = session.query(&sql).await?;
    Ok(df.schema().field(0).data_type().clone())
}

/// Checks the model's planned result against the contract and returns it in the
/// contract's column order, with not-null columns enforced.
pub async fn conform(
    session: &Session,
    node: &ParsedNode,
    contract: &Contract,
    df: DataFrame,
) -> Result<DataFrame, ExecError> {
    let fields: Vec<(String, DataType)> = df
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    let mut rows: Vec<[String; 4]> = Vec::new();
    let mut matched: BTreeMap<usize, usize> = BTreeMap::new();
    let mut casts: BTreeMap<usize, DataType> = BTreeMap::new();
    for (ci, col) in contract.columns.iter().enumerate() {
        let found = fields.iter().position(|(n, _)| n == &col.name).or_else(|| {
            fields
                .iter()
                .position(|(n, _)| n.eq_ignore_ascii_case(&col.name))
        });
        let Some(fi) = found else {
            rows.push([
                col.name.clone(),
                String::new(),
                col.data_type.clone().unwrap_or_default(),
                "missing in definition".into(),
            ]);
            continue;
        };
        matched.insert(fi, ci);
        let actual = &fields[fi].1;
        let Some(declared_text) = &col.data_type else {
            rows.push([
                col.name.clone(),
                type_name(actual),
                String::new(),
                "no data_type in contract".into(),
            ]);
            continue;
        };
        let declared = resolve_type(session, declared_text).await.map_err(|e| {
            let message = format!(
                "the contract of `{}` gives column `{}` the type `{declared_text}`, which Silt does not know: {e}",
                node.node.name, col.name
            );
            ExecError::schema(message).with_source(e)
        })?;
        if !same_type(&declared, actual, declared_text) {
            // An integer literal is `integer` in DuckDB (and most warehouses), where
            // DataFusion makes it `bigint`: `select 1 as id` meets a contract of `integer`
            // (or any integer type its value fits), and is cast to it.
            if let Some(v) = integer_literal(df.logical_plan(), &fields[fi].0) {
                if fits_integer(&declared, v) {
                    casts.insert(fi, declared);
                    continue;
                }
            }
            rows.push([
                col.name.clone(),
                type_name(actual),
                declared_text.clone(),
                "data type mismatch".into(),
            ]);
        }
    }
    for (fi, (name, t)) in fields.iter().enumerate() {
        if !matched.contains_key(&fi) {
            rows.push([name.clone(), type_name(t), String::new(), "missing in contract".into()]);
        }
    }
    if !rows.is_empty() {
        return Err(ExecError::contract(mismatch_table(&rows)));
    }
    // The contract's order, with not-null columns declared and enforced.
    let mut exprs: Vec<Expr> = Vec::new();
    for col in &contract.columns {
        let (fi, (q, f)) = df
            .schema()
            .iter()
            .enumerate()
            .find(|(_, (_, f))| f.name() == &col.name)
            .or_else(|| df.schema().iter().enumerate().find(|(_, (_, f))| f.name().eq_ignore_ascii_case(&col.name)))
            .ok_or_else(|| ExecError::schema(format!("column `{}` vanished (this is a bug)", col.name)))?;
        let mut c = Expr::Column(Column::new(q.cloned(), f.name()));
        if let Some(t) = casts.get(&fi) {
            c = deltalake::datafusion::logical_expr::cast(c, t.clone());
        }
        exprs.push(if col.not_null {
            super::functions::not_null_udf(&col.name)
                .call(vec![c])
                .alias(&col.name)
        } else {
            super::functions::nullable_udf().call(vec![c]).alias(&col.name)
        });
    }
    df.select(exprs).map_err(ExecError::from)
}

/// The value of output column `name` of `plan` when it is an integer literal, looking
/// through projections, aliases and row filters (`select * from (select 1 as id)`).
fn integer_literal(plan: &LogicalPlan, name: &str) -> Option<i64> {
    match plan {
        LogicalPlan::Projection(p) => {
            let i = p.schema.fields().iter().position(|f| f.name() == name)?;
            match p.expr.get(i)?.clone().unalias_nested().data {
                Expr::Literal(ScalarValue::Int64(Some(v)), _) => Some(v),
                Expr::Column(c) => integer_literal(&p.input, &c.name),
                _ => None,
            }
        }
        LogicalPlan::SubqueryAlias(a) => integer_literal(&a.input, name),
        LogicalPlan::Filter(f) => integer_literal(&f.input, name),
        LogicalPlan::Sort(s) => integer_literal(&s.input, name),
        LogicalPlan::Limit(l) => integer_literal(&l.input, name),
        _ => None,
    }
}

/// Whether integer type `t` holds `v`.
fn fits_integer(t: &DataType, v: i64) -> bool {
    use DataType as D;
    match t {
        D::Int8 => i8::try_from(v).is_ok(),
        D::Int16 => i16::try_from(v).is_ok(),
        D::Int32 => i32::try_from(v).is_ok(),
        D::Int64 => true,
        D::UInt8 => u8::try_from(v).is_ok(),
        D::UInt16 => u16::try_from(v).is_ok(),
        D::UInt32 => u32::try_from(v).is_ok(),
        D::UInt64 => v >= 0,
        _ => false,
    }
}

fn mismatch_table(rows: &[[String; 4]]) -> String {
    let header = ["column_name", "definition_type", "contract_type", "mismatch_reason"];
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain(std::iter::once(header[i].len()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: [&str; 4]| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        format!("| {} |", padded.join(" | "))
    };
    let mut out = String::from(
        "This model has an enforced contract that failed.\nPlease ensure the name, data_type, and number of columns in your contract match the columns in your model's definition.\n\n",
    );
    out.push_str(&line(header));
    out.push('\n');
    let rules: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&format!("| {} |\n", rules.join(" | ")));
    for r in rows {
        out.push_str(&line([&r[0], &r[1], &r[2], &r[3]]));
        out.push('\n');
    }
    out.trim_end().to_owned()
}

/// Verifies the check and unique constraints on a relation (the staged new data).
pub async fn verify(session: &Session, relation: &str, contract: &Contract) -> Result<(), ExecError> {
    let count = |sql: String| async move {
        let df = session.query(&sql).await?;
        let batches = df
            .collect()
            .await?;
        use deltalake::arrow::array::AsArray;
        use deltalake::arrow::datatypes::Int64Type;
        Ok::<i64, ExecError>(
            batches
                .iter()
                .find(|b| b.num_rows() > 0)
                .map(|b| b.column(0).as_primitive::<Int64Type>().value(0))
                .unwrap_or(0),
        )
    };
    for (name, expr) in &contract.checks {
        let n = count(format!(
            "select count(*) from {relation} where not ({expr})"
        ))
        .await
        .map_err(|e| ExecError::contract(format!("check constraint `{name}` ({expr}) could not be evaluated: {e}")))?;
        if n > 0 {
            return Err(ExecError::contract(format!(
                "check constraint `{name}` ({expr}) is violated by {n} row{}",
                if n == 1 { "" } else { "s" }
            )));
        }
    }
    for (name, cols) in &contract.unique {
        let list: Vec<String> = cols.iter().map(|c| quote_ident(c)).collect();
        let list = list.join(", ");
        let n = count(format!(
            "select count(*) from (select {list} from {relation} group by {list} having count(*) > 1) d"
        ))
        .await?;
        if n > 0 {
            return Err(ExecError::contract(format!(
                "constraint `{name}` requires ({}) to be unique, but {n} value{} appear more than once",
                cols.join(", "),
                if n == 1 { "" } else { "s" }
            )));
        }
    }
    Ok(())
}

/// The check constraints a table should carry under `delta.constraints.*`.
pub fn delta_constraints(contract: &Contract) -> BTreeMap<String, String> {
    contract
        .checks
        .iter()
        .map(|(n, e)| (n.clone(), e.clone()))
        .collect()
}

fn table_constraints(
    table: &deltalake::DeltaTable,
    dir: &std::path::Path,
) -> Result<BTreeMap<String, String>, ExecError> {
    let snapshot = table
        .snapshot()
        .map_err(|e| ExecError::delta(dir, e))?;
    Ok(snapshot
        .metadata()
        .configuration()
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("delta.constraints.")
                .map(|n| (n.to_owned(), v.clone()))
        })
        .collect())
}

/// The table's check constraints that the contract does not have, or has changed. With an
/// enforced contract the table's constraints are the contract's.
pub fn stale_constraints(
    table: &deltalake::DeltaTable,
    contract: &Contract,
    dir: &std::path::Path,
) -> Result<Vec<String>, ExecError> {
    let wanted = delta_constraints(contract);
    Ok(table_constraints(table, dir)?
        .into_iter()
        .filter(|(n, e)| wanted.get(n).is_none_or(|w| w != e))
        .map(|(n, _)| n)
        .collect())
}

/// Drops check constraints from the table (one commit).
pub async fn drop_constraints(
    table: deltalake::DeltaTable,
    names: &[String],
    props: deltalake::kernel::transaction::CommitProperties,
    dir: &std::path::Path,
) -> Result<(), ExecError> {
    if names.is_empty() {
        return Ok(());
    }
    let mut b = table.drop_constraints().with_commit_properties(props);
    for n in names {
        b = b.with_constraint(n.clone());
    }
    b.await.map_err(|e| ExecError::delta(dir, e))?;
    Ok(())
}

/// Adds the contract's check constraints that the table lacks (one commit; Delta checks
/// the table's data against each one it adds).
pub async fn add_constraints(
    table: deltalake::DeltaTable,
    contract: &Contract,
    session: &Session,
    props: deltalake::kernel::transaction::CommitProperties,
    dir: &std::path::Path,
) -> Result<(), ExecError> {
    let existing = table_constraints(&table, dir)?;
    let wanted = delta_constraints(contract);
    let add: Vec<(&String, &String)> = wanted
        .iter()
        .filter(|(n, e)| existing.get(*n).is_none_or(|x| x != *e))
        .collect();
    if add.is_empty() {
        return Ok(());
    }
    let mut b = table
        .add_constraint()
        .with_session_state(session.state())
        .with_commit_properties(props);
    for (n, e) in add {
        b = b.with_constraint(n.clone(), e.clone());
    }
    b.await.map_err(|e| {
        ExecError::contract(format!(
            "cannot add the contract's check constraints to the Delta table: {}",
            super::error::clean_delta(&e)
        ))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::datatypes::TimeUnit;

    #[test]
    fn table_of_mismatches() {
        let t = mismatch_table(&[
            ["id".into(), "bigint".into(), "int".into(), "data type mismatch".into()],
            ["color".into(), "".into(), "varchar".into(), "missing in definition".into()],
        ]);
        assert!(t.contains("| id          | bigint          | int           | data type mismatch    |"), "{t}");
    }

    #[test]
    fn type_spellings() {
        assert!(same_type(&DataType::Utf8, &DataType::Utf8View, "string"));
        assert!(!same_type(&DataType::Int32, &DataType::Int64, "int"));
        assert!(same_type(
            &DataType::Timestamp(TimeUnit::Nanosecond, None),
            &DataType::Timestamp(TimeUnit::Microsecond, None),
            "timestamp"
        ));
    }
}
