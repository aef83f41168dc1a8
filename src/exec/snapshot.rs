//! Snapshots: a query's rows kept as type-2 history, as dbt's snapshot materialization
//! keeps them. The first run writes every row as current (`dbt_valid_from` its time,
//! `dbt_valid_to` null); each later run computes dbt's staging rows (insertions of new and
//! changed rows, updates that end the versions they replace, deletes for rows gone from the
//! query when `hard_deletes` says so) and applies them in one Delta MERGE on `dbt_scd_id`.
//! The SQL is dbt's `snapshot_staging_table`, so a project's results match dbt's.

use std::path::Path;

use deltalake::datafusion::common::Column;
use deltalake::datafusion::prelude::col;
use deltalake::kernel::StructField;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;

use super::ExecError;
use super::materialize::{Context, Outcome};
use super::write::WriteMode;
use crate::compile::CompiledNode;
use crate::parse::{HardDeletes, ParsedNode, SnapshotConfig, SnapshotStrategy};
use crate::relation::quote_ident as q;

/// The time of the run, as dbt's `snapshot_get_time()`: a timestamp without zone.
const NOW: &str = "cast(now() as timestamp)";
const DEST: &str = "dbt_internal_dest";
const SOURCE: &str = "dbt_internal_source";

pub async fn run(ctx: &Context<'_>, node: &ParsedNode, compiled: &CompiledNode, dir: &Path) -> Result<Outcome, ExecError> {
    let cfg = node
        .config
        .snapshot
        .as_ref()
        .ok_or_else(|| ExecError::compile(format!("`{}` has no snapshot config (this is a bug)", node.node.name)))?;
    let source = ctx.session.query(&compiled.sql).await?;
    let source_cols: Vec<String> = source.schema().fields().iter().map(|f| f.name().clone()).collect();
    for k in &cfg.unique_key {
        if !source_cols.iter().any(|c| c.eq_ignore_ascii_case(k)) && !k.contains(['(', ' ', '|']) {
            return Err(ExecError::schema(format!(
                "snapshot `{}`: its `unique_key` column `{k}` is not a column of its query ({})",
                node.node.name,
                source_cols.join(", ")
            )));
        }
    }
    let sql = &compiled.sql;
    if !ctx.exists(dir).await {
        let df = ctx.session.query(&build_table_sql(cfg, sql)).await?;
        let df = ctx.nullable(df)?;
        let out = ctx.write(dir, df).with_mode(WriteMode::Replace).run().await?;
        ctx.session.invalidate(&node.relation.schema, &node.relation.identifier);
        return Ok(Outcome {
            message: format!("INSERT {}", out.rows.unwrap_or(0)),
            rows: out.rows,
            version: Some(out.version),
        });
    }
    let target_schema = ctx.arrow_schema(dir).await?;
    let existing: Vec<String> = target_schema.fields().iter().map(|f| f.name().clone()).collect();
    // New columns of the query join the snapshot first (dbt's `create_columns`).
    let missing: Vec<&deltalake::arrow::datatypes::Field> = source
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref())
        .filter(|f| !existing.iter().any(|e| e.eq_ignore_ascii_case(f.name())))
        .collect();
    let column_added = !missing.is_empty();
    if column_added {
        let mut fields = Vec::new();
        for f in missing {
            let f = deltalake::arrow::datatypes::Field::new(f.name(), f.data_type().clone(), true);
            let field: StructField = (&f)
                .try_into_kernel()
                .map_err(|e| ExecError::schema(format!("column `{}`: {e}", f.name())))?;
            fields.push(field);
        }
        ctx.open(dir)
            .await?
            .add_columns()
            .with_fields(fields)
            .with_commit_properties(ctx.commit_properties(dir))
            .await
            .map_err(|e| ExecError::delta(dir, e))?;
        ctx.session.invalidate(&node.relation.schema, &node.relation.identifier);
    }
    let check_cols: Vec<String> = match &cfg.strategy {
        SnapshotStrategy::Check { cols: None, .. } => source_cols.clone(),
        SnapshotStrategy::Check { cols: Some(c), .. } => c.clone(),
        SnapshotStrategy::Timestamp { .. } => Vec::new(),
    };
    let target = node.relation.render();
    let staging = staging_sql(cfg, sql, &target, &source_cols, &existing, &check_cols, column_added);
    let staged = ctx.session.query(&staging).await?;
    let staged_cols: Vec<String> = staged.schema().fields().iter().map(|f| f.name().clone()).collect();
    let c = &cfg.columns;
    let mut insert_cols: Vec<String> = existing.clone();
    for s in &source_cols {
        if !insert_cols.iter().any(|e| e.eq_ignore_ascii_case(s)) {
            insert_cols.push(s.clone());
        }
    }
    let insert_cols: Vec<String> = insert_cols.into_iter().filter(|n| staged_cols.contains(n)).collect();
    let source_col = |name: &str| col(Column::new(Some(SOURCE), name));
    // Only the current version ends. With `dbt_valid_to_current` that version's end is
    // what the staging rows carry from it (comparing with the configured SQL itself is an
    // expression Delta's commit log cannot record).
    let current = match &cfg.valid_to_current {
        Some(_) => format!(
            "({DEST}.{vt} = {SOURCE}.dbt_snapshotted_valid_to or {DEST}.{vt} is null)",
            vt = q(&c.valid_to)
        ),
        None => format!("{DEST}.{} is null", q(&c.valid_to)),
    };
    let update_when = format!("{current} and {SOURCE}.dbt_change_type in ('update', 'delete')");
    let insert_when = format!("{SOURCE}.dbt_change_type = 'insert'");
    let valid_to = c.valid_to.clone();
    let (table, metrics) = ctx
        .open(dir)
        .await?
        // Rows to insert never match: a new version whose `dbt_scd_id` equals an old one's
        // (a `check` change with the same `updated_at`) is inserted, as dbt's
        // update-then-insert does on DuckDB and Postgres.
        .merge(
            staged,
            format!(
                "{SOURCE}.{scd} = {DEST}.{scd} and {SOURCE}.dbt_change_type <> 'insert'",
                scd = q(&c.scd_id)
            ),
        )
        .with_source_alias(SOURCE)
        .with_target_alias(DEST)
        .with_commit_properties(ctx.commit_properties(dir))
        .with_session_state(ctx.session.state())
        .when_matched_update(|u| u.predicate(update_when).update(Column::new_unqualified(&valid_to), source_col(&valid_to)))
        .and_then(|b| {
            b.when_not_matched_insert(|i| {
                let mut i = i.predicate(insert_when);
                for name in &insert_cols {
                    i = i.set(Column::new_unqualified(name), source_col(name));
                }
                i
            })
        })
        .map_err(|e| ExecError::delta(dir, e))?
        .await
        .map_err(|e| ExecError::delta(dir, e))?;
    ctx.session.invalidate(&node.relation.schema, &node.relation.identifier);
    let changed = (metrics.num_target_rows_inserted + metrics.num_target_rows_updated) as u64;
    Ok(Outcome {
        message: format!("MERGE {changed}"),
        rows: Some(changed),
        version: table.version(),
    })
}

