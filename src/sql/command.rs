//! SQL statements other than a model's query, as plain data: what hooks, `run_query` and
//! `statement` blocks send to the warehouse (`insert into ...`, `create table ...`,
//! `alter table ... add column`, `update`, `delete`, `drop`, `vacuum`...). The execute
//! stage runs them on Delta tables; what a statement means is decided here, once, so a
//! statement Silt cannot run is refused with its name before anything runs.

use deltalake::datafusion::sql::sqlparser::ast::{
    AlterTableOperation, AssignmentTarget, ColumnOption, Expr, FromTable, Ident, ObjectName, ObjectNamePart,
    ObjectType, RenameTableNameKind, SchemaName, Set, Statement, TableFactor, TableObject, Value as SqlValue,
};
use deltalake::datafusion::sql::sqlparser::dialect::GenericDialect;
use deltalake::datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use super::{SqlError, parse_one, rewrite_statement};

/// A table name as written: `name`, `schema.name` or `database.schema.name`, each part
/// as the engine reads it (unquoted parts in lower case, quoted ones as written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub database: Option<String>,
    pub schema: Option<String>,
    pub name: String,
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for part in [&self.database, &self.schema].into_iter().flatten() {
            write!(f, "{part}.")?;
        }
        write!(f, "{}", self.name)
    }
}

/// A column of `create table` or `alter table ... add column`: its name and SQL type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    pub name: String,
    /// The type as SQL (`integer`, `varchar(10)`), for the engine to read in a cast.
    pub data_type: String,
    pub not_null: bool,
}

/// What one statement asks of the warehouse.
#[derive(Debug, Clone)]
pub enum Command {
    /// A query: its rows are the result. The statement is ready to plan.
    Query(Statement),
    /// `insert [into|overwrite] t [(cols)] <query>`.
    Insert {
        table: TableName,
        columns: Vec<String>,
        source: Statement,
        overwrite: bool,
    },
    /// `create [or replace] table [if not exists] t (cols)` or `... as <query>`.
    CreateTable {
        table: TableName,
        or_replace: bool,
        if_not_exists: bool,
        columns: Vec<ColumnSpec>,
        source: Option<Statement>,
    },
    /// `drop table|view [if exists] t, ...`.
    Drop {
        view: bool,
        names: Vec<TableName>,
        if_exists: bool,
    },
    /// `drop schema [if exists] s [cascade]`.
    DropSchema {
        name: String,
        if_exists: bool,
        cascade: bool,
    },
    /// `create schema [if not exists] s`.
    CreateSchema { name: String },
    /// `delete from t [where p]`.
    Delete { table: TableName, predicate: Option<String> },
    /// `update t set c = e, ... [where p]`.
    Update {
        table: TableName,
        assignments: Vec<(String, String)>,
        predicate: Option<String>,
    },
    /// `truncate [table] t, ...`.
    Truncate { tables: Vec<TableName> },
    /// `alter table t add [column] [if not exists] c type`.
    AddColumns {
        table: TableName,
        columns: Vec<(ColumnSpec, bool)>,
    },
    /// `alter table t rename to u`.
    Rename { table: TableName, to: TableName },
    /// `vacuum [t]`: Delta's vacuum (files no version within the retention period reads).
    Vacuum { table: Option<TableName> },
    /// `begin`, `commit`: each statement commits on its own, so these change nothing.
    Transaction,
    /// `set time zone 'x'`, `set timezone = 'x'`, `set datafusion.<option> = v`: a setting of
    /// the session the statement runs in, by DataFusion's name for it.
    SetOption { name: String, value: String },
}

/// A statement of a script: its text, the line it starts on, what it asks.
#[derive(Debug, Clone)]
pub struct ScriptStatement {
    pub text: String,
    /// 1-based line of the script the statement starts on.
    pub line: usize,
    pub command: Command,
}

/// Splits `sql` into its statements (on `;` outside strings and comments) and reads each.
/// Empty statements are dropped; an unreadable or unsupported one fails the whole script,
/// before anything runs.
pub fn script(sql: &str) -> Result<Vec<ScriptStatement>, SqlError> {
    let mut out = Vec::new();
    for (text, line) in split(sql)? {
        let command = command(&text).map_err(|mut e| {
            e.line = Some(e.line.map_or(line, |l| l + line - 1));
            e
        })?;
        out.push(ScriptStatement { text, line, command });
    }
    Ok(out)
}

