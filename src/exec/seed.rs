//! Seeds: CSV files loaded into Delta tables, typed the way dbt types them.
//!
//! dbt (agate) tries, per column, in order: number, date (`%Y-%m-%d`), datetime
//! (`%Y-%m-%d %H:%M:%S`), ISO datetime (with a `T`), boolean (`true`/`false`, any case), and
//! falls back to text; a type is kept only if every non-empty cell fits it. Numbers with no
//! fractional part anywhere in the column are integers. Silt follows those rules with
//! three deliberate differences from dbt-duckdb (which types with agate but loads with
//! DuckDB's CSV reader): integers are 64-bit (dbt-duckdb's 32-bit INTEGER fails on larger
//! values), a `null` cell in a typed column is a null (DuckDB rejects it), and ISO
//! timestamps with an offset are converted to UTC (DuckDB drops the offset).
//! `column_types` overrides the type of a column with any SQL type.

use std::path::Path;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime};
use deltalake::arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use deltalake::arrow::csv::ReaderBuilder;
use deltalake::arrow::csv::reader::Format;
use deltalake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::datasource::MemTable;

use super::ExecError;
use super::materialize::{Context, Outcome, nullable};
use super::write::WriteMode;
use super::types::{sql_type, type_name};
use crate::parse::ParsedNode;

/// The type a column of text cells is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedType {
    Integer,
    Float,
    Date,
    Timestamp,
    Boolean,
    Text,
}

impl SeedType {
    fn arrow(self) -> DataType {
        match self {
            SeedType::Integer => DataType::Int64,
            SeedType::Float => DataType::Float64,
            SeedType::Date => DataType::Date32,
            SeedType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            SeedType::Boolean => DataType::Boolean,
            SeedType::Text => DataType::Utf8,
        }
    }
}

fn is_null_token(s: &str) -> bool {
    s.trim().eq_ignore_ascii_case("null")
}

/// A number as agate reads it, without the currency and percent signs DuckDB rejects.
fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    if body.is_empty()
        || !body
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '.')
    {
        return None;
    }
    if !body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn parse_integer(s: &str) -> Option<i64> {
    let t = s.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Some(i);
    }
    let f = parse_number(t)?;
    (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64)
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    let t = s.trim();
    if let Ok(dt) = NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S") {
        return Some(dt);
    }
    if !t.contains('T') {
        return None;
    }
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(t) {
        return Some(dt.naive_utc());
    }
    NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M"))
        .ok()
}

fn parse_bool(s: &str) -> Option<bool> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("true") {
        Some(true)
    } else if t.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// The type of a column from its cells (`None` is an empty cell).
pub fn infer(cells: &[Option<&str>]) -> SeedType {
    let values: Vec<&str> = cells
        .iter()
        .flatten()
        .copied()
        .filter(|s| !is_null_token(s))
        .collect();
    if values.iter().all(|v| parse_number(v).is_some()) {
        return if values.iter().all(|v| parse_integer(v).is_some()) {
            SeedType::Integer
        } else {
            SeedType::Float
        };
    }
    if values.iter().all(|v| parse_date(v).is_some()) {
        return SeedType::Date;
    }
    if values.iter().all(|v| parse_datetime(v).is_some()) {
        return SeedType::Timestamp;
    }
    if values.iter().all(|v| parse_bool(v).is_some()) {
        return SeedType::Boolean;
    }
    SeedType::Text
}

