//! Queries while compiling, as dbt's templates make them: `run_query`, `statement` blocks
//! with `load_result`, `adapter.execute`, `adapter.get_relation`,
//! `adapter.get_columns_in_relation`, `load_relation`, and the `api.Relation` / `api.Column`
//! classes. The warehouse itself is behind the [`Warehouse`] trait (the execute stage
//! implements it over DataFusion); results come back as plain data and are shown to
//! templates as dbt's agate tables, rows and columns.
//!
//! As in dbt, nothing runs while parsing (`execute` is false): `run_query` gives none,
//! `get_relation` none and `get_columns_in_relation` an empty list.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use minijinja::value::{Enumerator, Kwargs, Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind, State};
use serde_json::Value as Json;

use super::{NodeContext, Phase};
use crate::relation::{Relation, RelationKind};

/// What a warehouse answers to templates.
pub trait Warehouse: Send + Sync + fmt::Debug {
    /// Runs SQL (one statement or several); the last statement's rows when `fetch`.
    fn execute(&self, sql: &str, fetch: bool) -> Result<QueryResult, String>;
    /// The columns of `schema.name` (name and SQL type), or `None` when it does not exist.
    fn columns(&self, schema: &str, name: &str) -> Result<Option<Vec<(String, String)>>, String>;
    /// Whether `schema.name` exists, and as what.
    fn relation(&self, schema: &str, name: &str) -> Option<RelationKind>;
    /// The relations in `schema`.
    fn relations(&self, schema: &str) -> Vec<(String, RelationKind)>;
    /// The schemas of the warehouse.
    fn schemas(&self) -> Vec<String>;
}

/// A statement's outcome: its message and, when fetched, its rows.
#[derive(Debug, Clone, Default)]
pub struct QueryResult {
    /// `SELECT 3`, `INSERT 1`, `CREATE TABLE`...
    pub message: String,
    pub rows_affected: Option<u64>,
    /// Column names and SQL types.
    pub columns: Vec<(String, String)>,
    pub rows: Vec<Vec<Json>>,
}

fn error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// The node rendering, from a template's state.
fn node(state: &State) -> Result<Arc<NodeContext>, Error> {
    super::state_node(state).ok_or_else(|| error("queries run only while rendering a node"))
}

/// The warehouse, when queries run (compiling, with one open); `None` while parsing.
fn warehouse(node: &NodeContext, what: &str) -> Result<Option<Arc<dyn Warehouse>>, Error> {
    if node.phase == Phase::Parse {
        return Ok(None);
    }
    match &node.warehouse {
        Some(w) => {
            node.capture().queried = true;
            Ok(Some(w.clone()))
        }
        None => Err(error(format!(
            "`{what}` queries the warehouse, which is not open here (it is while running, compiling and showing nodes)"
        ))),
    }
}

/// `adapter.execute(sql, auto_begin=False, fetch=False)`: (response, table).
pub fn execute(state: &State, sql: &str, fetch: bool) -> Result<Value, Error> {
    let node = node(state)?;
    let Some(w) = warehouse(&node, "adapter.execute")? else {
        return Ok(Value::from(vec![response(&QueryResult::default()), table(QueryResult::default())]));
    };
    let result = w.execute(sql, fetch).map_err(error)?;
    Ok(Value::from(vec![response(&result), table(result)]))
}

fn response(r: &QueryResult) -> Value {
    Value::from_object(Response {
        message: r.message.clone(),
        rows_affected: r.rows_affected,
    })
}

fn table(r: QueryResult) -> Value {
    Value::from_object(Table(Arc::new(r)))
}

/// `run_query(sql)`: the rows of a query as a table; none while parsing.
pub fn run_query(state: &State, sql: &str) -> Result<Value, Error> {
    let node = node(state)?;
    let Some(w) = warehouse(&node, "run_query")? else {
        return Ok(Value::from_object(ParseStub));
    };
    let result = w.execute(sql, true).map_err(error)?;
    Ok(table(result))
}