/// dbt's `snapshot_hash_arguments`: md5 of the arguments as text, joined by `|`.
fn hash(args: &[String]) -> String {
    let parts: Vec<String> = args.iter().map(|a| format!("coalesce(cast({a} as varchar), '')")).collect();
    format!("md5({})", parts.join(" || '|' || "))
}

/// The snapshot's `updated_at` expression: the column, or the run's time (`check`
/// without `updated_at`).
fn updated_at(cfg: &SnapshotConfig) -> String {
    match &cfg.strategy {
        SnapshotStrategy::Timestamp { updated_at } => updated_at.clone(),
        SnapshotStrategy::Check { updated_at: Some(u), .. } => u.clone(),
        SnapshotStrategy::Check { updated_at: None, .. } => NOW.to_owned(),
    }
}

fn scd_id(cfg: &SnapshotConfig) -> String {
    let mut args = cfg.unique_key.clone();
    args.push(updated_at(cfg));
    hash(&args)
}

/// dbt's `get_dbt_valid_to_current`.
fn valid_to_current(cfg: &SnapshotConfig) -> String {
    let u = updated_at(cfg);
    format!(
        "coalesce(nullif({u}, {u}), {}) as {}",
        cfg.valid_to_current.as_deref().unwrap_or("null"),
        q(&cfg.columns.valid_to)
    )
}

