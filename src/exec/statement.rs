//! Running SQL statements on the warehouse: what hooks (and later `run_query` and
//! `statement` blocks) send. Each statement that changes a table is one Delta commit on
//! it; a query returns its rows. A script stops at its first failing statement, and the
//! statements before it stay done, as they would in a warehouse without a transaction.

use std::path::PathBuf;

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::DataType;
// An unqualified `Column` keeps the name as it is (`col("A")` would lower-case it).
use deltalake::datafusion::common::{Column, ScalarValue};
use deltalake::datafusion::logical_expr::{Expr, cast, lit};
use deltalake::datafusion::prelude::col;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake::kernel::StructField;

use super::ExecError;
use super::session::Session;
use super::storage;
use super::write::{TableWrite, WriteMode};
use crate::sql::{ColumnSpec, Command, ScriptStatement, TableName};

/// What one statement did.
#[derive(Debug, Clone)]
pub struct StatementOutcome {
    /// As a warehouse reports it: `INSERT 3`, `CREATE TABLE`, `SELECT 2`...
    pub message: String,
    pub rows: Option<u64>,
    /// A query's rows, and their schema (also when there are none).
    pub batches: Option<Vec<RecordBatch>>,
    pub schema: Option<deltalake::arrow::datatypes::SchemaRef>,
}

impl StatementOutcome {
    fn done(message: impl Into<String>, rows: Option<u64>) -> StatementOutcome {
        StatementOutcome {
            message: message.into(),
            rows,
            batches: None,
            schema: None,
        }
    }
}

/// Runs every statement of `sql` in order; the outcome of each, or the first error (which
/// names the statement's line when the script has several).
pub async fn run_script(session: &Session, sql: &str) -> Result<Vec<StatementOutcome>, ExecError> {
    let statements = crate::sql::script(sql).map_err(|e| {
        let at = e.line.map(|l| format!(" (line {l})")).unwrap_or_default();
        ExecError::sql(format!("{}{at}", e.message))
    })?;
    let many = statements.len() > 1;
    let mut out = Vec::with_capacity(statements.len());
    for s in &statements {
        let outcome = run_statement(session, s).await.map_err(|e| {
            if many {
                ExecError::new(e.kind(), format!("in the statement on line {}: {e}", s.line))
            } else {
                e
            }
        })?;
        out.push(outcome);
    }
    Ok(out)
}

/// The folder of a table, and its (schema, name) in the session.
fn place(session: &Session, t: &TableName) -> (PathBuf, String, String) {
    let schema = t.schema.clone().unwrap_or_else(|| session.default_schema().to_owned());
    (session.warehouse().join(&schema).join(&t.name), schema, t.name.clone())
}