/// `store_result(name, response, agate_table)`, as dbt's `statement` macro calls it.
pub fn store_result(state: &State, name: &str, kwargs: Kwargs) -> Result<Value, Error> {
    let node = node(state)?;
    let response: Value = kwargs.get("response").unwrap_or(Value::from(()));
    let agate: Value = kwargs.get("agate_table").unwrap_or(Value::from(()));
    kwargs.assert_all_used()?;
    let data = agate
        .downcast_object_ref::<Table>()
        .map(|t| Value::from(t.0.rows.iter().map(|r| Value::from(r.iter().map(json_value).collect::<Vec<_>>())).collect::<Vec<_>>()))
        .unwrap_or_else(|| Value::from(Vec::<Value>::new()));
    let entry = Value::from(BTreeMap::from([("response", response), ("data", data), ("table", agate)]));
    node.results.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_owned(), entry);
    Ok(Value::from(""))
}

/// `load_result(name)`: what `statement(name)` stored (`response`, `data`, `table`), or none.
pub fn load_result(state: &State, name: &str) -> Result<Value, Error> {
    let node = node(state)?;
    let results = node.results.lock().unwrap_or_else(|e| e.into_inner());
    Ok(match results.get(name) {
        Some(v) => v.clone(),
        // While parsing nothing ran: as dbt's lenient parse, what the template does with
        // the missing result renders as nothing instead of failing.
        None if node.phase == Phase::Parse => Value::from_object(ParseStub),
        None => Value::from(()),
    })
}

/// What a query gives while parsing, when nothing runs: like dbt's parse-time undefined,
/// any attribute, item or call of it is itself, it iterates as empty, is false, and
/// renders as nothing.
#[derive(Debug)]
pub struct ParseStub;

impl Object for ParseStub {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(0)
    }

    fn get_value(self: &Arc<Self>, _key: &Value) -> Option<Value> {
        Some(Value::from_object(ParseStub))
    }

    fn render(self: &Arc<Self>, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }

    fn call(self: &Arc<Self>, _state: &mut State<'_, '_>, _args: &[Value]) -> Result<Value, Error> {
        Ok(Value::from_object(ParseStub))
    }

    fn call_method(self: &Arc<Self>, _state: &mut State<'_, '_>, _method: &str, _args: &[Value]) -> Result<Value, Error> {
        Ok(Value::from_object(ParseStub))
    }
}

/// A relation's schema and name, from a relation object or `database.schema.name` text.
fn relation_parts(v: &Value) -> Result<(String, String, String), Error> {
    if let Some(r) = v.downcast_object_ref::<Relation>() {
        return Ok((r.database.clone(), r.schema.clone(), r.identifier.clone()));
    }
    Err(error(format!("expected a relation (from `ref`, `source`, `this` or `api.Relation.create`), got {v}")))
}

/// `adapter.get_columns_in_relation(relation)`: its columns (empty when it does not exist).
pub fn get_columns(state: &State, relation: &Value) -> Result<Value, Error> {
    let node = node(state)?;
    let Some(w) = warehouse(&node, "adapter.get_columns_in_relation")? else {
        return Ok(Value::from(Vec::<Value>::new()));
    };
    let (_, schema, name) = relation_parts(relation)?;
    let columns = w.columns(&schema, &name).map_err(error)?.unwrap_or_default();
    Ok(Value::from(
        columns
            .into_iter()
            .map(|(name, dtype)| Value::from_object(Column { name, dtype }))
            .collect::<Vec<_>>(),
    ))
}

/// `adapter.get_relation(database, schema, identifier)`: the relation, or none.
pub fn get_relation(state: &State, database: &str, schema: &str, identifier: &str) -> Result<Value, Error> {
    let node = node(state)?;
    let Some(w) = warehouse(&node, "adapter.get_relation")? else {
        return Ok(Value::from(()));
    };
    Ok(match w.relation(schema, identifier) {
        Some(kind) => Value::from_object(Relation::new(database, schema, identifier, kind)),
        None => Value::from(()),
    })
}