/// dbt's `build_snapshot_table`: the first run's rows.
fn build_table_sql(cfg: &SnapshotConfig, sql: &str) -> String {
    let c = &cfg.columns;
    let u = updated_at(cfg);
    let deleted = if cfg.hard_deletes == HardDeletes::NewRecord {
        format!(", 'False' as {}", q(&c.is_deleted))
    } else {
        String::new()
    };
    format!(
        "select *, {scd} as {scd_col}, {u} as {upd}, {u} as {from}, {to}{deleted} from (\n{sql}\n) sbq",
        scd = scd_id(cfg),
        scd_col = q(&c.scd_id),
        upd = q(&c.updated_at),
        from = q(&c.valid_from),
        to = valid_to_current(cfg),
    )
}

/// The names of the unique key's columns in the staging CTEs.
fn key_names(cfg: &SnapshotConfig) -> Vec<String> {
    if cfg.unique_key.len() == 1 {
        vec!["dbt_unique_key".to_owned()]
    } else {
        (1..=cfg.unique_key.len()).map(|i| format!("dbt_unique_key_{i}")).collect()
    }
}

fn key_fields(cfg: &SnapshotConfig) -> String {
    cfg.unique_key
        .iter()
        .zip(key_names(cfg))
        .map(|(k, n)| format!("{k} as {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn key_join(cfg: &SnapshotConfig, a: &str, b: &str) -> String {
    key_names(cfg).iter().map(|n| format!("{a}.{n} = {b}.{n}")).collect::<Vec<_>>().join(" and ")
}

fn key_is_null(cfg: &SnapshotConfig, a: &str) -> String {
    key_names(cfg).iter().map(|n| format!("{a}.{n} is null")).collect::<Vec<_>>().join(" and ")
}

fn key_is_not_null(cfg: &SnapshotConfig, a: &str) -> String {
    key_names(cfg).iter().map(|n| format!("{a}.{n} is not null")).collect::<Vec<_>>().join(" and ")
}

/// dbt's `row_changed` for the strategy.
fn row_changed(cfg: &SnapshotConfig, check_cols: &[String], existing: &[String], column_added: bool) -> String {
    match &cfg.strategy {
        SnapshotStrategy::Timestamp { updated_at } => {
            format!("(snapshotted_data.{} < source_data.{updated_at})", q(&cfg.columns.valid_from))
        }
        SnapshotStrategy::Check { .. } => {
            if column_added {
                return "(true)".to_owned();
            }
            let cols: Vec<String> = check_cols
                .iter()
                .filter(|c| existing.iter().any(|e| e.eq_ignore_ascii_case(c)))
                .map(|c| {
                    let (s, t) = (format!("snapshotted_data.{}", q(c)), format!("source_data.{}", q(c)));
                    format!("{s} != {t} or ((({s} is null) and not ({t} is null)) or ((not {s} is null) and ({t} is null)))")
                })
                .collect();
            if cols.is_empty() {
                "(false)".to_owned()
            } else {
                format!("({})", cols.join(" or "))
            }
        }
    }
}

/// dbt's `snapshot_staging_table`: the rows to insert (`insert`) and the versions to end
/// (`update`, `delete`), each with `dbt_change_type`.
fn staging_sql(
    cfg: &SnapshotConfig,
    sql: &str,
    target: &str,
    source_cols: &[String],
    existing: &[String],
    check_cols: &[String],
    column_added: bool,
) -> String {
    let c = &cfg.columns;
    let u = updated_at(cfg);
    let new_record = cfg.hard_deletes == HardDeletes::NewRecord;
    let deletes = cfg.hard_deletes != HardDeletes::Ignore;
    let changed = row_changed(cfg, check_cols, existing, column_added);
    let (vf, vt, upd, scd, del) = (q(&c.valid_from), q(&c.valid_to), q(&c.updated_at), q(&c.scd_id), q(&c.is_deleted));
    let current = match &cfg.valid_to_current {
        Some(v) => format!("({vt} = {v} or {vt} is null)"),
        None => format!("{vt} is null"),
    };
    let current_of = |rel: &str| match &cfg.valid_to_current {
        Some(v) => format!("{rel}.{vt} = {v}"),
        None => format!("{rel}.{vt} is null"),
    };
    let reinsert = if new_record { format!(" or snapshotted_data.{del} = 'True'") } else { String::new() };
    let keys = key_fields(cfg);
    let join = key_join(cfg, "snapshotted_data", "source_data");
    let mut out = format!(
        "with snapshot_query as (\n{sql}\n),
snapshotted_data as (
    select *, {keys} from {target} where {current}
),
insertions_source_data as (
    select *, {keys}, {u} as {upd}, {u} as {vf}, {vtc}, {scd_id} as {scd} from snapshot_query
),
updates_source_data as (
    select *, {keys}, {u} as {upd}, {u} as {vf}, {u} as {vt} from snapshot_query
),",
        vtc = valid_to_current(cfg),
        scd_id = scd_id(cfg),
    );
    if deletes {
        out.push_str(&format!("\ndeletes_source_data as (\n    select *, {keys} from snapshot_query\n),"));
    }
    out.push_str(&format!(
        "
insertions as (
    select 'insert' as dbt_change_type, source_data.*{ins_deleted}, snapshotted_data.{vt} as dbt_snapshotted_valid_to
    from insertions_source_data as source_data
    left outer join snapshotted_data on {join}
    where {null_snap} or ({not_null_snap} and ({changed}{reinsert}))
),
updates as (
    select 'update' as dbt_change_type, source_data.*, snapshotted_data.{scd}{upd_deleted}, snapshotted_data.{vt} as dbt_snapshotted_valid_to
    from updates_source_data as source_data
    join snapshotted_data on {join}
    where ({changed}{reinsert})
)",
        ins_deleted = if new_record { format!(", 'False' as {del}") } else { String::new() },
        upd_deleted = if new_record { format!(", snapshotted_data.{del}") } else { String::new() },
        null_snap = key_is_null(cfg, "snapshotted_data"),
        not_null_snap = key_is_not_null(cfg, "snapshotted_data"),
    ));
    let not_already_deleted = format!(
        " and not (snapshotted_data.{del} = 'True' and {})",
        current_of("snapshotted_data")
    );
    if deletes {
        out.push_str(&format!(
            ",
deletes as (
    select 'delete' as dbt_change_type, source_data.*, {NOW} as {vf}, {NOW} as {upd}, {NOW} as {vt}, snapshotted_data.{scd}{del_deleted}, snapshotted_data.{vt} as dbt_snapshotted_valid_to
    from snapshotted_data
    left join deletes_source_data as source_data on {join}
    where {null_source}{guard}
)",
            del_deleted = if new_record { format!(", snapshotted_data.{del}") } else { String::new() },
            null_source = key_is_null(cfg, "source_data"),
            guard = if new_record { not_already_deleted.clone() } else { String::new() },
        ));
    }
    if new_record {
        let cols: Vec<String> = source_cols
            .iter()
            .map(|s| {
                if existing.iter().any(|e| e == s) {
                    format!("snapshotted_data.{}", q(s))
                } else {
                    format!("source_data.{}", q(s))
                }
            })
            .collect();
        let key_cols: Vec<String> = key_names(cfg).iter().map(|n| format!("snapshotted_data.{n} as {n}")).collect();
        out.push_str(&format!(
            ",
deletion_records as (
    select 'insert' as dbt_change_type, {cols}, {key_cols}, {NOW} as {vf}, {NOW} as {upd}, snapshotted_data.{vt} as {vt}, {new_scd} as {scd}, 'True' as {del}, snapshotted_data.{vt} as dbt_snapshotted_valid_to
    from snapshotted_data
    left join deletes_source_data as source_data on {join}
    where {null_source}{not_already_deleted}
)",
            cols = cols.join(", "),
            key_cols = key_cols.join(", "),
            new_scd = hash(&[format!("snapshotted_data.{scd}"), NOW.to_owned()]),
            null_source = key_is_null(cfg, "source_data"),
        ));
    }
    out.push_str("\nselect * from insertions\nunion all\nselect * from updates");
    if deletes {
        out.push_str("\nunion all\nselect * from deletes");
    }
    if new_record {
        out.push_str("\nunion all\nselect * from deletion_records");
    }
    out
}
