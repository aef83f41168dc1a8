//! Unit tests: a model run on given rows, in memory, and its output compared with the
//! expected rows. Nothing in the warehouse is read for data or written: each input is a
//! view over literal rows in a session of its own. The warehouse is only asked for the
//! inputs' column types, so that a column the test leaves out is a typed null, as dbt does.

use std::collections::BTreeMap;
use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, SchemaRef};
use serde_json::{Map, Value as Json};

use crate::exec::session::Session;
use crate::exec::show::Preview;
use crate::exec::{ExecError, Status};
use crate::compile::{RenderOverrides, compile_with_overrides};
use crate::parse::{Materialization, ParsedNode, ParsedProject};
use crate::project::testing::unit::{FixtureRows, UnitTestSpec};
use crate::diagnostic::{Diagnostic, Span};
use crate::exec::types::type_name;
use crate::relation::{Relation, quote_ident};

/// What a unit test found.
#[derive(Debug, Clone)]
pub struct UnitOutcome {
    pub status: Status,
    /// Why it failed: a summary, and a table of the rows that differ.
    pub difference: Option<(String, String)>,
    /// The model's SQL as the test compiled it.
    pub compiled_sql: String,
}

/// An input a test gives rows for, resolved to the relation the model reads.
struct Input<'a> {
    relation: Relation,
    /// What the input is (for messages): `ref('stg_orders')`.
    label: String,
    rows: &'a FixtureRows,
    span: Span,
}

/// An error in a unit test's YAML, pointing at where the mistake is.
fn at(span: &Span, message: String) -> ExecError {
    ExecError::diagnostic(&Diagnostic::error(message).with_span(span.clone()))
}

/// Runs the unit test `node` of `parsed`. `schemas` answers the columns of relations that
/// exist (the run's session, with its views).
pub async fn run(
    parsed: &ParsedProject,
    schemas: &Session,
    node: &ParsedNode,
) -> Result<UnitOutcome, ExecError> {
    let spec = node
        .node
        .unit
        .as_ref()
        .ok_or_else(|| ExecError::compile(format!("`{}` is not a unit test (this is a bug)", node.node.name)))?;
    let (model_id, model) = model_of(parsed, &node.node.package, spec)?;
    let inputs = resolve_inputs(parsed, model, spec)?;
    let compiled = compile_with_overrides(parsed, &model_id, overrides_of(spec)).map_err(|d| ExecError::diagnostic(&d))?;
    check_inputs_cover(parsed, model, spec, &inputs, &node.node.name)?;
    let session = fixture_session(parsed, schemas, &inputs).await?;
    let actual = match session.query(&compiled.sql).await {
        Ok(df) => df,
        Err(e) => return Err(not_planned(schemas, &inputs, e).await),
    };
    let actual_schema: SchemaRef = Arc::new(actual.schema().as_arrow().clone());
    session.register_view("__silt_unit", "__silt_actual", &compiled.sql);
    let actual_from = format!("{}.{}", quote_ident("__silt_unit"), quote_ident("__silt_actual"));
    // The columns compared: those the expected rows name (for a SQL fixture, those of its
    // query). No rows and no columns: the model must return no rows.
    let expected_columns = match &spec.expect {
        FixtureRows::Sql(sql) => {
            let df = session.query(sql.trim().trim_end_matches(';')).await.map_err(|e| {
                at(&spec.expect_span, format!("the expected rows' query did not plan: {e}"))
            })?;
            df.schema().fields().iter().map(|f| f.name().clone()).collect()
        }
        other => fixture_columns(other),
    };
    let difference = if expected_columns.is_empty() {
        let actual_rows = collect_rows(&session, &format!("select * from {actual_from}")).await?;
        let names: Vec<String> = actual_schema.fields().iter().map(|f| f.name().clone()).collect();
        diff(&names, &[], &actual_rows.1)
    } else {
        let typed = compared_columns(spec, &actual_schema, &expected_columns)?;
        let projection: Vec<String> = typed.iter().map(|(actual, _, _)| quote_ident(actual)).collect();
        let actual_rows =
            collect_rows(&session, &format!("select {} from {actual_from}", projection.join(", "))).await?;
        let expected_rows = collect_rows(&session, &expected_sql(spec, &typed)?).await?;
        let selected: Vec<String> = typed.into_iter().map(|(actual, _, _)| actual).collect();
        diff(&selected, &expected_rows.1, &actual_rows.1)
    };
    Ok(UnitOutcome {
        status: if difference.is_none() { Status::Pass } else { Status::Fail },
        difference,
        compiled_sql: compiled.sql,
    })
}