/// `load_relation(relation)`: the relation if it exists in the warehouse, else none.
pub fn load_relation(state: &State, relation: &Value) -> Result<Value, Error> {
    let (database, schema, name) = relation_parts(relation)?;
    get_relation(state, &database, &schema, &name)
}

/// `adapter.list_relations_without_caching(schema_relation)`.
pub fn list_relations(state: &State, relation: &Value) -> Result<Value, Error> {
    let node = node(state)?;
    let Some(w) = warehouse(&node, "adapter.list_relations_without_caching")? else {
        return Ok(Value::from(Vec::<Value>::new()));
    };
    let (database, schema, _) = relation_parts(relation)?;
    Ok(Value::from(
        w.relations(&schema)
            .into_iter()
            .map(|(name, kind)| Value::from_object(Relation::new(&database, &schema, &name, kind)))
            .collect::<Vec<_>>(),
    ))
}

/// `adapter.check_schema_exists(database, schema)`.
pub fn schema_exists(state: &State, schema: &str) -> Result<Value, Error> {
    let node = node(state)?;
    let Some(w) = warehouse(&node, "adapter.check_schema_exists")? else {
        return Ok(Value::from(false));
    };
    Ok(Value::from(w.schemas().iter().any(|s| s == schema)))
}

/// `adapter.list_schemas(database)`.
pub fn list_schemas(state: &State) -> Result<Value, Error> {
    let node = node(state)?;
    let Some(w) = warehouse(&node, "adapter.list_schemas")? else {
        return Ok(Value::from(Vec::<Value>::new()));
    };
    Ok(Value::from(w.schemas()))
}

/// `adapter.get_missing_columns(from_relation, to_relation)`: columns of the first that
/// the second lacks.
pub fn missing_columns(state: &State, from: &Value, to: &Value) -> Result<Value, Error> {
    let from_cols = get_columns(state, from)?;
    let to_cols = get_columns(state, to)?;
    let names: Vec<String> = to_cols
        .try_iter()?
        .filter_map(|c| c.downcast_object_ref::<Column>().map(|c| c.name.to_lowercase()))
        .collect();
    Ok(Value::from(
        from_cols
            .try_iter()?
            .filter(|c| c.downcast_object_ref::<Column>().is_some_and(|c| !names.contains(&c.name.to_lowercase())))
            .collect::<Vec<_>>(),
    ))
}

fn json_value(v: &Json) -> Value {
    Value::from(minijinja::value::Serde(v.clone()))
}

/// dbt's adapter response: prints as its message.
#[derive(Debug)]
struct Response {
    message: String,
    rows_affected: Option<u64>,
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Object for Response {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "_message" | "message" => Some(Value::from(self.message.clone())),
            "code" => Some(Value::from(self.message.split_whitespace().next().unwrap_or_default().to_owned())),
            "rows_affected" => Some(self.rows_affected.map_or(Value::from(()), Value::from)),
            _ => None,
        }
    }
}

/// An agate table: a sequence of rows with `rows`, `columns`, `column_names` and
/// `column_types`.
#[derive(Debug)]
pub struct Table(pub Arc<QueryResult>);

impl Object for Table {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.0.rows.len())
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(i) = key.as_i64() {
            return row(&self.0, i);
        }
        match key.as_str()? {
            "rows" => Some(Value::from_object(Rows(self.0.clone()))),
            "columns" => Some(Value::from_object(Columns(self.0.clone()))),
            "column_names" => Some(Value::from(self.0.columns.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>())),
            "column_types" => Some(Value::from(self.0.columns.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>())),
            _ => None,
        }
    }

    fn call_method(self: &Arc<Self>, _state: &mut State<'_, '_>, method: &str, _args: &[Value]) -> Result<Value, Error> {
        match method {
            // dbt's `print_table` prints to the console; the log is where Silt's go.
            "print_table" => {
                let names: Vec<&str> = self.0.columns.iter().map(|(n, _)| n.as_str()).collect();
                eprintln!("| {} |", names.join(" | "));
                for r in &self.0.rows {
                    let cells: Vec<String> = r.iter().map(|c| match c {
                        Json::String(s) => s.clone(),
                        other => other.to_string(),
                    }).collect();
                    eprintln!("| {} |", cells.join(" | "));
                }
                Ok(Value::from(""))
            }
            _ => Err(Error::new(ErrorKind::UnknownMethod, format!("a query's table has no method `{method}`"))),
        }
    }
}

