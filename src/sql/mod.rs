//! SQL text handling with sqlparser (through DataFusion's re-export): checking that a
//! compiled model is one query, and splicing ephemeral models in as CTEs the way dbt does.

use std::ops::ControlFlow;

mod command;
pub use command::{ColumnSpec, Command, ScriptStatement, TableName, command, script};

use deltalake::datafusion::sql::sqlparser::ast::{
    DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, ObjectNamePart, Statement, TimezoneInfo, VisitMut,
    visit_expressions_mut,
};
use deltalake::datafusion::sql::sqlparser::dialect::GenericDialect;
use deltalake::datafusion::sql::sqlparser::parser::Parser;

/// A syntax problem in compiled SQL, with its position in that SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

/// A parser error, with the line and column it names.
fn parser_error(e: deltalake::datafusion::sql::sqlparser::parser::ParserError) -> SqlError {
    let text = e.to_string();
    let (message, line, column) = split_location(&text);
    SqlError {
        message: message.trim_start_matches("sql parser error: ").to_owned(),
        line,
        column,
    }
}

/// Checks that `sql` parses as exactly one query (a SELECT, possibly with a WITH).
pub fn check_query(sql: &str) -> Result<(), SqlError> {
    let statements = Parser::parse_sql(&GenericDialect {}, sql).map_err(parser_error)?;
    match statements.as_slice() {
        [Statement::Query(_)] => Ok(()),
        [] => Err(SqlError {
            message: "the model's SQL is empty".into(),
            line: None,
            column: None,
        }),
        [_] => Err(SqlError {
            message: "a model must be a SELECT query, not another kind of statement".into(),
            line: None,
            column: None,
        }),
        many => Err(SqlError {
            message: format!(
                "a model must be a single SELECT query, but this has {} statements",
                many.len()
            ),
            line: None,
            column: None,
        }),
    }
}

/// Parses one query for the engine, rewriting other dialects' function spellings into ones
/// DataFusion (with Silt's functions) understands: `iff`/`if`, `year(x)` and friends,
/// `count_if`, `len`, `strftime`, `epoch`, `last_day`, Spark's two-argument
/// `datediff`/`date_add`/`date_sub`, `nvl`-style helpers DataFusion lacks.
pub fn parse_for_engine(sql: &str) -> Result<Statement, SqlError> {
    rewrite_statement(parse_one(sql)?)
}

/// Parses `sql`, which must be exactly one statement.
fn parse_one(sql: &str) -> Result<Statement, SqlError> {
    let mut statements = Parser::parse_sql(&GenericDialect {}, sql).map_err(parser_error)?;
    if statements.len() != 1 {
        return Err(SqlError {
            message: format!("expected one SQL statement, found {}", statements.len()),
            line: None,
            column: None,
        });
    }
    Ok(statements.remove(0))
}

/// A statement with other dialects' function spellings rewritten (see [`parse_for_engine`]).
fn rewrite_statement(mut statement: Statement) -> Result<Statement, SqlError> {
    rewrite_in(&mut statement)?;
    Ok(statement)
}

/// An expression with other dialects' function spellings rewritten.
fn rewrite_expr(expr: &mut Expr) -> Result<(), SqlError> {
    rewrite_in(expr)
}

