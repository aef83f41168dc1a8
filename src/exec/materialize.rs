//! Materializations: how a compiled model becomes a view or a Delta table.
//!
//! | materialized | what happens |
//! |---|---|
//! | view | the SQL is planned (so errors surface) and registered; nothing is written |
//! | table | the result replaces the table, schema included, as one new Delta version |
//! | incremental | first run and `--full-refresh` as table; then append, merge, delete+insert or insert_overwrite of the new rows, after `on_schema_change` |
//! | streaming_table | the query reads only the versions its streamed upstreams (Kafka sources, streaming tables) appended since its last run, and appends its result in one commit that records the upstream versions consumed (`txn` actions): exactly once; first run and `--full-refresh` read everything and replace |
//!
//! Incremental writes are single commits too: delete+insert is one MERGE whose source
//! carries both the keys to delete and the rows to insert.

use std::path::Path;
use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, SchemaRef};
use deltalake::datafusion::common::Column;
use deltalake::datafusion::dataframe::DataFrame;
use deltalake::datafusion::logical_expr::{Expr, ExprSchemable, cast, lit};

use super::ExecError;
use super::session::Session;
use super::contract::Contract;
use super::stage::Stage;
use super::storage;
use super::write::{TableWrite, WriteMode, WriteOutcome};
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::merge::{InsertBuilder, MergeBuilder, MergeMetrics};
use crate::compile::CompiledNode;
use crate::parse::{IncrementalStrategy, Materialization, OnSchemaChange, ParsedNode};

/// What a materialization needs from the run.
pub struct Context<'a> {
    pub session: &'a Session,
    pub warehouse: &'a Path,
    pub full_refresh: bool,
    /// When the node's new data is audited before it is published, its table's commits
    /// go to this stage (see [`super::stage`]).
    pub stage: Option<&'a Stage>,
    /// The node's enforced contract, if any: its not-null columns stay not null.
    pub contract: Option<&'a Contract>,
    /// For a streaming table: the upstreams it reads as streams.
    pub streams: Vec<Streamed>,
}

/// An upstream a streaming table reads as a stream.
#[derive(Debug, Clone)]
pub struct Streamed {
    pub unique_id: String,
    pub relation: crate::relation::Relation,
}

impl<'a> Context<'a> {
    /// [`nullable`], except for the contract's not-null columns.
    pub fn nullable(&self, df: DataFrame) -> Result<DataFrame, ExecError> {
        let keep: Vec<&str> = self
            .contract
            .map(|c| {
                c.columns
                    .iter()
                    .filter(|c| c.not_null)
                    .map(|c| c.name.as_str())
                    .collect()
            })
            .unwrap_or_default();
        nullable_except(df, &keep)
    }

    fn staged(&self, dir: &Path) -> Option<&'a Stage> {
        self.stage.filter(|s| s.dir() == dir)
    }

    /// Plans the model's query, held to its contract when it has one.
    pub async fn query(&self, node: &ParsedNode, sql: &str) -> Result<DataFrame, ExecError> {
        let df = self.session.query(sql).await?;
        match self.contract {
            Some(c) => super::contract::conform(self.session, node, c, df).await,
            None => Ok(df),
        }
    }

    /// The table in `dir` at its latest version (staged commits included).
    pub async fn open(&self, dir: &Path) -> Result<deltalake::DeltaTable, ExecError> {
        match self.staged(dir) {
            Some(s) => s.open().await,
            None => storage::open(dir).await,
        }
    }

    /// Whether the table in `dir` exists (staged commits included).
    pub async fn exists(&self, dir: &Path) -> bool {
        match self.staged(dir) {
            Some(s) => s.exists().await,
            None => storage::exists(dir),
        }
    }

    pub async fn arrow_schema(&self, dir: &Path) -> Result<SchemaRef, ExecError> {
        let table = self.open(dir).await?;
        let snapshot = table.snapshot().map_err(|e| ExecError::delta(dir, e))?;
        Ok(snapshot.snapshot().arrow_schema())
    }

    /// A write of `df` into the table in `dir`, staged when the table is.
    pub fn write<'b>(&'b self, dir: &'b Path, df: DataFrame) -> TableWrite<'b> {
        TableWrite::new(self.session, dir, df)
            .with_stage(self.staged(dir))
            .with_commit_properties(self.commit_properties(dir))
    }

    /// Commit properties for operations on `dir`: a staged commit neither checkpoints
    /// nor cleans up the log (it is not the table's log yet).
    pub fn commit_properties(&self, dir: &Path) -> CommitProperties {
        let props = CommitProperties::default();
        if self.staged(dir).is_some() {
            props
                .with_create_checkpoint(false)
                .with_cleanup_expired_logs(Some(false))
        } else {
            props
        }
    }
}