/// The model the test runs, which must produce a relation.
fn model_of<'a>(
    parsed: &'a ParsedProject,
    package: &str,
    spec: &UnitTestSpec,
) -> Result<(String, &'a ParsedNode), ExecError> {
    let model_id = parsed
        .names
        .lookup_ref(package, None, &spec.model)
        .map_err(|e| at(&spec.model_span, e.to_string()))?
        .to_owned();
    let model = parsed
        .node(&model_id)
        .ok_or_else(|| at(&spec.model_span, format!("unknown model `{}`", spec.model)))?;
    if model.config.materialized == Materialization::Ephemeral {
        return Err(at(
            &spec.model_span,
            format!("`{}` is ephemeral: unit tests run models that produce a relation", spec.model),
        ));
    }
    Ok((model_id, model))
}

/// Every relation the model reads must be given (the rows are the whole world), through
/// ephemeral models too, whose SQL is inlined into the model's.
fn check_inputs_cover(
    parsed: &ParsedProject,
    model: &ParsedNode,
    spec: &UnitTestSpec,
    inputs: &[Input<'_>],
    test: &str,
) -> Result<(), ExecError> {
    let given: Vec<String> = inputs.iter().map(|i| i.relation.key()).collect();
    let mut stack: Vec<&String> = model.depends_on.iter().collect();
    let mut seen: Vec<&String> = Vec::new();
    while let Some(dep) = stack.pop() {
        if seen.contains(&dep) {
            continue;
        }
        seen.push(dep);
        if let Some(n) = parsed.node(dep)
            && n.config.materialized == Materialization::Ephemeral
        {
            stack.extend(n.depends_on.iter());
            continue;
        }
        let rel = parsed
            .node(dep)
            .map(|n| (n.relation.clone(), format!("ref('{}')", n.node.name)))
            .or_else(|| {
                parsed.source(dep).map(|s| {
                    (s.relation.clone(), format!("source('{}', '{}')", s.source.source_name, s.source.name))
                })
            });
        if let Some((rel, label)) = rel
            && !given.contains(&rel.key())
        {
            return Err(at(
                &spec.span,
                format!(
                    "unit test `{test}` gives no rows for {label}, which `{}` reads: add `- input: {label}` under `given` (with `rows: []` for none)",
                    spec.model
                ),
            ));
        }
    }
    Ok(())
}

/// A session of its own over an empty warehouse, with a view of literal rows standing
/// where each input relation would be: whatever the model reads that is not given fails
/// to plan instead of reading real tables.
async fn fixture_session(parsed: &ParsedProject, schemas: &Session, inputs: &[Input<'_>]) -> Result<Session, ExecError> {
    let target = &parsed.project.settings.target;
    let nowhere = target.warehouse_path.join(".silt-unit-tests-read-no-tables");
    let session = Session::new(&nowhere, &target.schema)?;
    if let Some(emotes) = crate::exec::emote_list(parsed)? {
        session.set_emotes(emotes);
    }
    for input in inputs {
        let columns = known_columns(schemas, &input.relation).await;
        let sql = fixture_sql(input.rows, columns.as_ref())
            .map_err(|m| at(&input.span, format!("in the rows given for {}: {m}", input.label)))?;
        session.register_view(&input.relation.schema, &input.relation.identifier, &sql);
    }
    Ok(session)
}

/// Why the model did not plan on the given rows, with a note for each input whose
/// relation is not built (so its columns are only those the test gives).
async fn not_planned(schemas: &Session, inputs: &[Input<'_>], e: ExecError) -> ExecError {
    let mut msg = format!("the model did not plan on the given rows: {e}");
    for input in inputs {
        if known_columns(schemas, &input.relation).await.is_none() {
            msg.push_str(&format!(
                "\nnote: {} has not been built, so its columns are only those the test gives; build it first or give every column the model reads",
                input.label
            ));
        }
    }
    ExecError::sql(msg).with_source(e)
}

/// For each expected column, the model's column it is compared with (matched by name,
/// else ignoring case) and that column's type: (actual name, expected name, type).
fn compared_columns(
    spec: &UnitTestSpec,
    actual: &SchemaRef,
    expected: &[String],
) -> Result<Vec<(String, String, DataType)>, ExecError> {
    let mut out = Vec::new();
    for c in expected {
        let Some(f) = actual
            .fields()
            .iter()
            .find(|f| f.name() == c)
            .or_else(|| actual.fields().iter().find(|f| f.name().eq_ignore_ascii_case(c)))
        else {
            let names: Vec<&str> = actual.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(at(
                &spec.expect_span,
                format!("expected column `{c}` is not in `{}`'s output (its columns: {})", spec.model, names.join(", ")),
            ));
        };
        out.push((f.name().clone(), c.clone(), f.data_type().clone()));
    }
    Ok(out)
}

/// The expected rows as a query, in the compared columns' types.
fn expected_sql(spec: &UnitTestSpec, typed: &[(String, String, DataType)]) -> Result<String, ExecError> {
    match &spec.expect {
        // A query's columns, by name and cast to the model's types.
        FixtureRows::Sql(sql) => {
            let casts: Vec<String> = typed
                .iter()
                .map(|(_, c, t)| format!("cast({} as {}) as {}", quote_ident(c), type_name(t), quote_ident(c)))
                .collect();
            Ok(format!("select {} from ({}) expected", casts.join(", "), sql.trim().trim_end_matches(';')))
        }
        other => {
            let columns: Vec<(String, DataType)> = typed.iter().map(|(_, c, t)| (c.clone(), t.clone())).collect();
            fixture_sql(other, Some(&columns)).map_err(|m| at(&spec.expect_span, format!("in the expected rows: {m}")))
        }
    }
}

fn overrides_of(spec: &UnitTestSpec) -> RenderOverrides {
    let mut macros = Map::new();
    let mut is_incremental = None;
    for (k, v) in &spec.overrides.macros {
        // `dbt.current_timestamp` and `current_timestamp` name the same macro.
        let name = k.rsplit('.').next().unwrap_or(k);
        if name == "is_incremental" {
            is_incremental = crate::config::as_bool(v);
        } else {
            macros.insert(name.to_owned(), v.clone());
        }
    }
    RenderOverrides {
        vars: spec.overrides.vars.clone(),
        macros,
        env_vars: spec.overrides.env_vars.clone(),
        is_incremental,
    }
}

fn resolve_inputs<'a>(
    parsed: &ParsedProject,
    model: &ParsedNode,
    spec: &'a UnitTestSpec,
) -> Result<Vec<Input<'a>>, ExecError> {
    let mut out = Vec::new();
    for g in &spec.given {
        let bad = |why: String| {
            ExecError::compile(
                Diagnostic::error(format!("`given` input `{}`: {why}", g.input))
                    .with_span(g.span.clone())
                    .render(false)
                    .trim_end()
                    .to_owned(),
            )
        };
        let relation = if g.input == "this" {
            model.relation.clone()
        } else {
            let (func, args) = parse_call(&g.input).ok_or_else(|| {
                bad("write it as `ref('model')`, `source('source', 'table')` or `this`".into())
            })?;
            match (func.as_str(), args.as_slice()) {
                ("ref", [name]) | ("ref", [_, name]) => {
                    let id = parsed.names.lookup_ref(&model.node.package, None, name).map_err(|e| bad(e.to_string()))?;
                    let n = parsed.node(id).ok_or_else(|| bad("not found".into()))?;
                    if n.config.materialized == Materialization::Ephemeral {
                        return Err(bad(format!(
                            "`{name}` is ephemeral; Silt cannot stand rows in for an ephemeral model yet: give the rows of what it reads instead"
                        )));
                    }
                    n.relation.clone()
                }
                ("source", [s, t]) => {
                    let id = parsed.names.lookup_source(&model.node.package, s, t).map_err(|e| bad(e.to_string()))?;
                    parsed
                        .source(id)
                        .ok_or_else(|| bad("not found".into()))?
                        .relation
                        .clone()
                }
                _ => return Err(bad("write it as `ref('model')`, `source('source', 'table')` or `this`".into())),
            }
        };
        out.push(Input {
            relation,
            label: g.input.clone(),
            rows: &g.rows,
            span: g.span.clone(),
        });
    }
    Ok(out)
}

/// `ref('a')` -> ("ref", ["a"]); quotes single or double.
fn parse_call(s: &str) -> Option<(String, Vec<String>)> {
    let s = s.trim();
    let open = s.find('(')?;
    let func = s[..open].trim().to_owned();
    let inner = s[open + 1..].strip_suffix(')')?;
    let mut args = Vec::new();
    for part in inner.split(',') {
        let p = part.trim();
        if p.is_empty() {
            continue;
        }
        let unq = p
            .strip_prefix('\'')
            .and_then(|x| x.strip_suffix('\''))
            .or_else(|| p.strip_prefix('"').and_then(|x| x.strip_suffix('"')))?;
        args.push(unq.to_owned());
    }
    Some((func, args))
}

/// The columns of a relation that can be read now, in order.
async fn known_columns(session: &Session, r: &Relation) -> Option<Vec<(String, DataType)>> {
    let sql = format!("select * from {} limit 0", r.render());
    let df = session.query(&sql).await.ok()?;
    Some(
        df.schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect(),
    )
}

/// The columns a fixture names, in first-seen order.
fn fixture_columns(rows: &FixtureRows) -> Vec<String> {
    match rows {
        FixtureRows::Dict(rows) => {
            let mut cols: Vec<String> = Vec::new();
            for r in rows {
                for k in r.keys() {
                    if !cols.contains(k) {
                        cols.push(k.clone());
                    }
                }
            }
            cols
        }
        FixtureRows::Csv(text) => parse_csv(text)
            .map(|(h, _)| h)
            .unwrap_or_default(),
        FixtureRows::Sql(_) => Vec::new(),
    }
}

/// A query producing a fixture's rows. With `columns`, every column is there, in that
/// order and type (those the rows leave out are null); without, the rows' own columns.
fn fixture_sql(rows: &FixtureRows, columns: Option<&Vec<(String, DataType)>>) -> Result<String, FixtureError> {
    let table: Vec<BTreeMap<String, Cell>> = match rows {
        FixtureRows::Sql(sql) => return Ok(sql.trim().trim_end_matches(';').to_owned()),
        FixtureRows::Dict(rows) => rows
            .iter()
            .map(|r| r.iter().map(|(k, v)| (k.clone(), Cell::Json(v.clone()))).collect())
            .collect(),
        FixtureRows::Csv(text) => {
            let (header, data) = parse_csv(text)?;
            data.into_iter()
                .map(|row| {
                    header
                        .iter()
                        .cloned()
                        .zip(row.into_iter().map(Cell::Text))
                        .collect()
                })
                .collect()
        }
    };
    let names: Vec<(String, Option<DataType>)> = match columns {
        Some(cols) => {
            for r in &table {
                for k in r.keys() {
                    if !cols.iter().any(|(c, _)| c.eq_ignore_ascii_case(k)) {
                        let known: Vec<&str> = cols.iter().map(|(c, _)| c.as_str()).collect();
                        return Err(FixtureError(format!(
                            "column `{k}` does not exist (the columns are: {})",
                            known.join(", ")
                        )));
                    }
                }
            }
            cols.iter().map(|(c, t)| (c.clone(), Some(t.clone()))).collect()
        }
        None => fixture_columns(rows).into_iter().map(|c| (c, None)).collect(),
    };
    if names.is_empty() {
        return Err(FixtureError("no columns: give at least one column".into()));
    }
    let value_of = |row: &BTreeMap<String, Cell>, name: &str| -> Option<Cell> {
        row.get(name)
            .or_else(|| row.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
            .cloned()
    };
    let select = |row: Option<&BTreeMap<String, Cell>>| -> String {
        let exprs: Vec<String> = names
            .iter()
            .map(|(name, ty)| {
                let lit = row
                    .and_then(|r| value_of(r, name))
                    .map_or_else(|| "null".to_owned(), |c| c.literal(ty.is_some()));
                match ty {
                    Some(t) => format!(
                        "cast({lit} as {}) as {}",
                        crate::exec::types::type_name(t),
                        quote_ident(name)
                    ),
                    None => format!("{lit} as {}", quote_ident(name)),
                }
            })
            .collect();
        format!("select {}", exprs.join(", "))
    };
    if table.is_empty() {
        return Ok(format!("{} where false", select(None)));
    }
    Ok(table
        .iter()
        .map(|r| select(Some(r)))
        .collect::<Vec<_>>()
        .join("\nunion all\n"))
}

#[derive(Debug, Clone)]
enum Cell {
    Json(Json),
    /// A CSV cell: text, cast to the column's type; empty is null.
    Text(String),
}

impl Cell {
    /// The cell as a SQL literal. A CSV cell headed for a known type is quoted and cast,
    /// so `007` stays `007` in a text column; untyped, a number is a number.
    fn literal(&self, typed: bool) -> String {
        match self {
            Cell::Json(Json::Null) => "null".into(),
            Cell::Json(Json::Bool(b)) => b.to_string(),
            Cell::Json(Json::Number(n)) => n.to_string(),
            Cell::Json(Json::String(s)) => format!("'{}'", s.replace('\'', "''")),
            Cell::Json(other) => format!("'{}'", other.to_string().replace('\'', "''")),
            Cell::Text(s) if s.is_empty() || s.eq_ignore_ascii_case("null") => "null".into(),
            Cell::Text(s) if typed => format!("'{}'", s.replace('\'', "''")),
            Cell::Text(s) => {
                if s.parse::<i64>().is_ok() || (s.parse::<f64>().is_ok() && !s.contains(['e', 'E', 'n', 'N', 'i', 'I'])) {
                    s.clone()
                } else {
                    format!("'{}'", s.replace('\'', "''"))
                }
            }
        }
    }
}

/// Rows given to or expected from a unit test that cannot be used; the message says which
/// cell, row or column is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
struct FixtureError(String);

/// A small CSV reader for fixtures: header and rows, with quoted cells.
fn parse_csv(text: &str) -> Result<(Vec<String>, Vec<Vec<String>>), FixtureError> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if cell.trim().is_empty() => {
                cell.clear();
                quoted = true;
            }
            (',', false) => row.push(std::mem::take(&mut cell).trim().to_owned()),
            ('\n', false) => {
                row.push(std::mem::take(&mut cell).trim().to_owned());
                rows.push(std::mem::take(&mut row));
            }
            ('\r', false) => {}
            (c, _) => cell.push(c),
        }
    }
    if quoted {
        return Err(FixtureError("a quoted CSV cell is not closed".into()));
    }
    row.push(cell.trim().to_owned());
    rows.push(row);
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .filter(|r| !(r.len() == 1 && r[0].is_empty()))
        .collect();
    let mut it = rows.into_iter();
    let header = it.next().ok_or_else(|| FixtureError("the CSV has no header line".into()))?;
    let data: Vec<Vec<String>> = it.collect();
    for (i, r) in data.iter().enumerate() {
        if r.len() != header.len() {
            return Err(FixtureError(format!(
                "CSV row {} has {} cells, the header has {}",
                i + 1,
                r.len(),
                header.len()
            )));
        }
    }
    Ok((header, data))
}