/// The statements of `sql` with the line each starts on, without their `;`.
fn split(sql: &str) -> Result<Vec<(String, usize)>, SqlError> {
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| SqlError {
            message: e.message.clone(),
            line: Some(e.location.line as usize),
            column: Some(e.location.column as usize),
        })?;
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start: Option<usize> = None;
    for t in tokens {
        if t.token == Token::SemiColon {
            if let Some(line) = start.take() {
                out.push((std::mem::take(&mut current).trim().to_owned(), line));
            }
            current.clear();
            continue;
        }
        let meaningful = !matches!(t.token, Token::Whitespace(_) | Token::EOF);
        if meaningful && start.is_none() {
            start = Some(t.span.start.line as usize);
        }
        if start.is_some() {
            current.push_str(&t.token.to_string());
        }
    }
    if let Some(line) = start {
        out.push((current.trim().to_owned(), line));
    }
    Ok(out)
}

fn unsupported(what: &str, why: &str) -> SqlError {
    SqlError {
        message: format!("`{what}` is not supported: {why}"),
        line: None,
        column: None,
    }
}

/// The session setting a `SET` statement changes.
fn set_option(set: &Set, text: &str) -> Result<Command, SqlError> {
    const TIME_ZONE: &str = "datafusion.execution.time_zone";
    let literal = |e: &Expr| match e {
        Expr::Value(v) => match &v.value {
            SqlValue::SingleQuotedString(s) | SqlValue::DoubleQuotedString(s) => s.clone(),
            other => other.to_string(),
        },
        Expr::Identifier(i) => i.value.clone(),
        other => other.to_string(),
    };
    let (name, value) = match set {
        Set::SetTimeZone { value, .. } => (TIME_ZONE.to_owned(), literal(value)),
        Set::SingleAssignment { variable, values, .. } if values.len() == 1 => {
            let name = variable.to_string().to_lowercase();
            let name = match name.as_str() {
                "timezone" | "time_zone" => TIME_ZONE.to_owned(),
                n if n.starts_with("datafusion.") => name,
                _ => {
                    return Err(unsupported(
                        &head(text),
                        "Silt's sessions set only the time zone (`SET TIME ZONE 'Europe/Paris'`) and DataFusion's options (`SET datafusion.execution.batch_size = 4096`)",
                    ))
                }
            };
            (name, literal(&values[0]))
        }
        _ => {
            return Err(unsupported(
                &head(text),
                "Silt's sessions set only the time zone (`SET TIME ZONE 'Europe/Paris'`) and DataFusion's options (`SET datafusion.execution.batch_size = 4096`)",
            ))
        }
    };
    Ok(Command::SetOption { name, value })
}

/// The first words of a statement, for messages.
fn head(text: &str) -> String {
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ").to_uppercase()
}