/// A Python index into `len` items (negative counts from the end), when in range.
fn position(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { len as i64 + i } else { i };
    usize::try_from(i).ok().filter(|i| *i < len)
}

fn row(t: &Arc<QueryResult>, i: i64) -> Option<Value> {
    let i = position(i, t.rows.len())?;
    Some(Value::from_object(Row { table: t.clone(), index: i }))
}

/// `table.rows`: the rows, by position.
#[derive(Debug)]
struct Rows(Arc<QueryResult>);

impl Object for Rows {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.0.rows.len())
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        row(&self.0, key.as_i64()?)
    }
}

/// One row: its values by position (`row[0]`) or column name (`row['name']`, `row.name`).
#[derive(Debug)]
struct Row {
    table: Arc<QueryResult>,
    index: usize,
}

impl Row {
    fn values(&self) -> &[Json] {
        &self.table.rows[self.index]
    }
}

impl Object for Row {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.values().len())
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(i) = key.as_i64() {
            return self.values().get(position(i, self.values().len())?).map(json_value);
        }
        let name = key.as_str()?;
        let at = self.table.columns.iter().position(|(n, _)| n == name)?;
        self.values().get(at).map(json_value)
    }

    fn call_method(self: &Arc<Self>, _state: &mut State<'_, '_>, method: &str, _args: &[Value]) -> Result<Value, Error> {
        let names = self.table.columns.iter().map(|(n, _)| Value::from(n.clone()));
        match method {
            "keys" => Ok(Value::from(names.collect::<Vec<_>>())),
            "values" => Ok(Value::from(self.values().iter().map(json_value).collect::<Vec<_>>())),
            "items" => Ok(Value::from(
                names.zip(self.values().iter().map(json_value)).map(|(k, v)| Value::from(vec![k, v])).collect::<Vec<_>>(),
            )),
            "dict" => Ok(Value::from_iter(
                self.table.columns.iter().map(|(n, _)| n.clone()).zip(self.values().iter().map(json_value)),
            )),
            _ => Err(Error::new(ErrorKind::UnknownMethod, format!("a row has no method `{method}`"))),
        }
    }
}

/// `table.columns`: by position or by name.
#[derive(Debug)]
struct Columns(Arc<QueryResult>);

impl Object for Columns {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.0.columns.len())
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let at = match key.as_i64() {
            Some(i) => position(i, self.0.columns.len())?,
            None => {
                let name = key.as_str()?;
                self.0.columns.iter().position(|(n, _)| n == name)?
            }
        };
        Some(Value::from_object(TableColumn { table: self.0.clone(), index: at }))
    }
}

/// One column of a table: `name`, `data_type`, `values()`.
#[derive(Debug)]
struct TableColumn {
    table: Arc<QueryResult>,
    index: usize,
}

impl TableColumn {
    fn values(&self) -> Vec<Value> {
        self.table.rows.iter().map(|r| r.get(self.index).map(json_value).unwrap_or(Value::from(()))).collect()
    }
}