/// What a materialization did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `OK`, `INSERT 3`...
    pub message: String,
    pub rows: Option<u64>,
    pub version: Option<u64>,
}

impl Outcome {
    fn ok(w: WriteOutcome) -> Outcome {
        Outcome {
            message: "OK".into(),
            rows: w.rows,
            version: Some(w.version),
        }
    }
}

/// The merge aliases dbt uses, so `incremental_predicates` written for dbt work here.
/// Lowercase, because unquoted identifiers are lowered when planned.
pub const DEST: &str = "dbt_internal_dest";
pub const SOURCE: &str = "dbt_internal_source";
const OP_COLUMN: &str = "__silt_op";

pub async fn execute(
    ctx: &Context<'_>,
    node: &ParsedNode,
    compiled: &CompiledNode,
) -> Result<Outcome, ExecError> {
    let dir = node.relation.path(ctx.warehouse);
    match node.config.materialized {
        Materialization::View => {
            ctx.session.register_view(
                &node.relation.schema,
                &node.relation.identifier,
                &compiled.sql,
            );
            // Planning checks the SQL against the current tables without running it.
            let df = ctx.session.query(&compiled.sql).await?;
            if let Some(contract) = ctx.contract {
                super::contract::conform(ctx.session, node, contract, df).await?;
            }
            Ok(Outcome {
                message: "OK".into(),
                rows: None,
                version: None,
            })
        }
        Materialization::Table => {
            let df = ctx.query(node, &compiled.sql).await?;
            let out = replace(ctx, node, &dir, df).await?;
            Ok(Outcome::ok(out))
        }
        Materialization::Incremental => incremental(ctx, node, compiled, &dir).await,
        Materialization::StreamingTable => streaming_table(ctx, node, compiled, &dir).await,
        Materialization::Snapshot => super::snapshot::run(ctx, node, compiled, &dir).await,
        Materialization::Ephemeral | Materialization::Analysis => Ok(Outcome {
            message: "OK".into(),
            rows: None,
            version: None,
        }),
        other => Err(ExecError::compile(format!(
            "`{}` cannot be run as a model",
            other.as_str()
        ))),
    }
}

async fn replace(
    ctx: &Context<'_>,
    node: &ParsedNode,
    dir: &Path,
    df: DataFrame,
) -> Result<WriteOutcome, ExecError> {
    let df = ctx.nullable(df)?;
    let out = ctx.write(dir, df)
        .with_mode(WriteMode::Replace)
        .with_partition_by(node.config.partition_by.clone())
        .run()
        .await;
    ctx.session
        .invalidate(&node.relation.schema, &node.relation.identifier);
    out
}

/// Makes every column of a result nullable: a table created from `select 1 as x` would
/// otherwise get a NOT NULL column, and the next incremental run with a null would fail.
pub fn nullable(df: DataFrame) -> Result<DataFrame, ExecError> {
    nullable_except(df, &[])
}

/// [`nullable`], leaving the columns in `keep` as they are.
fn nullable_except(df: DataFrame, keep: &[&str]) -> Result<DataFrame, ExecError> {
    let stays = |f: &deltalake::arrow::datatypes::Field| f.is_nullable() || keep.contains(&f.name().as_str());
    if df.schema().fields().iter().all(|f| stays(f)) {
        return Ok(df);
    }
    let udf = super::functions::nullable_udf();
    let exprs: Vec<Expr> = df
        .schema()
        .iter()
        .map(|(q, f)| {
            let c = Expr::Column(Column::new(q.cloned(), f.name()));
            if stays(f) {
                c
            } else {
                udf.call(vec![c]).alias(f.name())
            }
        })
        .collect();
    df.select(exprs)
        .map_err(ExecError::from)
}