/// Runs a query and returns its rows as text cells (null as `None`).
async fn collect_rows(
    session: &Session,
    sql: &str,
) -> Result<(SchemaRef, Vec<Vec<Option<String>>>), ExecError> {
    let preview = crate::exec::show::preview(session, sql, -1).await?;
    Ok((preview.schema.clone(), rows_of(&preview)?))
}

fn rows_of(p: &Preview) -> Result<Vec<Vec<Option<String>>>, ExecError> {
    let json = p.to_json_rows()?;
    let names: Vec<String> = p.schema.fields().iter().map(|f| f.name().clone()).collect();
    Ok(json
        .into_iter()
        .map(|r| {
            names
                .iter()
                .map(|n| match r.get(n) {
                    None | Some(Json::Null) => None,
                    Some(Json::String(s)) => Some(s.clone()),
                    Some(Json::Number(x)) => Some(normalize_number(x)),
                    Some(v) => Some(v.to_string()),
                })
                .collect()
        })
        .collect())
}

/// Numbers compared by value: `1.0` and `1` are the same expected value.
fn normalize_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        Some(f) => format!("{f}"),
        None => n.to_string(),
    }
}

/// What differs between expected and actual rows (multisets, order ignored): a summary
/// and a table of the rows only one side has; none when they are equal.
fn diff(
    columns: &[String],
    expected: &[Vec<Option<String>>],
    actual: &[Vec<Option<String>>],
) -> Option<(String, String)> {
    let mut remaining: Vec<&Vec<Option<String>>> = actual.iter().collect();
    let mut missing: Vec<&Vec<Option<String>>> = Vec::new();
    for e in expected {
        match remaining.iter().position(|a| *a == e) {
            Some(i) => {
                remaining.remove(i);
            }
            None => missing.push(e),
        }
    }
    if missing.is_empty() && remaining.is_empty() {
        return None;
    }
    let rows = |n: usize| if n == 1 { "1 row".to_owned() } else { format!("{n} rows") };
    let summary = format!(
        "actual differs from expected: {} expected but not returned, {} returned but not expected",
        rows(missing.len()),
        rows(remaining.len())
    );
    let mut table: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["diff".to_owned()];
    header.extend(columns.iter().cloned());
    table.push(header);
    for (mark, side) in [("-", &missing), ("+", &remaining)] {
        for r in side.iter() {
            let mut line = vec![mark.to_owned()];
            line.extend(r.iter().map(|c| c.clone().unwrap_or_else(|| "null".into())));
            table.push(line);
        }
    }
    let widths: Vec<usize> = (0..table[0].len())
        .map(|i| table.iter().map(|r| r[i].chars().count()).max().unwrap_or(0).max(1))
        .collect();
    let line = |r: &[String]| -> String {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        format!("| {} |\n", cells.join(" | "))
    };
    let mut out = line(&table[0]);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&format!("| {} |\n", rule.join(" | ")));
    for r in &table[1..] {
        out.push_str(&line(r));
    }
    out.push_str("(- expected but not returned, + returned but not expected)");
    Some((summary, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_csv_fixtures() {
        let (h, rows) = parse_csv("id,name\n1,\"a, b\"\n2,\"say \"\"hi\"\"\"\n").unwrap();
        assert_eq!(h, vec!["id", "name"]);
        assert_eq!(rows, vec![vec!["1", "a, b"], vec!["2", "say \"hi\""]]);
        assert!(parse_csv("a,b\n1\n").is_err());
    }

    #[test]
    fn parses_input_calls() {
        assert_eq!(parse_call("ref('x')"), Some(("ref".into(), vec!["x".into()])));
        assert_eq!(
            parse_call("source(\"s\", 't')"),
            Some(("source".into(), vec!["s".into(), "t".into()]))
        );
        assert_eq!(parse_call("ref(x)"), None);
    }

    #[test]
    fn diffs_are_multisets() {
        let cols = vec!["id".to_owned()];
        let a = vec![vec![Some("1".into())], vec![Some("1".into())]];
        let b = vec![vec![Some("1".into())]];
        assert!(diff(&cols, &a, &a).is_none());
        let (summary, table) = diff(&cols, &a, &b).unwrap();
        assert!(summary.ends_with("1 row expected but not returned, 0 rows returned but not expected"), "{summary}");
        assert!(table.contains("| -    | 1  |"), "{table}");
    }
}