impl Object for TableColumn {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.table.rows.len())
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(i) = key.as_i64() {
            let values = self.values();
            return values.get(position(i, values.len())?).cloned();
        }
        match key.as_str()? {
            "name" => Some(Value::from(self.table.columns[self.index].0.clone())),
            "data_type" => Some(Value::from(self.table.columns[self.index].1.clone())),
            _ => None,
        }
    }

    fn call_method(self: &Arc<Self>, _state: &mut State<'_, '_>, method: &str, _args: &[Value]) -> Result<Value, Error> {
        match method {
            "values" | "values_distinct" | "values_without_nulls" => {
                let mut v = self.values();
                if method == "values_without_nulls" {
                    v.retain(|x| !x.is_none());
                }
                if method == "values_distinct" {
                    let mut seen = Vec::new();
                    v.retain(|x| {
                        let new = !seen.contains(x);
                        if new {
                            seen.push(x.clone());
                        }
                        new
                    });
                }
                Ok(Value::from(v))
            }
            _ => Err(Error::new(ErrorKind::UnknownMethod, format!("a column has no method `{method}`"))),
        }
    }
}

/// dbt's `Column` (`api.Column`, and what `get_columns_in_relation` gives).
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub dtype: String,
}

impl Column {
    fn base(&self) -> String {
        let t = self.dtype.to_lowercase();
        t.split('(').next().unwrap_or_default().trim().to_owned()
    }

    fn is_string(&self) -> bool {
        matches!(self.base().as_str(), "varchar" | "text" | "string" | "character varying" | "char" | "character" | "utf8")
    }

    fn is_integer(&self) -> bool {
        matches!(
            self.base().as_str(),
            "tinyint" | "smallint" | "integer" | "int" | "bigint" | "hugeint" | "utinyint" | "usmallint" | "uinteger" | "ubigint" | "int2" | "int4" | "int8"
        )
    }

    fn is_float(&self) -> bool {
        matches!(self.base().as_str(), "float" | "double" | "real" | "float4" | "float8" | "double precision")
    }

    fn is_numeric(&self) -> bool {
        matches!(self.base().as_str(), "decimal" | "numeric")
    }
}

impl Object for Column {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Column {} ({})>", self.name, self.dtype)
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "name" | "column" => Some(Value::from(self.name.clone())),
            "quoted" => Some(Value::from(crate::relation::quote_ident(&self.name))),
            "dtype" => Some(Value::from(self.dtype.clone())),
            "data_type" => Some(Value::from(self.dtype.clone())),
            "char_size" | "numeric_precision" | "numeric_scale" => {
                let inner = self.dtype.split_once('(').and_then(|(_, r)| r.strip_suffix(')'));
                let parts: Vec<&str> = inner.map(|i| i.split(',').map(str::trim).collect()).unwrap_or_default();
                let pick = match key.as_str()? {
                    "numeric_scale" => parts.get(1),
                    _ => parts.first(),
                };
                Some(pick.and_then(|p| p.parse::<i64>().ok()).map_or(Value::from(()), Value::from))
            }
            _ => None,
        }
    }

    fn call_method(self: &Arc<Self>, _state: &mut State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        match method {
            "is_string" => Ok(Value::from(self.is_string())),
            "is_integer" => Ok(Value::from(self.is_integer())),
            "is_float" => Ok(Value::from(self.is_float())),
            "is_numeric" => Ok(Value::from(self.is_numeric())),
            "is_number" => Ok(Value::from(self.is_integer() || self.is_float() || self.is_numeric())),
            "literal" => {
                let v = args.first().map(|v| v.to_string()).unwrap_or_default();
                Ok(Value::from(format!("{v}::{}", self.dtype)))
            }
            _ => Err(Error::new(ErrorKind::UnknownMethod, format!("a column has no method `{method}`"))),
        }
    }
}

/// `api`: dbt's `api.Relation` and `api.Column` classes.
#[derive(Debug)]
pub struct Api;

impl Object for Api {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "Relation" => Some(Value::from_object(ApiClass::Relation)),
            "Column" => Some(Value::from_object(ApiClass::Column)),
            _ => None,
        }
    }
}

#[derive(Debug)]
enum ApiClass {
    Relation,
    Column,
}