/// Reads one statement.
pub fn command(text: &str) -> Result<Command, SqlError> {
    let statement = parse_one(text)?;
    let ready = |s: Statement| rewrite_statement(s);
    Ok(match statement {
        Statement::Query(_) => Command::Query(ready(statement)?),
        Statement::Insert(insert) => {
            let TableObject::TableName(name) = &insert.table else {
                return Err(unsupported("INSERT INTO TABLE FUNCTION", "insert into a table by its name"));
            };
            if insert.on.is_some() || insert.returning.is_some() || !insert.assignments.is_empty() {
                return Err(unsupported(
                    &head(text),
                    "Silt inserts the rows of a query or VALUES list (no ON CONFLICT, RETURNING or SET)",
                ));
            }
            let Some(source) = insert.source.clone() else {
                return Err(unsupported(&head(text), "an INSERT needs a query or VALUES"));
            };
            Command::Insert {
                table: table_name(name)?,
                columns: insert
                    .columns
                    .iter()
                    .map(|c| c.0.last().and_then(ObjectNamePart::as_ident).map(ident).unwrap_or_default())
                    .collect(),
                source: ready(Statement::Query(source))?,
                overwrite: insert.overwrite,
            }
        }
        Statement::CreateTable(ct) => {
            if ct.temporary {
                return Err(unsupported(
                    "CREATE TEMPORARY TABLE",
                    "every Silt table is a Delta table in the warehouse; create a table and drop it when done",
                ));
            }
            if !ct.constraints.is_empty() {
                return Err(unsupported(
                    "table constraints in CREATE TABLE",
                    "declare constraints in a model's contract",
                ));
            }
            let mut columns = Vec::new();
            for c in &ct.columns {
                columns.push(column_spec(c)?);
            }
            Command::CreateTable {
                table: table_name(&ct.name)?,
                or_replace: ct.or_replace,
                if_not_exists: ct.if_not_exists,
                columns,
                source: ct.query.clone().map(|q| ready(Statement::Query(q))).transpose()?,
            }
        }
        Statement::Drop {
            object_type,
            if_exists,
            names,
            cascade,
            ..
        } => match object_type {
            ObjectType::Table | ObjectType::View => Command::Drop {
                view: object_type == ObjectType::View,
                names: names.iter().map(table_name).collect::<Result<_, _>>()?,
                if_exists,
            },
            ObjectType::Schema => {
                let [name] = names.as_slice() else {
                    return Err(unsupported(&head(text), "drop one schema at a time"));
                };
                Command::DropSchema {
                    name: last_part(name)?,
                    if_exists,
                    cascade,
                }
            }
            other => return Err(unsupported(&format!("DROP {other}"), "Silt drops tables, views and schemas")),
        },
        Statement::CreateSchema { schema_name, .. } => match schema_name {
            SchemaName::Simple(name) | SchemaName::NamedAuthorization(name, _) => {
                Command::CreateSchema { name: last_part(&name)? }
            }
            SchemaName::UnnamedAuthorization(_) => {
                return Err(unsupported(&head(text), "name the schema"));
            }
        },
        Statement::Delete(delete) => {
            let tables = match &delete.from {
                FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
            };
            let [from] = tables.as_slice() else {
                return Err(unsupported(&head(text), "delete from one table"));
            };
            if delete.using.is_some() || !from.joins.is_empty() || delete.returning.is_some() || delete.limit.is_some() {
                return Err(unsupported(
                    &head(text),
                    "Silt deletes from one table with a WHERE condition on its own columns (no USING, joins, RETURNING or LIMIT)",
                ));
            }
            Command::Delete {
                table: factor_name(&from.relation)?,
                predicate: delete.selection.clone().map(|e| expression(e)).transpose()?,
            }
        }
        Statement::Update(update) => {
            if update.from.is_some() || !update.table.joins.is_empty() || update.returning.is_some() {
                return Err(unsupported(
                    &head(text),
                    "Silt updates one table from expressions on its own columns (no FROM, joins or RETURNING)",
                ));
            }
            let mut assignments = Vec::new();
            for a in &update.assignments {
                let AssignmentTarget::ColumnName(name) = &a.target else {
                    return Err(unsupported(&head(text), "assign one column at a time"));
                };
                assignments.push((last_part(name)?, expression(a.value.clone())?));
            }
            Command::Update {
                table: factor_name(&update.table.relation)?,
                assignments,
                predicate: update.selection.clone().map(|e| expression(e)).transpose()?,
            }
        }
        Statement::Truncate(t) => Command::Truncate {
            tables: t.table_names.iter().map(|t| table_name(&t.name)).collect::<Result<_, _>>()?,
        },
        Statement::AlterTable(alter) => {
            let table = table_name(&alter.name)?;
            let mut columns = Vec::new();
            let mut rename = None;
            for op in &alter.operations {
                match op {
                    AlterTableOperation::AddColumn {
                        if_not_exists,
                        column_def,
                        ..
                    } => columns.push((column_spec(column_def)?, *if_not_exists)),
                    AlterTableOperation::RenameTable { table_name: to } => {
                        let (RenameTableNameKind::As(to) | RenameTableNameKind::To(to)) = to;
                        rename = Some(self::table_name(to)?);
                    }
                    other => {
                        return Err(unsupported(
                            &format!("ALTER TABLE ... {}", head(&other.to_string())),
                            "Silt alters a table by adding columns or renaming it",
                        ));
                    }
                }
            }
            match (rename, columns.is_empty()) {
                (Some(to), true) => Command::Rename { table, to },
                (None, false) => Command::AddColumns { table, columns },
                _ => return Err(unsupported(&head(text), "rename a table or add columns, in separate statements")),
            }
        }
        Statement::Vacuum(v) => Command::Vacuum {
            table: v.table_name.as_ref().map(table_name).transpose()?,
        },
        Statement::StartTransaction { .. } | Statement::Commit { .. } => Command::Transaction,
        Statement::Set(set) => set_option(&set, text)?,
        Statement::Rollback { .. } => {
            return Err(unsupported(
                "ROLLBACK",
                "each statement is its own Delta commit, so there is no transaction to roll back",
            ));
        }
        Statement::Grant(_) | Statement::Revoke(_) => {
            return Err(unsupported(
                &head(text),
                "Delta tables on disk have no grants; access is the file system's or the object store's",
            ));
        }
        other => {
            return Err(unsupported(
                &head(&other.to_string()),
                "Silt runs queries, INSERT, CREATE TABLE, DROP, DELETE, UPDATE, TRUNCATE, ALTER TABLE ADD COLUMN / RENAME, CREATE/DROP SCHEMA and VACUUM",
            ));
        }
    })
}

fn ident(i: &Ident) -> String {
    match i.quote_style {
        Some(_) => i.value.clone(),
        None => i.value.to_lowercase(),
    }
}