async fn incremental(
    ctx: &Context<'_>,
    node: &ParsedNode,
    compiled: &CompiledNode,
    dir: &Path,
) -> Result<Outcome, ExecError> {
    let full = node.config.refreshes_fully(ctx.full_refresh);
    if !ctx.exists(dir).await || full || !compiled.is_incremental {
        let df = ctx.query(node, &compiled.sql).await?;
        return Ok(Outcome::ok(replace(ctx, node, dir, df).await?));
    }
    if let Some(d) = &node.config.strategy_error {
        return Err(ExecError::diagnostic(d));
    }
    let target = ctx.arrow_schema(dir).await?;
    let df = ctx.query(node, &compiled.sql).await?;
    let mode = node.config.on_schema_change;
    let diff = SchemaDiff::new(&target, &df);
    let strategy = node.config.incremental_strategy;
    let keys = &node.config.unique_key;
    for k in keys {
        if !diff.source.iter().any(|(n, _)| n == k) {
            return Err(ExecError::schema(format!(
                "unique_key column `{k}` is not in the model's result"
            )));
        }
    }
    if mode == OnSchemaChange::SyncAllColumns && diff.changed() {
        return sync_all_columns(ctx, node, dir, df, strategy, keys).await;
    }
    let (source, merge_schema) = match mode {
        OnSchemaChange::Fail if diff.changed() => return Err(ExecError::schema(diff.fail_message())),
        OnSchemaChange::AppendNewColumns | OnSchemaChange::SyncAllColumns => {
            (project_onto(df, &target, true)?, !diff.added.is_empty())
        }
        _ => {
            if let Some(missing) = diff.removed.first() {
                return Err(ExecError::schema(format!(
                    "column `{missing}` of the existing table is not in the model's new rows; with `on_schema_change: ignore` new rows must have every column of the table (set `on_schema_change: append_new_columns` or run with --full-refresh)"
                )));
            }
            (project_onto(df, &target, false)?, false)
        }
    };
    let out = match (strategy, keys.is_empty()) {
        (IncrementalStrategy::Append, _)
        | (IncrementalStrategy::DeleteInsert, true)
        | (IncrementalStrategy::Merge, true) => {
            let mode = if merge_schema {
                WriteMode::AppendMergeSchema
            } else {
                WriteMode::Append
            };
            Outcome::ok(
                ctx.write(dir, ctx.nullable(source)?)
                    .with_mode(mode)
                    .run()
                    .await?,
            )
        }
        (IncrementalStrategy::Merge, false) => merge(ctx, node, dir, source, keys, merge_schema).await?,
        (IncrementalStrategy::DeleteInsert, false) => {
            delete_insert(ctx, node, dir, source, keys, merge_schema).await?
        }
        (IncrementalStrategy::InsertOverwrite, _) => insert_overwrite(ctx, node, dir, source).await?,
    };
    ctx.session
        .invalidate(&node.relation.schema, &node.relation.identifier);
    Ok(out)
}

/// The app id under which a streaming table records what it consumed of an upstream.
pub fn stream_app_id(upstream: &str) -> String {
    format!("silt-stream:{upstream}")
}