impl ApiClass {
    fn create(&self, state: &State, args: &[Value]) -> Result<Value, Error> {
        let (positional, kwargs) = match args.split_last() {
            Some((last, rest)) if last.is_kwargs() => (rest, Some(Kwargs::try_from(last.clone())?)),
            _ => (args, None),
        };
        let arg = |i: usize, name: &str| -> Result<Option<String>, Error> {
            if let Some(k) = &kwargs
                && let Some(v) = k.get::<Option<Value>>(name)?
            {
                return Ok((!v.is_none()).then(|| v.to_string()));
            }
            Ok(positional.get(i).filter(|v| !v.is_none()).map(|v| v.to_string()))
        };
        match self {
            ApiClass::Relation => {
                let target = state.lookup("target");
                let default = |k: &str| target.as_ref().and_then(|t| t.get_attr(k).ok()).filter(|v| !v.is_undefined()).map(|v| v.to_string()).unwrap_or_default();
                let database = arg(0, "database")?.unwrap_or_else(|| default("database"));
                let schema = arg(1, "schema")?.unwrap_or_else(|| default("schema"));
                let identifier = arg(2, "identifier")?.unwrap_or_default();
                let kind = match arg(3, "type")?.as_deref() {
                    Some("view") => RelationKind::View,
                    Some("cte") => RelationKind::Cte,
                    _ => RelationKind::Table,
                };
                if let Some(k) = &kwargs {
                    let _: Option<Value> = k.get("quote_policy")?;
                    let _: Option<Value> = k.get("include_policy")?;
                }
                Ok(Value::from_object(Relation::new(&database, &schema, &identifier, kind)))
            }
            ApiClass::Column => {
                let name = arg(0, "column")?.or(arg(0, "name")?).ok_or_else(|| error("`api.Column` takes a column name"))?;
                let dtype = arg(1, "dtype")?.unwrap_or_default();
                if let Some(k) = &kwargs {
                    for extra in ["char_size", "numeric_precision", "numeric_scale"] {
                        let _: Option<Value> = k.get(extra)?;
                    }
                }
                Ok(Value::from_object(Column { name, dtype }))
            }
        }
    }
}

impl Object for ApiClass {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call(self: &Arc<Self>, state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        self.create(state, args)
    }

    fn call_method(self: &Arc<Self>, state: &mut State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        match (self.as_ref(), method) {
            (_, "create") => self.create(state, args),
            // dbt's `Column.translate_type`: a type name as this warehouse spells it.
            (ApiClass::Column, "translate_type") => {
                let (name,): (String,) = minijinja::value::from_args(args)?;
                Ok(Value::from(translate_type(&name)))
            }
            (ApiClass::Column, "string_type") => {
                let (size,): (Option<i64>,) = minijinja::value::from_args(args)?;
                Ok(Value::from(match size {
                    Some(n) => format!("varchar({n})"),
                    None => "varchar".to_owned(),
                }))
            }
            (ApiClass::Column, "numeric_type") => {
                let (dtype, precision, scale): (String, Option<i64>, Option<i64>) = minijinja::value::from_args(args)?;
                Ok(Value::from(match (precision, scale) {
                    (Some(p), Some(s)) => format!("{dtype}({p},{s})"),
                    _ => dtype,
                }))
            }
            _ => Err(Error::new(ErrorKind::UnknownMethod, format!("`api` classes have no method `{method}`"))),
        }
    }
}

/// dbt's `Column.translate_type`: the warehouse's spelling of a type name (`string` is
/// `varchar`, `float` is `double`...); others pass through.
pub fn translate_type(name: &str) -> String {
    match name.trim().to_lowercase().as_str() {
        "string" | "text" => "varchar".into(),
        "float" => "double".into(),
        "integer" | "int" => "integer".into(),
        "long" => "bigint".into(),
        "datetime" | "timestamp_ntz" => "timestamp".into(),
        "timestamptz" | "timestamp_tz" | "timestamp_ltz" => "timestamp with time zone".into(),
        "bool" => "boolean".into(),
        _ => name.to_owned(),
    }
}