fn rewrite_in<V: VisitMut>(node: &mut V) -> Result<(), SqlError> {
    let mut failure = None;
    let _ = visit_expressions_mut(node, |expr| {
        // DuckDB's and MySQL's `DATETIME` is a timestamp, which DataFusion does not spell so.
        if let Expr::Cast { data_type, .. } = expr
            && matches!(data_type, DataType::Datetime(_))
        {
            *data_type = DataType::Timestamp(None, TimezoneInfo::None);
        }
        match rewrite_call(expr) {
            Ok(Some(new)) => *expr = new,
            Ok(None) => {}
            Err(e) => {
                failure = Some(e);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The replacement for a function call, if it is one Silt rewrites.
fn rewrite_call(expr: &Expr) -> Result<Option<Expr>, SqlError> {
    let Expr::Function(f) = expr else {
        return Ok(None);
    };
    if f.over.is_some() || f.filter.is_some() || f.name.0.len() != 1 {
        return Ok(None);
    }
    let Some(ObjectNamePart::Identifier(ident)) = f.name.0.first() else {
        return Ok(None);
    };
    let name = ident.value.to_lowercase();
    let FunctionArguments::List(list) = &f.args else {
        return Ok(None);
    };
    if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
        return Ok(None);
    }
    let mut args = Vec::new();
    for a in &list.args {
        match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => args.push(e.to_string()),
            _ => return Ok(None),
        }
    }
    let part = |p: &str, x: &str| format!("cast(date_part('{p}', {x}) as bigint)");
    let text = match (name.as_str(), args.as_slice()) {
        ("iff" | "if", [c, a, b]) => format!("(CASE WHEN {c} THEN {a} ELSE {b} END)"),
        ("year" | "month" | "day" | "hour" | "minute" | "second" | "quarter", [x]) => {
            part(&name, x)
        }
        ("week" | "weekofyear", [x]) => part("week", x),
        ("dayofmonth", [x]) => part("day", x),
        ("dayofweek", [x]) => part("dow", x),
        ("dayofyear", [x]) => part("doy", x),
        ("epoch", [x]) => format!("date_part('epoch', {x})"),
        ("count_if", [c]) => format!("count(CASE WHEN {c} THEN 1 END)"),
        // DuckDB's part names DataFusion spells otherwise (its `week` is the ISO week, and
        // `dow` counts from Sunday as DuckDB's `dayofweek`).
        ("date_part" | "datepart", [p, x]) if duckdb_part(p).is_some() => duckdb_part(p).unwrap_or_default().replace("{x}", x),
        ("date_trunc", [p, x]) if p.trim().eq_ignore_ascii_case("'isoweek'") => format!("date_trunc('week', {x})"),
        ("len", [x]) => format!("character_length({x})"),
        // DuckDB's and Spark's `mod(a, b)`: the remainder, as `%`.
        ("mod", [a, b]) => format!("(({a}) % ({b}))"),
        ("strftime", [x, fmt]) => format!("to_char({x}, {fmt})"),
        ("last_day", [x]) => format!(
            "cast(dateadd('day', -1, dateadd('month', 1, date_trunc('month', {x}))) as date)"
        ),
        // Spark: datediff(end, start) in days; date_add(start, days); date_sub(start, days).
        ("datediff" | "date_diff", [end, start]) => format!("datediff('day', {start}, {end})"),
        ("date_add", [x, n]) if !n.trim_start().to_lowercase().starts_with("interval") => {
            format!("cast(dateadd('day', {n}, {x}) as date)")
        }
        ("date_add", [x, n]) => format!("({x} + {n})"),
        ("date_sub", [x, n]) => format!("cast(dateadd('day', -({n}), {x}) as date)"),
        ("date_add", [p, n, x]) => format!("dateadd({p}, {n}, {x})"),
        _ => return Ok(None),
    };
    Parser::new(&GenericDialect {})
        .try_with_sql(&text)
        .and_then(|mut p| p.parse_expr())
        .map(Some)
        .map_err(|e| SqlError {
            message: format!("cannot rewrite `{expr}`: {e}"),
            line: None,
            column: None,
        })
}

/// A DuckDB date part DataFusion does not know, as a DataFusion expression of `{x}`.
fn duckdb_part(part: &str) -> Option<String> {
    let p = part.trim().trim_matches('\'').to_lowercase();
    Some(match p.as_str() {
        "dayofweek" | "weekday" => "date_part('dow', {x})".to_owned(),
        "dayofyear" => "date_part('doy', {x})".to_owned(),
        "isoweek" | "weekofyear" => "date_part('week', {x})".to_owned(),
        "isodow" => "((date_part('dow', {x}) + 6) % 7 + 1)".to_owned(),
        _ => return None,
    })
}

/// sqlparser appends " at Line: L, Column: C"; split it off.
fn split_location(text: &str) -> (String, Option<usize>, Option<usize>) {
    if let Some(i) = text.rfind(" at Line: ") {
        let rest = &text[i + " at Line: ".len()..];
        let mut parts = rest.split(", Column: ");
        let line = parts.next().and_then(|l| l.trim().parse().ok());
        let column = parts.next().and_then(|c| {
            c.trim()
                .trim_end_matches(|ch: char| !ch.is_ascii_digit())
                .parse()
                .ok()
        });
        return (text[..i].to_owned(), line, column);
    }
    (text.to_owned(), None, None)
}

/// Splices CTEs (each `" name as (\n...\n)"`) into `sql` exactly as dbt's
/// `inject_ctes_into_sql` does: after a leading `with` (keeping its whitespace), or as a
/// new `with` clause in front.
pub fn inject_ctes(sql: &str, ctes: &[String]) -> String {
    if ctes.is_empty() {
        return sql.to_owned();
    }
    let joined = ctes.join(", ");
    match leading_with(sql) {
        Some(after_with) => {
            let rest = &sql[after_with..];
            let ws_len = rest.len() - rest.trim_start().len();
            format!(
                "{}{}{}, {}",
                &sql[..after_with],
                &rest[..ws_len],
                joined,
                &rest[ws_len..]
            )
        }
        None => format!("with{joined} {sql}"),
    }
}

/// If the first word of `sql` (after whitespace and comments) is `with`, the byte offset
/// just past it (and past `recursive` if that follows).
fn leading_with(sql: &str) -> Option<usize> {
    let bytes = sql.as_bytes();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if sql[i..].starts_with("--") {
            i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
        } else if sql[i..].starts_with("/*") {
            i = sql[i..].find("*/").map_or(bytes.len(), |n| i + n + 2);
        } else {
            break;
        }
    }
    let word_end = sql[i..]
        .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .map_or(sql.len(), |n| i + n);
    if !sql[i..word_end].eq_ignore_ascii_case("with") {
        return None;
    }
    let rest = &sql[word_end..];
    let trimmed = rest.trim_start();
    let is_recursive = trimmed
        .get(..9)
        .is_some_and(|w| w.eq_ignore_ascii_case("recursive"))
        && !trimmed[9..].starts_with(|c: char| c.is_alphanumeric() || c == '_');
    if is_recursive {
        return Some(word_end + (rest.len() - trimmed.len()) + 9);
    }
    Some(word_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injects_like_dbt() {
        let ctes = vec![
            " __dbt__cte__a as (\nselect 1\n)".to_owned(),
            " __dbt__cte__b as (\nselect 2\n)".to_owned(),
        ];
        assert_eq!(
            inject_ctes("with base as (select 3)\nselect * from base", &ctes),
            "with  __dbt__cte__a as (\nselect 1\n),  __dbt__cte__b as (\nselect 2\n), base as (select 3)\nselect * from base"
        );
        assert_eq!(
            inject_ctes("select * from __dbt__cte__a", &ctes[..1]),
            "with __dbt__cte__a as (\nselect 1\n) select * from __dbt__cte__a"
        );
        assert_eq!(
            inject_ctes("-- note\nWITH x as (select 1) select * from x", &ctes[..1]),
            "-- note\nWITH  __dbt__cte__a as (\nselect 1\n), x as (select 1) select * from x"
        );
        assert_eq!(inject_ctes("select 'with'", &[]), "select 'with'");
        assert!(leading_with("without_table").is_none());
    }

    #[test]
    fn rewrites_other_dialects() {
        let s = parse_for_engine(
            "select iff(a > 1, 'x', 'y'), year(d), count_if(b), datediff(e, s) from t",
        )
        .unwrap()
        .to_string();
        assert_eq!(
            s,
            "SELECT (CASE WHEN a > 1 THEN 'x' ELSE 'y' END), CAST(date_part('year', d) AS BIGINT), count(CASE WHEN b THEN 1 END), datediff('day', s, e) FROM t"
        );
        // Nested calls are rewritten inside out.
        let s = parse_for_engine("select year(iff(c, d1, d2)) from t")
            .unwrap()
            .to_string();
        assert_eq!(
            s,
            "SELECT CAST(date_part('year', (CASE WHEN c THEN d1 ELSE d2 END)) AS BIGINT) FROM t"
        );
        assert!(parse_for_engine("select 1; select 2").is_err());
        assert_eq!(
            parse_for_engine("select mod(a + 1, 3) from t").unwrap().to_string(),
            "SELECT ((a + 1) % (3)) FROM t"
        );
        assert_eq!(
            parse_for_engine("select date_part('dayofweek', d), date_part('isodow', d), datepart('isoweek', d), date_trunc('isoweek', d) from t")
                .unwrap()
                .to_string(),
            "SELECT date_part('dow', d), ((date_part('dow', d) + 6) % 7 + 1), date_part('week', d), date_trunc('week', d) FROM t"
        );
        assert_eq!(
            parse_for_engine("select cast(d as datetime), d::DATETIME from t").unwrap().to_string(),
            "SELECT CAST(d AS TIMESTAMP), d::TIMESTAMP FROM t"
        );
    }

    #[test]
    fn checks_queries() {
        assert!(check_query("select 1;").is_ok());
        assert!(check_query("with a as (select 1) select * from a").is_ok());
        let err = check_query("select 1;\nselect 2").unwrap_err();
        assert!(err.message.contains("2 statements"));
        let err = check_query("select *\nfrom t where x = = 1").unwrap_err();
        assert_eq!(err.line, Some(2), "{err:?}");
        assert!(
            check_query("create table x (a int)")
                .unwrap_err()
                .message
                .contains("SELECT")
        );
    }
}
