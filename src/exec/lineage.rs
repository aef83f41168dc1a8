//! Column-level lineage: for each column a query returns, the columns of the relations it
//! reads that the value is computed from, traced through DataFusion's logical plan
//! (projections, filters, joins, aggregates, windows, unions, subquery aliases and CTEs).
//! A view or another model is a relation like any other: lineage stops at the relations a
//! query names, and the docs chain models together.

use std::collections::BTreeSet;

use deltalake::datafusion::logical_expr::{Expr, JoinType, LogicalPlan};

/// An upstream column: the relation as the plan names it (`schema.table`) and the column.
pub type Upstream = (String, String);

/// Each output column of `plan`, with the upstream columns it is computed from.
pub fn column_lineage(plan: &LogicalPlan) -> Vec<(String, BTreeSet<Upstream>)> {
    plan.schema()
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut out = BTreeSet::new();
            trace(plan, i, &mut out, 0);
            (f.name().clone(), out)
        })
        .collect()
}

/// The lineage of a model's compiled SQL, planned in `session` (not run).
pub async fn of_query(
    session: &super::Session,
    sql: &str,
) -> Result<Vec<(String, BTreeSet<Upstream>)>, super::ExecError> {
    let df = session.query(sql).await?;
    Ok(column_lineage(df.logical_plan()))
}

/// Adds the upstream columns of output column `i` of `plan` to `out`.
fn trace(plan: &LogicalPlan, i: usize, out: &mut BTreeSet<Upstream>, depth: usize) {
    // Plans are trees of modest depth; this guards against a pathological one.
    if depth > 256 {
        return;
    }
    match plan {
        LogicalPlan::TableScan(scan) => {
            if let Some(f) = scan.projected_schema.fields().get(i) {
                out.insert((scan.table_name.to_string(), f.name().clone()));
            }
        }
        LogicalPlan::Projection(p) => {
            if let Some(e) = p.expr.get(i) {
                trace_expr(e, &p.input, out, depth);
            }
        }
        LogicalPlan::Aggregate(a) => {
            let exprs: Vec<&Expr> = a.group_expr.iter().chain(a.aggr_expr.iter()).collect();
            if let Some(e) = exprs.get(i) {
                trace_expr(e, &a.input, out, depth);
            }
        }
        LogicalPlan::Window(w) => {
            let n = w.input.schema().fields().len();
            if i < n {
                trace(&w.input, i, out, depth + 1);
            } else if let Some(e) = w.window_expr.get(i - n) {
                trace_expr(e, &w.input, out, depth);
            }
        }
        LogicalPlan::Join(j) => {
            let n = j.left.schema().fields().len();
            match j.join_type {
                JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => trace(&j.left, i, out, depth + 1),
                JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => trace(&j.right, i, out, depth + 1),
                _ if i < n => trace(&j.left, i, out, depth + 1),
                _ => trace(&j.right, i - n, out, depth + 1),
            }
        }
        LogicalPlan::Union(u) => {
            for input in &u.inputs {
                trace(input, i, out, depth + 1);
            }
        }
        LogicalPlan::Unnest(u) => {
            // An unnested column comes from the list it unnests; others pass through by name.
            let name = plan.schema().field(i).name().clone();
            let input = &u.input;
            match input.schema().fields().iter().position(|f| *f.name() == name) {
                Some(j) => trace(input, j, out, depth + 1),
                None => {
                    for c in &u.exec_columns {
                        if let Some(j) = input.schema().maybe_index_of_column(c) {
                            trace(input, j, out, depth + 1);
                        }
                    }
                }
            }
        }
        LogicalPlan::Values(_) | LogicalPlan::EmptyRelation(_) => {}
        other => {
            // Filters, sorts, limits, distinct, aliases, repartitions...: the same columns as
            // their input.
            let inputs = other.inputs();
            if let [input] = inputs.as_slice()
                && input.schema().fields().len() == other.schema().fields().len()
            {
                trace(input, i, out, depth + 1);
            }
        }
    }
}

fn trace_expr(e: &Expr, input: &LogicalPlan, out: &mut BTreeSet<Upstream>, depth: usize) {
    for c in e.column_refs() {
        if let Some(j) = input.schema().maybe_index_of_column(c) {
            trace(input, j, out, depth + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::datafusion::prelude::SessionContext;
    use std::collections::BTreeMap;

    fn lineage(sql: &str) -> BTreeMap<String, Vec<String>> {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let ctx = SessionContext::new();
            for ddl in [
                "create table orders(id int, customer_id int, amount double, status varchar, placed_at timestamp) as values (1, 1, 2.0, 'ok', now())",
                "create table customers(id int, name varchar, country varchar) as values (1, 'a', 'fr')",
            ] {
                ctx.sql(ddl).await.unwrap().collect().await.unwrap();
            }
            let plan = ctx.state().create_logical_plan(sql).await.unwrap();
            column_lineage(&plan)
                .into_iter()
                .map(|(c, ups)| (c, ups.into_iter().map(|(t, c)| format!("{t}.{c}")).collect()))
                .collect()
        })
    }

    #[test]
    fn traces_columns_through_the_plan() {
        let l = lineage(
            "with paid as (select * from orders where status = 'ok')
             select c.name as customer, upper(c.country) as country, sum(p.amount * 2) as revenue,
                    count(*) as n, max(p.placed_at) as last_order, 'x' as constant,
                    rank() over (order by sum(p.amount)) as position
             from paid p join customers c on c.id = p.customer_id
             group by c.name, c.country",
        );
        assert_eq!(l["customer"], ["customers.name"]);
        assert_eq!(l["country"], ["customers.country"]);
        assert_eq!(l["revenue"], ["orders.amount"]);
        assert_eq!(l["last_order"], ["orders.placed_at"]);
        assert!(l["n"].is_empty(), "count(*) reads no column: {:?}", l["n"]);
        assert!(l["constant"].is_empty());
        assert_eq!(l["position"], ["orders.amount"]);
    }

    #[test]
    fn unions_and_case_expressions_take_every_branch() {
        let l = lineage(
            "select id, case when amount > 10 then status else 'small' end as label from orders
             union all
             select id, name from customers",
        );
        assert_eq!(l["id"], ["customers.id", "orders.id"]);
        assert_eq!(l["label"], ["customers.name", "orders.amount", "orders.status"]);
    }
}