async fn run_statement(session: &Session, s: &ScriptStatement) -> Result<StatementOutcome, ExecError> {
    match &s.command {
        Command::Query(statement) => {
            let df = session.query(&statement.to_string()).await?;
            let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
            let batches = df.collect().await?;
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            Ok(StatementOutcome {
                message: format!("SELECT {rows}"),
                rows: Some(rows as u64),
                batches: Some(batches),
                schema: Some(schema),
            })
        }
        Command::Insert {
            table,
            columns,
            source,
            overwrite,
        } => insert(session, table, columns, &source.to_string(), *overwrite).await,
        Command::CreateTable {
            table,
            or_replace,
            if_not_exists,
            columns,
            source,
        } => {
            let (dir, schema, name) = place(session, table);
            if storage::exists(&dir) || session.is_view(&schema, &name) {
                if *if_not_exists {
                    return Ok(StatementOutcome::done("CREATE TABLE", None));
                }
                if !*or_replace {
                    return Err(ExecError::sql(format!("table `{table}` already exists")));
                }
            }
            let df = match source {
                Some(q) => session.query(&q.to_string()).await?,
                None => session.query(&empty_rows(columns)).await?,
            };
            let df = if source.is_none() {
                df
            } else {
                super::materialize::nullable(df)?
            };
            let written = TableWrite::new(session, &dir, df).with_mode(WriteMode::Replace).run().await?;
            session.invalidate(&schema, &name);
            Ok(StatementOutcome::done(
                if source.is_some() { format!("SELECT {}", written.rows.unwrap_or(0)) } else { "CREATE TABLE".into() },
                written.rows,
            ))
        }
        Command::Drop { view, names, if_exists } => {
            for t in names {
                let (dir, schema, name) = place(session, t);
                if *view {
                    if !session.drop_view(&schema, &name) && !*if_exists {
                        return Err(ExecError::sql(format!("view `{t}` does not exist")));
                    }
                    continue;
                }
                if !storage::exists(&dir) {
                    if *if_exists {
                        continue;
                    }
                    return Err(ExecError::sql(format!("table `{t}` does not exist")));
                }
                std::fs::remove_dir_all(&dir).map_err(|e| ExecError::io(&dir, e))?;
                session.invalidate(&schema, &name);
            }
            Ok(StatementOutcome::done(if *view { "DROP VIEW" } else { "DROP TABLE" }, None))
        }
        Command::CreateSchema { name } => {
            let dir = session.warehouse().join(name);
            std::fs::create_dir_all(&dir).map_err(|e| ExecError::io(&dir, e))?;
            Ok(StatementOutcome::done("CREATE SCHEMA", None))
        }
        Command::DropSchema { name, if_exists, cascade } => {
            let dir = session.warehouse().join(name);
            if !dir.is_dir() && session.views_in(name).is_empty() {
                if *if_exists {
                    return Ok(StatementOutcome::done("DROP SCHEMA", None));
                }
                return Err(ExecError::sql(format!("schema `{name}` does not exist")));
            }
            let empty = std::fs::read_dir(&dir).map_or(true, |mut d| d.next().is_none()) && session.views_in(name).is_empty();
            if !empty && !*cascade {
                return Err(ExecError::sql(format!(
                    "schema `{name}` is not empty: drop its tables first, or `drop schema {name} cascade`"
                )));
            }
            if dir.is_dir() {
                std::fs::remove_dir_all(&dir).map_err(|e| ExecError::io(&dir, e))?;
            }
            // Its views go with it, and no table of it stays cached.
            for view in session.views_in(name) {
                session.drop_view(name, &view);
            }
            Ok(StatementOutcome::done("DROP SCHEMA", None))
        }
        Command::Delete { table, predicate } => {
            let (dir, schema, name) = place(session, table);
            let t = open_table(&dir, table).await?;
            let mut b = t.delete().with_session_state(session.state());
            if let Some(p) = predicate {
                b = b.with_predicate(p.clone());
            }
            let (_, metrics) = b.await.map_err(|e| ExecError::delta(&dir, e))?;
            session.invalidate(&schema, &name);
            let n = metrics.num_deleted_rows.unwrap_or(0) as u64;
            Ok(StatementOutcome::done(format!("DELETE {n}"), Some(n)))
        }
        Command::Truncate { tables } => {
            for table in tables {
                let (dir, schema, name) = place(session, table);
                let t = open_table(&dir, table).await?;
                t.delete()
                    .with_session_state(session.state())
                    .await
                    .map_err(|e| ExecError::delta(&dir, e))?;
                session.invalidate(&schema, &name);
            }
            Ok(StatementOutcome::done("TRUNCATE TABLE", None))
        }
        Command::Update {
            table,
            assignments,
            predicate,
        } => {
            let (dir, schema, name) = place(session, table);
            let t = open_table(&dir, table).await?;
            let mut b = t.update().with_session_state(session.state()).with_safe_cast(false);
            for (column, value) in assignments {
                b = b.with_update(column.as_str(), value.clone());
            }
            if let Some(p) = predicate {
                b = b.with_predicate(p.clone());
            }
            let (_, metrics) = b.await.map_err(|e| ExecError::delta(&dir, e))?;
            session.invalidate(&schema, &name);
            let n = metrics.num_updated_rows as u64;
            Ok(StatementOutcome::done(format!("UPDATE {n}"), Some(n)))
        }
        Command::AddColumns { table, columns } => {
            let (dir, schema, name) = place(session, table);
            let t = open_table(&dir, table).await?;
            let existing = storage::arrow_schema(&dir).await?;
            let mut fields = Vec::new();
            for (spec, if_not_exists) in columns {
                if existing.field_with_name(&spec.name).is_ok() {
                    if *if_not_exists {
                        continue;
                    }
                    return Err(ExecError::schema(format!("table `{table}` already has a column `{}`", spec.name)));
                }
                if spec.not_null {
                    return Err(ExecError::schema(format!(
                        "cannot add the NOT NULL column `{}` to `{table}`: its existing rows would hold null",
                        spec.name
                    )));
                }
                let arrow = sql_type(session, &spec.data_type).await?;
                let field = deltalake::arrow::datatypes::Field::new(&spec.name, arrow, true);
                let field: StructField = (&field)
                    .try_into_kernel()
                    .map_err(|e| ExecError::schema(format!("column `{}`: {e}", spec.name)))?;
                fields.push(field);
            }
            if !fields.is_empty() {
                t.add_columns().with_fields(fields).await.map_err(|e| ExecError::delta(&dir, e))?;
                session.invalidate(&schema, &name);
            }
            Ok(StatementOutcome::done("ALTER TABLE", None))
        }
        Command::Rename { table, to } => {
            let (dir, schema, name) = place(session, table);
            // `alter table s.a rename to b` keeps the schema, as in Postgres and DuckDB.
            let to = TableName {
                schema: to.schema.clone().or(Some(schema.clone())),
                ..to.clone()
            };
            let (new_dir, new_schema, new_name) = place(session, &to);
            open_table(&dir, table).await?;
            if storage::exists(&new_dir) {
                return Err(ExecError::sql(format!("cannot rename `{table}` to `{to}`: `{to}` already exists")));
            }
            if let Some(parent) = new_dir.parent() {
                std::fs::create_dir_all(parent).map_err(|e| ExecError::io(parent, e))?;
            }
            std::fs::rename(&dir, &new_dir).map_err(|e| ExecError::io(&dir, e))?;
            session.invalidate(&schema, &name);
            session.invalidate(&new_schema, &new_name);
            Ok(StatementOutcome::done("ALTER TABLE", None))
        }
        Command::Vacuum { table } => {
            let tables: Vec<TableName> = match table {
                Some(t) => vec![t.clone()],
                None => Vec::new(),
            };
            let mut removed = 0u64;
            for table in &tables {
                let (dir, _, _) = place(session, table);
                let t = open_table(&dir, table).await?;
                let (_, metrics) = t.vacuum().await.map_err(|e| ExecError::delta(&dir, e))?;
                removed += metrics.files_deleted.len() as u64;
            }
            Ok(StatementOutcome::done("VACUUM", Some(removed)))
        }
        Command::Transaction => Ok(StatementOutcome::done("OK", None)),
        Command::SetOption { name, value } => {
            // Models run at once in one shared session: a setting there would reach them in
            // whatever order they run. A model's `sql_header` has a session of its own.
            if !session.is_own() {
                return Err(ExecError::sql(format!(
                    "`SET {name}` would change the session every model shares: put it in the model's `sql_header` (`{{% call set_sql_header(config) %}}`), which runs in a session of the model's own"
                )));
            }
            if name == "datafusion.execution.time_zone"
                && value.parse::<deltalake::arrow::array::timezone::Tz>().is_err()
            {
                return Err(ExecError::sql(format!(
                    "unknown time zone '{value}': give a name from the tz database ('Europe/Paris') or an offset ('+05:30')"
                )));
            }
            let sql = format!("SET {name} = '{}'", value.replace('\'', "''"));
            session.context().sql(&sql).await.map_err(|e| ExecError::sql(format!("{sql}: {e}")))?;
            Ok(StatementOutcome::done("SET", None))
        }
    }
}