/// Converts text cells to an array of `ty`. Cells were checked by [`infer`].
fn convert(cells: &[Option<&str>], ty: SeedType) -> ArrayRef {
    fn keep<'a>(s: &Option<&'a str>, ty: SeedType) -> Option<&'a str> {
        s.filter(|v| !is_null_token(v) || ty == SeedType::Text)
    }
    match ty {
        SeedType::Integer => Arc::new(
            cells
                .iter()
                .map(|c| keep(c, ty).and_then(parse_integer))
                .collect::<Int64Array>(),
        ),
        SeedType::Float => Arc::new(
            cells
                .iter()
                .map(|c| keep(c, ty).and_then(parse_number))
                .collect::<Float64Array>(),
        ),
        SeedType::Date => {
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
            Arc::new(
                cells
                    .iter()
                    .map(|c| {
                        keep(c, ty)
                            .and_then(parse_date)
                            .map(|d| (d - epoch).num_days() as i32)
                    })
                    .collect::<Date32Array>(),
            )
        }
        SeedType::Timestamp => Arc::new(
            cells
                .iter()
                .map(|c| {
                    keep(c, ty)
                        .and_then(parse_datetime)
                        .map(|d| d.and_utc().timestamp_micros())
                })
                .collect::<TimestampMicrosecondArray>(),
        ),
        SeedType::Boolean => Arc::new(
            cells
                .iter()
                .map(|c| keep(c, ty).and_then(parse_bool))
                .collect::<BooleanArray>(),
        ),
        SeedType::Text => Arc::new(
            cells
                .iter()
                .map(|c| c.map(str::to_owned))
                .collect::<StringArray>(),
        ),
    }
}

/// Reads a CSV file as text columns.
fn read_text(
    path: &Path,
    delimiter: u8,
) -> Result<(Vec<String>, Vec<Vec<Option<String>>>), ExecError> {
    let seed_err = |m: String| ExecError::seed(format!("cannot read `{}`: {m}", path.display()));
    let open = || std::fs::File::open(path).map_err(|e| seed_err(e.to_string()));
    let (schema, _) = Format::default()
        .with_header(true)
        .with_delimiter(delimiter)
        .infer_schema(open()?, Some(0))
        .map_err(|e| seed_err(e.to_string()))?;
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| f.name().trim_start_matches('\u{feff}').to_owned())
        .collect();
    if names.is_empty() {
        return Err(seed_err("the file has no header row".into()));
    }
    let mut seen = std::collections::HashSet::new();
    for n in &names {
        if !seen.insert(n.to_lowercase()) {
            return Err(seed_err(format!(
                "column `{n}` appears twice in the header"
            )));
        }
    }
    let text_schema = Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let reader = ReaderBuilder::new(text_schema)
        .with_header(true)
        .with_delimiter(delimiter)
        .build(open()?)
        .map_err(|e| seed_err(e.to_string()))?;
    let mut columns: Vec<Vec<Option<String>>> = vec![Vec::new(); names.len()];
    for batch in reader {
        let batch = batch.map_err(|e| seed_err(e.to_string()))?;
        for (i, col) in batch.columns().iter().enumerate() {
            let strings = col
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| seed_err("unexpected column type (this is a bug)".into()))?;
            columns[i].extend(
                (0..strings.len())
                    .map(|r| (!strings.is_null(r)).then(|| strings.value(r).to_owned())),
            );
        }
    }
    Ok((names, columns))
}