async fn streaming_table(
    ctx: &Context<'_>,
    node: &ParsedNode,
    compiled: &CompiledNode,
    dir: &Path,
) -> Result<Outcome, ExecError> {
    use deltalake::kernel::Transaction;
    if ctx.streams.is_empty() {
        return Err(ExecError::compile(format!(
            "`{}` is a streaming_table but reads no Kafka source and no streaming table: there is nothing to stream from (use `table` or `incremental`)",
            node.node.name
        )));
    }
    let mut full = node.config.refreshes_fully(ctx.full_refresh) || !ctx.exists(dir).await;
    // What the last run consumed of each upstream (nothing on a first run).
    let mut afters: Vec<Option<i64>> = vec![None; ctx.streams.len()];
    if !full {
        let t = ctx.open(dir).await?;
        let snapshot = t.snapshot().map_err(|e| ExecError::delta(dir, e))?;
        for (after, s) in afters.iter_mut().zip(&ctx.streams) {
            *after = snapshot
                .transaction_version(t.log_store().as_ref(), stream_app_id(&s.unique_id))
                .await
                .map_err(|e| ExecError::delta(dir, e))?;
        }
        // A table that records no stream position (it was built by another
        // materialization) is rebuilt as on a first run.
        full = afters.iter().all(Option::is_none);
    }
    let mut overrides = Vec::new();
    let mut txns = Vec::new();
    let mut read: Option<u64> = Some(0);
    let mut anything_new = full;
    for (s, after) in ctx.streams.iter().zip(afters) {
        let up = s.relation.path(ctx.warehouse);
        if !storage::exists(&up) {
            return Err(ExecError::schema(format!(
                "`{}` streams from `{}.{}`, which has no table yet (ingest or build it first)",
                node.node.name, s.relation.schema, s.relation.identifier
            )));
        }
        let stream = super::stream::plan(&up, after).await?;
        let range = stream.range;
        anything_new |= !range.is_empty();
        read = read.zip(range.rows).map(|(a, b)| a + b);
        let provider = stream.provider(ctx.session).await?;
        overrides.push(((s.relation.schema.clone(), s.relation.identifier.clone()), provider));
        txns.push(Transaction::new(stream_app_id(&s.unique_id), range.to));
    }
    if !anything_new {
        // Nothing appended upstream since the last run: no new version.
        return Ok(Outcome {
            message: "OK (nothing new)".into(),
            rows: Some(0),
            version: None,
        });
    }
    let session = ctx.session.derive(overrides)?;
    let df = session.query(&compiled.sql).await?;
    let df = match ctx.contract {
        Some(c) => super::contract::conform(&session, node, c, df).await?,
        None => df,
    };
    let props = ctx.commit_properties(dir).with_application_transactions(txns);
    let out = if full {
        ctx.write(dir, ctx.nullable(df)?)
            .with_mode(WriteMode::Replace)
            .with_partition_by(node.config.partition_by.clone())
            .with_commit_properties(props)
            .run()
            .await?
    } else {
        let target = ctx.arrow_schema(dir).await?;
        let diff = SchemaDiff::new(&target, &df);
        if diff.changed() {
            return Err(ExecError::schema(format!(
                "{} (a streaming table keeps its columns between runs: run with --full-refresh to rebuild it)",
                diff.fail_message()
            )));
        }
        ctx.write(dir, ctx.nullable(project_onto(df, &target, false)?)?)
            .with_mode(WriteMode::Append)
            .with_commit_properties(props)
            .run()
            .await?
    };
    ctx.session
        .invalidate(&node.relation.schema, &node.relation.identifier);
    let mut outcome = Outcome::ok(out);
    if let (Some(n), false) = (read, full) {
        outcome.message = format!("OK (read {n} new rows)");
    }
    Ok(outcome)
}

/// Types compared loosely: string and binary encodings are the same type, and timestamps
/// of any unit.
fn normalize(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::Dictionary(_, v) => normalize(v),
        // Delta stores timestamps in microseconds whatever unit the plan has.
        DataType::Timestamp(_, tz) => DataType::Timestamp(deltalake::arrow::datatypes::TimeUnit::Microsecond, tz.clone()),
        other => other.clone(),
    }
}

/// How a model's new rows differ from its table.
struct SchemaDiff {
    source: Vec<(String, DataType)>,
    added: Vec<String>,
    removed: Vec<String>,
    retyped: Vec<(String, DataType, DataType)>,
}

impl SchemaDiff {
    fn new(target: &SchemaRef, df: &DataFrame) -> SchemaDiff {
        let source: Vec<(String, DataType)> = df
            .schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect();
        let added = source
            .iter()
            .filter(|(n, _)| target.field_with_name(n).is_err())
            .map(|(n, _)| n.clone())
            .collect();
        let removed = target
            .fields()
            .iter()
            .filter(|f| !source.iter().any(|(n, _)| n == f.name()))
            .map(|f| f.name().clone())
            .collect();
        let retyped = source
            .iter()
            .filter_map(|(n, t)| {
                let tf = target.field_with_name(n).ok()?;
                (normalize(t) != normalize(tf.data_type()))
                    .then(|| (n.clone(), normalize(tf.data_type()), normalize(t)))
            })
            .collect();
        SchemaDiff {
            source,
            added,
            removed,
            retyped,
        }
    }

    fn changed(&self) -> bool {
        !self.added.is_empty() || !self.removed.is_empty() || !self.retyped.is_empty()
    }

    fn fail_message(&self) -> String {
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let retyped: Vec<String> = self
            .retyped
            .iter()
            .map(|(n, from, to)| format!("`{n}` ({from} -> {to})"))
            .collect();
        format!(
            "The source and target schemas on this incremental model are out of sync (on_schema_change: fail).\n\
             Source columns not in target: {}\n\
             Target columns not in source: {}\n\
             New column types: {}\n\
             Set `on_schema_change` to append_new_columns or sync_all_columns, or rebuild the table with --full-refresh.",
            list(&self.added),
            list(&self.removed),
            if retyped.is_empty() {
                "none".to_owned()
            } else {
                retyped.join(", ")
            }
        )
    }
}