fn last_part(name: &ObjectName) -> Result<String, SqlError> {
    name.0
        .last()
        .and_then(ObjectNamePart::as_ident)
        .map(ident)
        .ok_or_else(|| unsupported(&name.to_string(), "name it with identifiers"))
}

fn table_name(name: &ObjectName) -> Result<TableName, SqlError> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| p.as_ident().map(ident))
        .collect::<Option<_>>()
        .ok_or_else(|| unsupported(&name.to_string(), "name tables with identifiers"))?;
    match parts.as_slice() {
        [n] => Ok(TableName { database: None, schema: None, name: n.clone() }),
        [s, n] => Ok(TableName { database: None, schema: Some(s.clone()), name: n.clone() }),
        [d, s, n] => Ok(TableName { database: Some(d.clone()), schema: Some(s.clone()), name: n.clone() }),
        _ => Err(unsupported(&name.to_string(), "a table name has at most three parts")),
    }
}

fn factor_name(factor: &TableFactor) -> Result<TableName, SqlError> {
    match factor {
        TableFactor::Table { name, alias: None, .. } => table_name(name),
        TableFactor::Table { alias: Some(_), .. } => Err(unsupported(
            &factor.to_string(),
            "refer to the table's columns by their names, without an alias",
        )),
        other => Err(unsupported(&other.to_string(), "name a table")),
    }
}

fn column_spec(c: &deltalake::datafusion::sql::sqlparser::ast::ColumnDef) -> Result<ColumnSpec, SqlError> {
    let mut not_null = false;
    for o in &c.options {
        match &o.option {
            ColumnOption::NotNull => not_null = true,
            ColumnOption::Null => {}
            other => {
                return Err(unsupported(
                    &format!("column option `{other}`"),
                    "a column is declared with its name, type and NOT NULL",
                ));
            }
        }
    }
    Ok(ColumnSpec {
        name: ident(&c.name),
        data_type: c.data_type.to_string(),
        not_null,
    })
}

/// An expression as SQL text for the engine, with Silt's function rewrites.
fn expression(e: deltalake::datafusion::sql::sqlparser::ast::Expr) -> Result<String, SqlError> {
    let mut e = e;
    super::rewrite_expr(&mut e)?;
    Ok(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_semicolons_outside_strings_and_comments() {
        let s = script("insert into a values ('x;y'); -- c;\n\n delete from a where b = 1;\n;").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].line, 1);
        assert_eq!(s[1].line, 3);
        assert!(matches!(&s[0].command, Command::Insert { columns, .. } if columns.is_empty()));
        assert!(matches!(&s[1].command, Command::Delete { predicate: Some(p), .. } if p == "b = 1"));
    }

    #[test]
    fn reads_session_settings() {
        let set = |sql: &str| match command(sql) {
            Ok(Command::SetOption { name, value }) => Ok((name, value)),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.message),
        };
        let tz = "datafusion.execution.time_zone".to_owned();
        assert_eq!(set("set session time zone 'Asia/Kolkata'"), Ok((tz.clone(), "Asia/Kolkata".into())));
        assert_eq!(set("SET TimeZone = 'UTC'"), Ok((tz.clone(), "UTC".into())));
        assert_eq!(set("set timezone to 'Europe/Paris'"), Ok((tz, "Europe/Paris".into())));
        assert_eq!(
            set("set datafusion.execution.batch_size = 1024"),
            Ok(("datafusion.execution.batch_size".into(), "1024".into()))
        );
        assert!(set("set search_path = x").unwrap_err().contains("sessions set only the time zone"));
    }

    #[test]
    fn reads_ddl_and_names() {
        let s = script(r#"create table "S".on_hook (id INTEGER not null, "Name" TEXT); alter table x.y add column c int; vacuum x.y"#).unwrap();
        match &s[0].command {
            Command::CreateTable { table, columns, .. } => {
                assert_eq!(table.schema.as_deref(), Some("S"));
                assert_eq!(table.name, "on_hook");
                assert_eq!(columns[0], ColumnSpec { name: "id".into(), data_type: "INTEGER".into(), not_null: true });
                assert_eq!(columns[1].name, "Name");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&s[1].command, Command::AddColumns { columns, .. } if columns[0].0.name == "c"));
        assert!(matches!(&s[2].command, Command::Vacuum { table: Some(t) } if t.to_string() == "x.y"));
    }

    #[test]
    fn refuses_what_it_cannot_run_by_name() {
        let e = script("select 1;\ngrant select on a to b").unwrap_err();
        assert!(e.message.contains("`GRANT SELECT ON` is not supported"), "{}", e.message);
        assert_eq!(e.line, Some(2));
        let e = script("rollback").unwrap_err();
        assert!(e.message.contains("ROLLBACK"), "{}", e.message);
    }
}