/// Loads a seed into its table.
pub async fn load(ctx: &Context<'_>, root: &Path, node: &ParsedNode) -> Result<Outcome, ExecError> {
    let path = root.join(&node.node.original_file_path);
    let delimiter = match node.config.delimiter.as_deref() {
        None => b',',
        Some(d) if d.len() == 1 => d.as_bytes()[0],
        Some("\\t") => b'\t',
        Some(d) => {
            return Err(ExecError::seed(format!(
                "`delimiter` must be one character, not `{d}`"
            )));
        }
    };
    let column_types = &node.config.column_types;
    let (names, columns) = read_text(&path, delimiter)?;
    for key in column_types.keys() {
        if !names.iter().any(|n| n == key) {
            let d = crate::diagnostic::did_you_mean(key, names.iter().map(String::as_str));
            return Err(ExecError::seed(format!(
                "`column_types` names `{key}`, which is not a column of {}{}",
                node.node.original_file_path,
                d.map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default()
            )));
        }
    }
    let rows = columns.first().map_or(0, Vec::len);
    let mut fields = Vec::new();
    let mut arrays = Vec::new();
    for (name, cells) in names.iter().zip(&columns) {
        // A decimal written in a column typed as an integer loads as DuckDB loads it (dbt
        // reads `4.0` as a number, which the integer column takes, rounded).
        let integral: Vec<Option<String>>;
        let cells = match column_types.get(name) {
            Some(t) if is_integer_type(t) => {
                integral = cells.iter().map(|c| c.as_deref().map(round_decimal)).collect();
                &integral
            }
            _ => cells,
        };
        let refs: Vec<Option<&str>> = cells.iter().map(|c| c.as_deref()).collect();
        let ty = if column_types.contains_key(name) {
            SeedType::Text
        } else {
            infer(&refs)
        };
        fields.push(Field::new(name, ty.arrow(), true));
        arrays.push(convert(&refs, ty));
    }
    let schema = Arc::new(Schema::new(fields));
    let batch =
        RecordBatch::try_new(schema.clone(), arrays).map_err(|e| ExecError::seed(e.to_string()))?;
    let table = MemTable::try_new(schema, vec![vec![batch]])?;
    let df = ctx
        .session
        .context()
        .read_table(Arc::new(table))?;
    let q = crate::relation::quote_ident;
    let df = if column_types.is_empty() {
        df
    } else {
        let exprs: Vec<String> = names
            .iter()
            .map(|n| match column_types.get(n) {
                Some(t) => format!(
                    "cast({} as {}) as {}",
                    q(n),
                    sql_type(t),
                    q(n)
                ),
                None => q(n),
            })
            .collect();
        let expr_refs: Vec<&str> = exprs.iter().map(String::as_str).collect();
        df.select_exprs(&expr_refs).map_err(|e| {
            ExecError::seed(format!("`column_types`: {}", super::error::clean(&e)))
        })?
    };
    let dir = node.relation.path(ctx.warehouse);
    let full = node.config.refreshes_fully(ctx.full_refresh);
    let existed = ctx.exists(&dir).await;
    let (mode, df) = if existed && !full {
        // Like dbt's truncate-and-load: the new rows take the existing table's types.
        let target = ctx.arrow_schema(&dir).await?;
        let names_match = target.fields().len() == names.len()
            && target
                .fields()
                .iter()
                .zip(&names)
                .all(|(f, n)| f.name() == n);
        if !names_match {
            return Err(ExecError::schema(format!(
                "the columns of {} no longer match its table; run `silt seed --full-refresh` to rebuild it",
                node.node.original_file_path
            )));
        }
        let exprs: Vec<String> = target
            .fields()
            .iter()
            .map(|f| {
                format!(
                    "cast({} as {}) as {}",
                    q(f.name()),
                    type_name(f.data_type()),
                    q(f.name())
                )
            })
            .collect();
        let expr_refs: Vec<&str> = exprs.iter().map(String::as_str).collect();
        let df = df
            .select_exprs(&expr_refs)?;
        (WriteMode::ReplaceData, df)
    } else {
        (WriteMode::Replace, df)
    };
    let out = ctx.write(&dir, nullable(df)?)
        .with_mode(mode)
        .run()
        .await?;
    ctx.session
        .invalidate(&node.relation.schema, &node.relation.identifier);
    let verb = if existed && full { "CREATE" } else { "INSERT" };
    Ok(Outcome {
        message: format!("{verb} {rows}"),
        rows: Some(rows as u64),
        version: Some(out.version),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(cells: &[&str]) -> SeedType {
        let v: Vec<Option<&str>> = cells
            .iter()
            .map(|c| if c.is_empty() { None } else { Some(*c) })
            .collect();
        infer(&v)
    }

    #[test]
    fn infers_like_dbt() {
        assert_eq!(ty(&["1", "2", "3"]), SeedType::Integer);
        assert_eq!(ty(&["007", "+5", " 1", "2 "]), SeedType::Integer);
        assert_eq!(ty(&["1.0", "2.0", "1e5"]), SeedType::Integer);
        assert_eq!(ty(&["1.5", "2"]), SeedType::Float);
        assert_eq!(ty(&["1", "", "3"]), SeedType::Integer);
        assert_eq!(ty(&["1", "null", "3"]), SeedType::Integer);
        assert_eq!(ty(&["1", "NA"]), SeedType::Text);
        assert_eq!(ty(&["", ""]), SeedType::Integer);
        assert_eq!(ty(&["1,000", "2"]), SeedType::Text);
        assert_eq!(ty(&["$5", "6"]), SeedType::Text);
        assert_eq!(ty(&["NaN", "1"]), SeedType::Text);
        assert_eq!(ty(&["true", "FALSE", ""]), SeedType::Boolean);
        assert_eq!(ty(&["true", "1"]), SeedType::Text);
        assert_eq!(ty(&["1", "0"]), SeedType::Integer);
        assert_eq!(ty(&["t", "f"]), SeedType::Text);
        assert_eq!(ty(&["2024-01-15", "2024-02-01"]), SeedType::Date);
        assert_eq!(ty(&["2024/01/15"]), SeedType::Text);
        assert_eq!(ty(&["2024-01-15 10:30:00"]), SeedType::Timestamp);
        assert_eq!(
            ty(&["2024-01-15T10:30:00.123", "2024-02-01T00:00:00"]),
            SeedType::Timestamp
        );
        assert_eq!(ty(&["2024-01-15 10:30:00.123"]), SeedType::Text);
        assert_eq!(ty(&["2024-01-15", "2024-02-01 10:00:00"]), SeedType::Text);
        assert_eq!(ty(&["10:30:00"]), SeedType::Text);
        assert_eq!(ty(&["a", "", "null"]), SeedType::Text);
    }

    #[test]
    fn converts_offsets_to_utc_and_keeps_text_nulls() {
        let cells = [Some("2024-02-01T02:00:00+02:00")];
        let a = convert(&cells, SeedType::Timestamp);
        let a = a
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        assert_eq!(
            a.value(0),
            NaiveDate::from_ymd_opt(2024, 2, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_micros()
        );
        let t = convert(&[Some("null"), None], SeedType::Text);
        let t = t.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!((t.value(0), t.is_null(1)), ("null", true));
    }
}

/// Whether a `column_types` type is an integer type (its spellings as `sql_type` reads them).
fn is_integer_type(t: &str) -> bool {
    matches!(
        sql_type(t).as_str(),
        "int" | "bigint" | "smallint" | "tinyint" | "int16" | "int32" | "int64" | "signed" | "hugeint" | "ubigint"
            | "uinteger" | "usmallint" | "utinyint"
    )
}

/// `4.0` as `4`, `4.5` as `5`, `-4.5` as `-5` (half away from zero, as DuckDB casts a
/// decimal to an integer); anything else as written, for the cast to judge.
fn round_decimal(cell: &str) -> String {
    let text = cell.trim();
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.strip_prefix('+').unwrap_or(text)),
    };
    let Some((whole, fraction)) = digits.split_once('.') else {
        return cell.to_owned();
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return cell.to_owned();
    }
    let up = fraction.bytes().next().is_some_and(|b| b >= b'5');
    if !up {
        return format!("{sign}{whole}");
    }
    // Add one to the decimal digits of `whole`.
    let mut out: Vec<u8> = whole.bytes().collect();
    let mut i = out.len();
    loop {
        if i == 0 {
            out.insert(0, b'1');
            break;
        }
        i -= 1;
        if out[i] == b'9' {
            out[i] = b'0';
        } else {
            out[i] += 1;
            break;
        }
    }
    format!("{sign}{}", String::from_utf8(out).unwrap_or_default())
}

#[cfg(test)]
mod integral_tests {
    use super::round_decimal;

    #[test]
    fn decimals_round_into_integer_columns() {
        for (cell, want) in [
            ("4.0", "4"),
            ("4.49", "4"),
            ("4.5", "5"),
            ("-4.5", "-5"),
            ("99.9", "100"),
            ("+7.00", "7"),
            ("12", "12"),
            ("abc", "abc"),
            ("1.2.3", "1.2.3"),
            (".5", ".5"),
        ] {
            assert_eq!(round_decimal(cell), want, "{cell}");
        }
    }
}