async fn open_table(dir: &std::path::Path, table: &TableName) -> Result<deltalake::DeltaTable, ExecError> {
    if !storage::exists(dir) {
        return Err(ExecError::sql(format!("table `{table}` does not exist")));
    }
    storage::open(dir).await
}

/// A query with no rows and the columns of `create table t (...)`.
fn empty_rows(columns: &[ColumnSpec]) -> String {
    let list: Vec<String> = columns
        .iter()
        .map(|c| format!("CAST(NULL AS {}) AS {}", c.data_type, crate::relation::quote_ident(&c.name)))
        .collect();
    format!("SELECT {} WHERE false", list.join(", "))
}

/// The Arrow type the engine gives a SQL type.
async fn sql_type(session: &Session, sql: &str) -> Result<DataType, ExecError> {
    let df = session.query(&format!("SELECT CAST(NULL AS {sql}) AS c")).await?;
    Ok(df.schema().field(0).data_type().clone())
}

/// `insert into table [(columns)] <source>`: the source's columns, by position, go to
/// the listed columns (or all of the table's), each cast to the column's type; unlisted
/// columns get null.
async fn insert(
    session: &Session,
    table: &TableName,
    columns: &[String],
    source: &str,
    overwrite: bool,
) -> Result<StatementOutcome, ExecError> {
    let (dir, schema, name) = place(session, table);
    open_table(&dir, table).await?;
    let target = storage::arrow_schema(&dir).await?;
    let df = session.query(source).await?;
    let given: Vec<String> = df.schema().fields().iter().map(|f| f.name().clone()).collect();
    let listed: Vec<String> = if columns.is_empty() {
        target.fields().iter().map(|f| f.name().clone()).collect()
    } else {
        let mut out = Vec::new();
        for c in columns {
            let found = target
                .fields()
                .iter()
                .find(|f| f.name() == c)
                .or_else(|| target.fields().iter().find(|f| f.name().eq_ignore_ascii_case(c)))
                .ok_or_else(|| ExecError::sql(format!("table `{table}` has no column `{c}`")))?;
            out.push(found.name().clone());
        }
        out
    };
    if given.len() != listed.len() {
        return Err(ExecError::sql(format!(
            "INSERT into `{table}` gives {} value{} for {} column{}",
            given.len(),
            if given.len() == 1 { "" } else { "s" },
            listed.len(),
            if listed.len() == 1 { "" } else { "s" },
        )));
    }
    let exprs: Vec<Expr> = target
        .fields()
        .iter()
        .map(|f| match listed.iter().position(|l| l == f.name()) {
            Some(i) => cast(col(Column::new_unqualified(&given[i])), f.data_type().clone()).alias(f.name()),
            None => cast(lit(ScalarValue::Null), f.data_type().clone()).alias(f.name()),
        })
        .collect();
    let df = super::materialize::nullable(df.select(exprs)?)?;
    let mode = if overwrite { WriteMode::ReplaceData } else { WriteMode::Append };
    let written = TableWrite::new(session, &dir, df).with_mode(mode).run().await?;
    session.invalidate(&schema, &name);
    let n = written.rows.unwrap_or(0);
    Ok(StatementOutcome::done(format!("INSERT {n}"), Some(n)))
}