/// The new rows shaped for the table: its columns, in its order, cast to its types; with
/// `keep_new`, columns the table lacks are kept (for schema evolution) and columns missing
/// from the rows are null.
fn project_onto(df: DataFrame, target: &SchemaRef, keep_new: bool) -> Result<DataFrame, ExecError> {
    let source_names: Vec<(
        Option<deltalake::datafusion::common::TableReference>,
        String,
    )> = df
        .schema()
        .iter()
        .map(|(q, f)| (q.cloned(), f.name().clone()))
        .collect();
    let find = |name: &str| source_names.iter().find(|(_, n)| n == name).cloned();
    let mut exprs = Vec::new();
    for f in target.fields() {
        match find(f.name()) {
            Some((q, n)) => {
                let c = Expr::Column(Column::new(q, n));
                let t = c
                    .get_type(df.schema())?;
                let e = if normalize(&t) == normalize(f.data_type()) {
                    c
                } else {
                    cast(c, f.data_type().clone())
                };
                exprs.push(e.alias(f.name()));
            }
            None => exprs.push(
                cast(
                    lit(deltalake::datafusion::common::ScalarValue::Null),
                    f.data_type().clone(),
                )
                .alias(f.name()),
            ),
        }
    }
    if keep_new {
        for (q, n) in &source_names {
            if target.field_with_name(n).is_err() {
                exprs.push(Expr::Column(Column::new(q.clone(), n)).alias(n));
            }
        }
    }
    df.select(exprs)
        .map_err(ExecError::from)
}

/// The merge condition: keys equal, then each `incremental_predicates` entry (SQL that
/// refers to `DBT_INTERNAL_DEST` and `DBT_INTERNAL_SOURCE`, as in dbt).
fn merge_predicate(node: &ParsedNode, keys: &[String], extra: Option<&str>) -> String {
    let q = crate::relation::quote_ident;
    let mut parts: Vec<String> = keys
        .iter()
        .map(|k| format!("{}.{} = {}.{}", q(DEST), q(k), q(SOURCE), q(k)))
        .collect();
    if let Some(e) = extra {
        parts.push(e.to_owned());
    }
    for p in extra_predicates(node) {
        parts.push(format!("({})", quote_aliases(&p)));
    }
    if parts.is_empty() {
        "false".to_owned()
    } else {
        parts.join(" AND ")
    }
}

fn qualified(alias: &str, column: &str) -> Expr {
    Expr::Column(Column::new(Some(alias), column))
}

