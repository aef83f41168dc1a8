//! SQL text handling with sqlparser (through DataFusion's re-export): checking that a
//! compiled model is one query, and splicing ephemeral models in as CTEs the way dbt does.

use deltalake::datafusion::sql::sqlparser::ast::Statement;
use deltalake::datafusion::sql::sqlparser::dialect::GenericDialect;
use deltalake::datafusion::sql::sqlparser::parser::Parser;

/// A syntax problem in compiled SQL, with its position in that SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

/// Checks that `sql` parses as exactly one query (a SELECT, possibly with a WITH).
pub fn check_query(sql: &str) -> Result<(), SqlError> {
    let statements = Parser::parse_sql(&GenericDialect {}, sql).map_err(|e| {
        let text = e.to_string();
        let (message, line, column) = split_location(&text);
        SqlError { message: message.trim_start_matches("sql parser error: ").to_owned(), line, column }
    })?;
    match statements.as_slice() {
        [Statement::Query(_)] => Ok(()),
        [] => Err(SqlError { message: "the model's SQL is empty".into(), line: None, column: None }),
        [_] => Err(SqlError {
            message: "a model must be a SELECT query, not another kind of statement".into(),
            line: None,
            column: None,
        }),
        many => Err(SqlError {
            message: format!("a model must be a single SELECT query, but this has {} statements", many.len()),
            line: None,
            column: None,
        }),
    }
}

/// sqlparser appends " at Line: L, Column: C"; split it off.
fn split_location(text: &str) -> (String, Option<usize>, Option<usize>) {
    if let Some(i) = text.rfind(" at Line: ") {
        let rest = &text[i + " at Line: ".len()..];
        let mut parts = rest.split(", Column: ");
        let line = parts.next().and_then(|l| l.trim().parse().ok());
        let column = parts.next().and_then(|c| c.trim().trim_end_matches(|ch: char| !ch.is_ascii_digit()).parse().ok());
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
            format!("{}{}{}, {}", &sql[..after_with], &rest[..ws_len], joined, &rest[ws_len..])
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
    let word_end = sql[i..].find(|c: char| !c.is_ascii_alphanumeric() && c != '_').map_or(sql.len(), |n| i + n);
    if !sql[i..word_end].eq_ignore_ascii_case("with") {
        return None;
    }
    let rest = &sql[word_end..];
    let trimmed = rest.trim_start();
    if trimmed.len() >= 9 && trimmed[..9].eq_ignore_ascii_case("recursive") && !trimmed[9..].starts_with(|c: char| c.is_alphanumeric() || c == '_') {
        return Some(word_end + (rest.len() - trimmed.len()) + 9);
    }
    Some(word_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injects_like_dbt() {
        let ctes = vec![" __dbt__cte__a as (\nselect 1\n)".to_owned(), " __dbt__cte__b as (\nselect 2\n)".to_owned()];
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
    fn checks_queries() {
        assert!(check_query("select 1;").is_ok());
        assert!(check_query("with a as (select 1) select * from a").is_ok());
        let err = check_query("select 1;\nselect 2").unwrap_err();
        assert!(err.message.contains("2 statements"));
        let err = check_query("select *\nfrom t where x = = 1").unwrap_err();
        assert_eq!(err.line, Some(2), "{err:?}");
        assert!(check_query("create table x (a int)").unwrap_err().message.contains("SELECT"));
    }
}