/// Delta parses merge predicates case-sensitively, so dbt's `DBT_INTERNAL_DEST.x` (written
/// in any case) is quoted to the aliases' real spelling.
fn quote_aliases(predicate: &str) -> String {
    let mut out = String::with_capacity(predicate.len());
    let mut rest = predicate;
    'outer: while !rest.is_empty() {
        for alias in [DEST, SOURCE] {
            if rest.len() >= alias.len() && rest[..alias.len()].eq_ignore_ascii_case(alias) {
                let before_ok = out
                    .chars()
                    .last()
                    .is_none_or(|c| !c.is_alphanumeric() && c != '_' && c != '"');
                let after_ok = rest[alias.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| !c.is_alphanumeric() && c != '_');
                if before_ok && after_ok {
                    out.push_str(&crate::relation::quote_ident(alias));
                    rest = &rest[alias.len()..];
                    continue 'outer;
                }
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn extra_predicates(node: &ParsedNode) -> Vec<String> {
    let c = &node.config;
    c.incremental_predicates.iter().chain(&c.predicates).cloned().collect()
}

/// MERGEs `source` into the table in `dir` on `predicate` (with the aliases dbt's
/// predicates use), as `clauses` says, in one commit.
async fn merge_into(
    ctx: &Context<'_>,
    dir: &Path,
    source: DataFrame,
    predicate: String,
    merge_schema: bool,
    clauses: impl FnOnce(MergeBuilder) -> deltalake::DeltaResult<MergeBuilder>,
) -> Result<Outcome, ExecError> {
    let builder = ctx
        .open(dir)
        .await?
        .merge(source, predicate)
        .with_source_alias(SOURCE)
        .with_target_alias(DEST)
        .with_merge_schema(merge_schema)
        .with_commit_properties(ctx.commit_properties(dir))
        .with_session_state(ctx.session.state());
    let (table, metrics) = clauses(builder)
        .map_err(|e| ExecError::delta(dir, e))?
        .await
        .map_err(|e| ExecError::delta(dir, e))?;
    Ok(merged(&table, &metrics))
}

/// Inserts every one of `columns` from the source.
fn insert_all(mut i: InsertBuilder, columns: &[String]) -> InsertBuilder {
    for c in columns {
        i = i.set(Column::new_unqualified(c), qualified(SOURCE, c));
    }
    i
}

/// What a MERGE did: the rows it inserted, updated or deleted.
fn merged(table: &deltalake::DeltaTable, m: &MergeMetrics) -> Outcome {
    Outcome {
        message: "OK".into(),
        rows: Some((m.num_target_rows_inserted + m.num_target_rows_updated + m.num_target_rows_deleted) as u64),
        version: table.version(),
    }
}

async fn merge(
    ctx: &Context<'_>,
    node: &ParsedNode,
    dir: &Path,
    source: DataFrame,
    keys: &[String],
    merge_schema: bool,
) -> Result<Outcome, ExecError> {
    let columns: Vec<String> = source
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let (update_only, exclude) = (&node.config.merge_update_columns, &node.config.merge_exclude_columns);
    let updated: Vec<String> = columns
        .iter()
        .filter(|c| update_only.is_empty() || update_only.contains(c))
        .filter(|c| !exclude.contains(c))
        .cloned()
        .collect();
    let predicate = merge_predicate(node, keys, None);
    merge_into(ctx, dir, ctx.nullable(source)?, predicate, merge_schema, |b| {
        b.when_matched_update(|mut u| {
            for c in &updated {
                u = u.update(Column::new_unqualified(c), qualified(SOURCE, c));
            }
            u
        })?
        .when_not_matched_insert(|i| insert_all(i, &columns))
    })
    .await
}

/// delete+insert as one MERGE: the source holds each distinct key once, marked `del`
/// (matching rows are deleted), and every new row, marked `ins` (never matching, so
/// inserted, duplicates included, as dbt's `delete ... ; insert ...` does).
async fn delete_insert(
    ctx: &Context<'_>,
    node: &ParsedNode,
    dir: &Path,
    source: DataFrame,
    keys: &[String],
    merge_schema: bool,
) -> Result<Outcome, ExecError> {
    let fields: Vec<(String, DataType)> = source
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    let inserts = source
        .clone()
        .with_column(OP_COLUMN, lit("ins"))?;
    let key_exprs: Vec<Expr> = keys
        .iter()
        .map(|k| Expr::Column(Column::new_unqualified(k)))
        .collect();
    let deletes = source
        .select(key_exprs)?
        .distinct()?;
    let mut del_exprs = Vec::new();
    for (name, t) in &fields {
        if keys.contains(name) {
            del_exprs.push(Expr::Column(Column::new_unqualified(name)));
        } else {
            del_exprs.push(
                cast(
                    lit(deltalake::datafusion::common::ScalarValue::Null),
                    t.clone(),
                )
                .alias(name),
            );
        }
    }
    del_exprs.push(lit("del").alias(OP_COLUMN));
    let deletes = deletes.select(del_exprs)?;
    let combined = ctx.nullable(inserts.union(deletes)?)?;
    let op = format!(
        "{}.{} = 'del'",
        crate::relation::quote_ident(SOURCE),
        crate::relation::quote_ident(OP_COLUMN)
    );
    let predicate = merge_predicate(node, keys, Some(&op));
    let columns: Vec<String> = fields.iter().map(|(n, _)| n.clone()).collect();
    merge_into(ctx, dir, combined, predicate, merge_schema, |b| {
        b.when_matched_delete(|d| d)?
            .when_not_matched_insert(|i| insert_all(i.predicate(qualified(SOURCE, OP_COLUMN).eq(lit("ins"))), &columns))
    })
    .await
}

/// Replaces the partitions that the new rows touch (Delta's `replaceWhere`).
async fn insert_overwrite(
    ctx: &Context<'_>,
    node: &ParsedNode,
    dir: &Path,
    source: DataFrame,
) -> Result<Outcome, ExecError> {
    let parts = &node.config.partition_by;
    if parts.is_empty() {
        return Err(ExecError::schema(
            "incremental strategy `insert_overwrite` needs `partition_by`",
        ));
    }
    let keys = source
        .clone()
        .select(
            parts
                .iter()
                .map(|p| Expr::Column(Column::new_unqualified(p)))
                .collect::<Vec<_>>(),
        )?
        .distinct()?
        .collect()
        .await?;
    let mut disjuncts = Vec::new();
    for batch in &keys {
        for row in 0..batch.num_rows() {
            let mut conj = Vec::new();
            for (i, p) in parts.iter().enumerate() {
                let value = deltalake::datafusion::common::ScalarValue::try_from_array(
                    batch.column(i),
                    row,
                )?;
                conj.push(if value.is_null() {
                    format!("{} IS NULL", crate::relation::quote_ident(p))
                } else {
                    format!(
                        "{} = {}",
                        crate::relation::quote_ident(p),
                        sql_literal(&value)
                    )
                });
            }
            disjuncts.push(format!("({})", conj.join(" AND ")));
        }
    }
    if disjuncts.is_empty() {
        let table = ctx.open(dir).await?;
        return Ok(Outcome {
            message: "OK".into(),
            rows: Some(0),
            version: table.version(),
        });
    }
    let predicate = disjuncts.join(" OR ");
    let out = ctx.write(dir, ctx.nullable(source)?)
        .with_mode(WriteMode::ReplaceData)
        .with_replace_where(Some(predicate))
        .run()
        .await?;
    Ok(Outcome::ok(out))
}

fn sql_literal(v: &deltalake::datafusion::common::ScalarValue) -> String {
    use deltalake::datafusion::common::ScalarValue as S;
    match v {
        S::Utf8(Some(s)) | S::Utf8View(Some(s)) | S::LargeUtf8(Some(s)) => {
            format!("'{}'", s.replace('\'', "''"))
        }
        S::Date32(_) | S::Date64(_) => format!("'{v}'"),
        S::TimestampSecond(..)
        | S::TimestampMillisecond(..)
        | S::TimestampMicrosecond(..)
        | S::TimestampNanosecond(..) => format!("'{v}'"),
        S::Boolean(Some(b)) => b.to_string(),
        S::Dictionary(_, inner) => sql_literal(inner),
        other => other.to_string(),
    }
}

/// `on_schema_change: sync_all_columns` with a changed schema: the table is rewritten in
/// one commit as its existing rows on the new schema plus the new rows.
async fn sync_all_columns(
    ctx: &Context<'_>,
    node: &ParsedNode,
    dir: &Path,
    source: DataFrame,
    strategy: IncrementalStrategy,
    keys: &[String],
) -> Result<Outcome, ExecError> {
    // The rewrite reproduces each strategy as "existing rows not replaced, plus the new
    // rows"; options that change which columns or rows a merge touches cannot be.
    let c = &node.config;
    for (key, set) in [
        ("merge_update_columns", &c.merge_update_columns),
        ("merge_exclude_columns", &c.merge_exclude_columns),
        ("incremental_predicates", &c.incremental_predicates),
        ("predicates", &c.predicates),
    ] {
        if !set.is_empty() {
            return Err(ExecError::schema(format!(
                "`on_schema_change: sync_all_columns` cannot be combined with `{key}`: use `append_new_columns`, or rebuild with --full-refresh"
            )));
        }
    }
    let keys: &[String] = if strategy == IncrementalStrategy::InsertOverwrite {
        &node.config.partition_by
    } else {
        keys
    };
    let source_schema: SchemaRef = Arc::new(source.schema().as_arrow().clone());
    let table = ctx.open(dir).await?;
    let provider = table.table_provider().await?;
    let existing = ctx.session.context().read_table(provider)?;
    let mut existing = project_onto(existing, &source_schema, false)?;
    if strategy != IncrementalStrategy::Append && !keys.is_empty() {
        let key_cols: Vec<Expr> = keys
            .iter()
            .map(|k| Expr::Column(Column::new_unqualified(k)))
            .collect();
        let new_keys = source
            .clone()
            .select(key_cols)?
            .distinct()?;
        existing = existing
            .join(
                new_keys,
                deltalake::datafusion::common::JoinType::LeftAnti,
                &keys.iter().map(String::as_str).collect::<Vec<_>>(),
                &keys.iter().map(String::as_str).collect::<Vec<_>>(),
                None,
            )?;
    }
    let combined = existing.union(source)?;
    let out = replace(ctx, node, dir, combined).await?;
    Ok(Outcome::ok(out))
}
