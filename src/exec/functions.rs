//! SQL semantics that dbt users rely on and DataFusion lacks or does differently.
//!
//! Functions (registered in every session): `datediff(part, start, end)` counting part
//! boundaries crossed as DuckDB and Snowflake do, `dateadd(part, n, ts)` with month ends
//! clamped, and an internal identity that makes a column nullable.
//!
//! Rules (an analyzer rule run before type coercion):
//! - `int / int` divides as floating point, as in DuckDB and Spark (DataFusion truncates);
//! - `date + int` and `date - int` add days, and `date - date` is a number of days, as in
//!   DuckDB.
//!
//! Spellings from other dialects (`iff`, `year(x)`, `count_if`...) are rewritten in the SQL
//! module before planning.

use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use deltalake::arrow::array::{Array, ArrayRef, AsArray, Int64Array, TimestampMicrosecondArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, FieldRef, TimeUnit, TimestampMicrosecondType};
use deltalake::datafusion::common::config::ConfigOptions;
use deltalake::datafusion::common::tree_node::{Transformed, TreeNode};
use deltalake::datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue};
use deltalake::datafusion::execution::SessionStateBuilder;
use deltalake::datafusion::logical_expr::expr::ScalarFunction;
use deltalake::datafusion::logical_expr::utils::merge_schema;
use deltalake::datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ReturnFieldArgs,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use deltalake::datafusion::optimizer::AnalyzerRule;
use deltalake::datafusion::optimizer::analyzer::resolve_grouping_function::ResolveGroupingFunction;
use deltalake::datafusion::optimizer::analyzer::type_coercion::TypeCoercion;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::datafusion::common::types::logical_string;
use deltalake::datafusion::logical_expr::{Coercion, TypeSignatureClass};

use crate::enrich::{self, Emotes};

/// Registers Silt's functions in a session (the chat functions with no emote list).
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::from(DateDiff::new()));
    ctx.register_udf(ScalarUDF::from(DateAdd::new()));
    ctx.register_udf(ScalarUDF::from(ConvertTimezone {
        signature: Signature::one_of(
            vec![
                deltalake::datafusion::logical_expr::TypeSignature::Any(2),
                deltalake::datafusion::logical_expr::TypeSignature::Any(3),
            ],
            Volatility::Immutable,
        ),
    }));
    ctx.register_udf((*nullable_udf()).clone());
    ctx.register_udf(ScalarUDF::from(CurrentSetting {
        signature: Signature::coercible(
            vec![Coercion::new_exact(TypeSignatureClass::Native(logical_string()))],
            Volatility::Stable,
        ),
    }));
    super::json::register(ctx);
    register_chat(ctx, Arc::new(Emotes::new()));
}

/// (Re-)registers the chat functions with an emote list: `sentiment`, `char_entropy`,
/// `emote_count`, `is_emote_only`, `emote_sentiment` (see the `enrich` module).
pub fn register_chat(ctx: &SessionContext, emotes: Arc<Emotes>) {
    for kind in [Chat::Sentiment, Chat::Entropy, Chat::EmoteCount, Chat::EmoteOnly, Chat::EmoteSentiment] {
        ctx.register_udf(ScalarUDF::from(ChatFn {
            kind,
            emotes: emotes.clone(),
            signature: Signature::coercible(
                vec![Coercion::new_exact(TypeSignatureClass::Native(logical_string()))],
                Volatility::Immutable,
            ),
        }));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Chat {
    Sentiment,
    Entropy,
    EmoteCount,
    EmoteOnly,
    EmoteSentiment,
}

#[derive(Debug)]
struct ChatFn {
    kind: Chat,
    emotes: Arc<Emotes>,
    signature: Signature,
}

impl PartialEq for ChatFn {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && Arc::ptr_eq(&self.emotes, &other.emotes)
    }
}
impl Eq for ChatFn {}
impl std::hash::Hash for ChatFn {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
        (Arc::as_ptr(&self.emotes) as usize).hash(state);
    }
}

impl ScalarUDFImpl for ChatFn {
    fn name(&self) -> &str {
        match self.kind {
            Chat::Sentiment => "sentiment",
            Chat::Entropy => "char_entropy",
            Chat::EmoteCount => "emote_count",
            Chat::EmoteOnly => "is_emote_only",
            Chat::EmoteSentiment => "emote_sentiment",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Chat::Sentiment | Chat::Entropy | Chat::EmoteSentiment => DataType::Float64,
            Chat::EmoteCount => DataType::Int64,
            Chat::EmoteOnly => DataType::Boolean,
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use deltalake::arrow::array::{BooleanArray, Float64Array};
        let rows = args.number_rows;
        let input = args.args[0].to_array(rows)?;
        let text = cast(&input, &DataType::Utf8)?;
        let text = text.as_string::<i32>();
        let e = self.emotes.as_ref();
        let out: ArrayRef = match self.kind {
            Chat::Sentiment => Arc::new(text.iter().map(|t| t.map(|t| enrich::sentiment(t, e))).collect::<Float64Array>()),
            Chat::Entropy => Arc::new(text.iter().map(|t| t.map(enrich::char_entropy)).collect::<Float64Array>()),
            Chat::EmoteSentiment => Arc::new(
                text.iter()
                    .map(|t| t.and_then(|t| enrich::emote_sentiment(t, e)))
                    .collect::<Float64Array>(),
            ),
            Chat::EmoteCount => Arc::new(text.iter().map(|t| t.map(|t| enrich::emote_count(t, e))).collect::<Int64Array>()),
            Chat::EmoteOnly => Arc::new(text.iter().map(|t| t.map(|t| enrich::is_emote_only(t, e))).collect::<BooleanArray>()),
        };
        Ok(match &args.args[0] {
            ColumnarValue::Scalar(_) => ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?),
            ColumnarValue::Array(_) => ColumnarValue::Array(out),
        })
    }
}

/// Puts Silt's analyzer rule before DataFusion's type coercion.
pub fn install_rules(builder: SessionStateBuilder) -> SessionStateBuilder {
    builder.with_analyzer_rules(vec![
        Arc::new(ResolveGroupingFunction::new()),
        Arc::new(DialectRule),
        Arc::new(TypeCoercion::new()),
    ])
}

/// The identity function that makes its result nullable.
pub fn nullable_udf() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::from(Nullness {
        signature: Signature::any(1, Volatility::Immutable),
        not_null: None,
    }))
}

/// An identity that declares its result not null and fails the query at the first null:
/// how a contract's `not_null` constraint is enforced while the data streams into Delta.
pub fn not_null_udf(column: &str) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::from(Nullness {
        signature: Signature::any(1, Volatility::Immutable),
        not_null: Some(column.to_owned()),
    }))
}

/// An identity function that only changes what the plan says of its result's nulls.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Nullness {
    signature: Signature,
    /// `None`: the result may hold nulls. `Some(column)`: it holds none, and a null fails
    /// the query naming the column.
    not_null: Option<String>,
}

impl ScalarUDFImpl for Nullness {
    fn name(&self) -> &str {
        if self.not_null.is_some() { "__silt_not_null" } else { "__silt_nullable" }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            self.name(),
            args.arg_fields[0].data_type().clone(),
            self.not_null.is_none(),
        )))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let Some(column) = &self.not_null {
            let has_null = match &args.args[0] {
                ColumnarValue::Array(a) => a.null_count() > 0,
                ColumnarValue::Scalar(s) => s.is_null(),
            };
            if has_null {
                return Err(DataFusionError::Execution(format!(
                    "contract violated: column `{column}` has a `not_null` constraint, but the model returned a null in it"
                )));
            }
        }
        Ok(args.args[0].clone())
    }
}

/// `current_setting(name)`: a session setting, as in DuckDB and Postgres: `timezone` (what
/// `SET TIME ZONE` set, `UTC` otherwise) or any of DataFusion's options by its full name.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CurrentSetting {
    signature: Signature,
}

impl ScalarUDFImpl for CurrentSetting {
    fn name(&self) -> &str {
        "current_setting"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = match &args.args[0] {
            ColumnarValue::Scalar(s) if s.is_null() => return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None))),
            v => constant_text(v)
                .ok_or_else(|| DataFusionError::Execution("current_setting takes the setting's name as a constant".into()))?
                .to_owned(),
        };
        let value = if matches!(name.to_lowercase().as_str(), "timezone" | "time_zone" | "time zone") {
            Some(args.config_options.execution.time_zone.clone().unwrap_or_else(|| "UTC".to_owned()))
        } else {
            args.config_options
                .entries()
                .into_iter()
                .find(|e| e.key.eq_ignore_ascii_case(&name))
                .map(|e| e.value.unwrap_or_default())
        };
        match value {
            Some(v) => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(v)))),
            None => Err(DataFusionError::Execution(format!(
                "unknown setting `{name}`: current_setting knows `timezone` and DataFusion's options (`datafusion.execution.batch_size`...)"
            ))),
        }
    }
}

/// A date or time part, with the spellings warehouses accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Year,
    Quarter,
    Month,
    Week,
    Day,
    Hour,
    Minute,
    Second,
    Millisecond,
    Microsecond,
}

impl Part {
    fn parse(s: &str) -> Option<Part> {
        Some(match s.trim().trim_matches('\'').to_lowercase().as_str() {
            "year" | "years" | "y" | "yy" | "yyyy" | "yr" | "yrs" => Part::Year,
            "quarter" | "quarters" | "q" | "qtr" => Part::Quarter,
            "month" | "months" | "mon" | "mons" | "mm" => Part::Month,
            "week" | "weeks" | "w" | "wk" | "weekofyear" => Part::Week,
            "day" | "days" | "d" | "dd" | "dayofmonth" => Part::Day,
            "hour" | "hours" | "h" | "hh" | "hr" | "hrs" => Part::Hour,
            "minute" | "minutes" | "mi" | "min" | "mins" | "m" => Part::Minute,
            "second" | "seconds" | "s" | "sec" | "secs" | "ss" => Part::Second,
            "millisecond" | "milliseconds" | "ms" | "msec" => Part::Millisecond,
            "microsecond" | "microseconds" | "us" | "usec" => Part::Microsecond,
            _ => return None,
        })
    }
}

/// An argument that is constant text (a date part, a time zone, a setting's name).
fn constant_text(v: &ColumnarValue) -> Option<&str> {
    match v {
        ColumnarValue::Scalar(s) => s.try_as_str().flatten(),
        ColumnarValue::Array(_) => None,
    }
}

fn part_arg(v: &ColumnarValue, func: &str) -> Result<Part> {
    let Some(text) = constant_text(v) else {
        return Err(DataFusionError::Plan(format!(
            "the first argument of `{func}` must be a date part such as 'day' or 'month'"
        )));
    };
    Part::parse(text)
        .ok_or_else(|| DataFusionError::Plan(format!("`{func}`: unknown date part `{text}`")))
}

/// Any date, timestamp or timestamp-like string as microseconds since the epoch (UTC).
fn to_micros(v: &ColumnarValue, rows: usize) -> Result<TimestampMicrosecondArray> {
    let array = v.to_array(rows)?;
    let array = match array.data_type() {
        DataType::Utf8View | DataType::LargeUtf8 => cast(&array, &DataType::Utf8)?,
        _ => array,
    };
    let ts = cast(&array, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
    Ok(ts.as_primitive::<TimestampMicrosecondType>().clone())
}

fn naive(micros: i64) -> Option<NaiveDateTime> {
    chrono::DateTime::from_timestamp_micros(micros).map(|d| d.naive_utc())
}

fn month_index(d: NaiveDateTime) -> i64 {
    d.year() as i64 * 12 + d.month0() as i64
}

/// Part boundaries crossed going from `a` to `b` (DuckDB's `date_diff`).
fn diff(part: Part, a: i64, b: i64) -> Option<i64> {
    let (da, db) = (naive(a)?, naive(b)?);
    let floor_div = |x: i64, unit: i64| x.div_euclid(unit);
    Some(match part {
        Part::Year => db.year() as i64 - da.year() as i64,
        Part::Quarter => {
            (db.year() as i64 * 4 + db.month0() as i64 / 3)
                - (da.year() as i64 * 4 + da.month0() as i64 / 3)
        }
        Part::Month => month_index(db) - month_index(da),
        Part::Week => {
            let monday = |d: NaiveDateTime| {
                d.date().num_days_from_ce() as i64 - d.weekday().num_days_from_monday() as i64
            };
            (monday(db) - monday(da)) / 7
        }
        Part::Day => db.date().num_days_from_ce() as i64 - da.date().num_days_from_ce() as i64,
        Part::Hour => floor_div(b, 3_600_000_000) - floor_div(a, 3_600_000_000),
        Part::Minute => floor_div(b, 60_000_000) - floor_div(a, 60_000_000),
        Part::Second => floor_div(b, 1_000_000) - floor_div(a, 1_000_000),
        Part::Millisecond => floor_div(b, 1_000) - floor_div(a, 1_000),
        Part::Microsecond => b - a,
    })
}

/// `datediff(part, start, end)`: how many `part` boundaries lie between two times.
#[derive(Debug, PartialEq, Eq, Hash)]
struct DateDiff {
    signature: Signature,
    aliases: Vec<String>,
}

impl DateDiff {
    fn new() -> DateDiff {
        DateDiff {
            signature: Signature::any(3, Volatility::Immutable),
            aliases: vec!["date_diff".into()],
        }
    }
}

impl ScalarUDFImpl for DateDiff {
    fn name(&self) -> &str {
        "datediff"
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let part = part_arg(&args.args[0], "datediff")?;
        let rows = args.number_rows;
        let a = to_micros(&args.args[1], rows)?;
        let b = to_micros(&args.args[2], rows)?;
        let out: Int64Array = a
            .iter()
            .zip(b.iter())
            .map(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => diff(part, a, b),
                _ => None,
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }
}

fn add_months(d: NaiveDateTime, months: i64) -> Option<NaiveDateTime> {
    let total = month_index(d) + months;
    let year = total.div_euclid(12) as i32;
    let month = total.rem_euclid(12) as u32 + 1;
    let last_day = (28..=31)
        .rev()
        .find(|day| NaiveDate::from_ymd_opt(year, month, *day).is_some())?;
    let date = NaiveDate::from_ymd_opt(year, month, d.day().min(last_day))?;
    Some(date.and_time(d.time()))
}

fn add(part: Part, n: i64, t: i64) -> Option<i64> {
    let d = naive(t)?;
    let moved = match part {
        Part::Year => add_months(d, n.checked_mul(12)?)?,
        Part::Quarter => add_months(d, n.checked_mul(3)?)?,
        Part::Month => add_months(d, n)?,
        Part::Week => d.checked_add_signed(Duration::try_weeks(n)?)?,
        Part::Day => d.checked_add_signed(Duration::try_days(n)?)?,
        Part::Hour => d.checked_add_signed(Duration::try_hours(n)?)?,
        Part::Minute => d.checked_add_signed(Duration::try_minutes(n)?)?,
        Part::Second => d.checked_add_signed(Duration::try_seconds(n)?)?,
        Part::Millisecond => d.checked_add_signed(Duration::try_milliseconds(n)?)?,
        Part::Microsecond => d.checked_add_signed(Duration::microseconds(n))?,
    };
    Some(moved.and_utc().timestamp_micros())
}

/// `dateadd(part, n, ts)`: a timestamp moved by n parts (as DuckDB's `ts + n * interval`,
/// the result is a timestamp, also for a date).
#[derive(Debug, PartialEq, Eq, Hash)]
struct DateAdd {
    signature: Signature,
}

impl DateAdd {
    fn new() -> DateAdd {
        DateAdd {
            signature: Signature::any(3, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for DateAdd {
    fn name(&self) -> &str {
        "dateadd"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Microsecond, None))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let part = part_arg(&args.args[0], "dateadd")?;
        let rows = args.number_rows;
        let n = cast(&args.args[1].to_array(rows)?, &DataType::Int64)?;
        let n = n.as_primitive::<deltalake::arrow::datatypes::Int64Type>();
        let t = to_micros(&args.args[2], rows)?;
        let out: TimestampMicrosecondArray = n
            .iter()
            .zip(t.iter())
            .map(|(n, t)| match (n, t) {
                (Some(n), Some(t)) => add(part, n, t),
                _ => None,
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }
}

/// Snowflake's and Redshift's `convert_timezone([source_tz,] target_tz, ts)`, which
/// dbt_date's generic SQL calls: the wall time `ts` has in `source_tz` (UTC when not given),
/// as the wall time of that instant in `target_tz`, without a time zone.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ConvertTimezone {
    signature: Signature,
}

impl ScalarUDFImpl for ConvertTimezone {
    fn name(&self) -> &str {
        "convert_timezone"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Microsecond, None))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use chrono::TimeZone;
        use deltalake::arrow::array::timezone::Tz;
        let rows = args.number_rows;
        let zone = |v: &ColumnarValue| -> Result<Tz> {
            let name = constant_text(v)
                .ok_or_else(|| DataFusionError::Execution("convert_timezone takes its time zones as constant text".into()))?;
            name.parse::<Tz>()
                .map_err(|_| DataFusionError::Execution(format!("convert_timezone: unknown time zone '{name}'")))
        };
        let (source, target, value) = match args.args.as_slice() {
            [target, value] => (None, zone(target)?, value),
            [source, target, value] => (Some(zone(source)?), zone(target)?, value),
            _ => return Err(DataFusionError::Execution("convert_timezone takes 2 or 3 arguments".into())),
        };
        let t = to_micros(value, rows)?;
        let out: TimestampMicrosecondArray = t
            .iter()
            .map(|t| {
                let wall = naive(t?)?;
                let instant = match &source {
                    Some(z) => z.from_local_datetime(&wall).earliest()?.with_timezone(&chrono::Utc),
                    None => wall.and_utc(),
                };
                Some(instant.with_timezone(&target).naive_local().and_utc().timestamp_micros())
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }
}

/// Integer division as floating point; day arithmetic on dates.
#[derive(Debug)]
struct DialectRule;

impl AnalyzerRule for DialectRule {
    fn name(&self) -> &str {
        "silt_dialect"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            let mut schema = merge_schema(&plan.inputs());
            if let LogicalPlan::TableScan(ts) = &plan {
                schema.merge(&DFSchema::try_from_qualified_schema(
                    ts.table_name.clone(),
                    &ts.source.schema(),
                )?);
            }
            let names =
                deltalake::datafusion::logical_expr::expr_rewriter::NamePreserver::new(&plan);
            let t = plan.map_expressions(|e| {
                let saved = names.save(&e);
                let rewritten = e.transform_up(|e| rewrite(e, &schema))?;
                Ok(rewritten.update_data(|e| saved.restore(e)))
            })?;
            if t.transformed {
                t.map_data(|p| p.recompute_schema())
            } else {
                Ok(t)
            }
        })
        .map(|t| t.data)
    }
}

fn is_integer(t: &DataType) -> bool {
    t.is_integer()
}

fn is_date(t: &DataType) -> bool {
    matches!(t, DataType::Date32 | DataType::Date64)
}

fn udf_call(udf: impl ScalarUDFImpl + 'static, args: Vec<Expr>) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::from(udf)),
        args,
    ))
}

fn rewrite(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &e else {
        return Ok(Transformed::no(e));
    };
    let (Ok(lt), Ok(rt)) = (left.get_type(schema), right.get_type(schema)) else {
        return Ok(Transformed::no(e));
    };
    let lit_day = || Expr::Literal(ScalarValue::Utf8(Some("day".into())), None);
    let as_date = |x: Expr| {
        Expr::Cast(deltalake::datafusion::logical_expr::Cast::new(
            Box::new(x),
            DataType::Date32,
        ))
    };
    match op {
        Operator::Divide if is_integer(&lt) && is_integer(&rt) => {
            let l = Expr::Cast(deltalake::datafusion::logical_expr::Cast::new(
                left.clone(),
                DataType::Float64,
            ));
            Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
                Box::new(l),
                Operator::Divide,
                right.clone(),
            ))))
        }
        Operator::Plus if is_date(&lt) && is_integer(&rt) => {
            Ok(Transformed::yes(as_date(udf_call(
                DateAdd::new(),
                vec![lit_day(), (**right).clone(), (**left).clone()],
            ))))
        }
        Operator::Plus if is_integer(&lt) && is_date(&rt) => {
            Ok(Transformed::yes(as_date(udf_call(
                DateAdd::new(),
                vec![lit_day(), (**left).clone(), (**right).clone()],
            ))))
        }
        Operator::Minus if is_date(&lt) && is_integer(&rt) => {
            let neg = Expr::Negative(right.clone());
            Ok(Transformed::yes(as_date(udf_call(
                DateAdd::new(),
                vec![lit_day(), neg, (**left).clone()],
            ))))
        }
        Operator::Minus if is_date(&lt) && is_date(&rt) => Ok(Transformed::yes(udf_call(
            DateDiff::new(),
            vec![lit_day(), (**right).clone(), (**left).clone()],
        ))),
        _ => Ok(Transformed::no(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(s: &str) -> i64 {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
            .unwrap()
            .and_utc()
            .timestamp_micros()
    }

    #[test]
    fn counts_boundaries() {
        let (a, b) = (micros("2023-12-31 23:59:00"), micros("2024-01-01 00:01:00"));
        assert_eq!(diff(Part::Year, a, b), Some(1));
        assert_eq!(diff(Part::Month, a, b), Some(1));
        assert_eq!(diff(Part::Day, a, b), Some(1));
        assert_eq!(diff(Part::Hour, a, b), Some(1));
        assert_eq!(diff(Part::Minute, a, b), Some(2));
        assert_eq!(diff(Part::Day, b, a), Some(-1));
        // 2024-01-07 is a Sunday, 2024-01-08 a Monday.
        assert_eq!(
            diff(
                Part::Week,
                micros("2024-01-07 00:00:00"),
                micros("2024-01-08 00:00:00")
            ),
            Some(1)
        );
    }

    #[test]
    fn adds_months_clamping_the_day() {
        let jan31 = micros("2024-01-31 10:00:00");
        assert_eq!(
            add(Part::Month, 1, jan31),
            Some(micros("2024-02-29 10:00:00"))
        );
        assert_eq!(
            add(Part::Year, -1, micros("2024-02-29 00:00:00")),
            Some(micros("2023-02-28 00:00:00"))
        );
        assert_eq!(
            add(Part::Day, -1, jan31),
            Some(micros("2024-01-30 10:00:00"))
        );
    }
}

#[cfg(test)]
mod chat_tests {
    use super::*;
    use deltalake::arrow::util::display::array_value_to_string;

    async fn rows(ctx: &SessionContext, sql: &str) -> Vec<Vec<String>> {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let mut out = Vec::new();
        for b in batches {
            for r in 0..b.num_rows() {
                out.push(
                    b.columns()
                        .iter()
                        .map(|c| array_value_to_string(c, r).unwrap())
                        .collect(),
                );
            }
        }
        out
    }

    // The chat functions in SQL: over a table column with a null, over literals of each
    // string type, and with an emote list registered afterwards.
    #[test]
    fn chat_functions_in_sql() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let ctx = SessionContext::new();
            register(&ctx);
            ctx.sql("create table chat(m varchar) as values ('CatJAM nice'), ('CatJAM'), (null), ('')")
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            let sql = "select round(sentiment(m), 3), round(char_entropy(m), 3), emote_count(m), is_emote_only(m), emote_sentiment(m) from chat";
            let without = rows(&ctx, sql).await;
            assert_eq!(without[0][2..], ["0", "false", ""], "no emote list: no emotes");
            assert_eq!(without[2], ["", "", "", "", ""], "null in, null out");
            assert_eq!(without[3], ["0.0", "0.0", "0", "false", ""]);
            let mut emotes = Emotes::new();
            emotes.insert("CatJAM", 0.8);
            register_chat(&ctx, Arc::new(emotes));
            let with = rows(&ctx, sql).await;
            assert_eq!(with[0][2..], ["1", "false", "0.8"]);
            assert_eq!(with[1][2..], ["1", "true", "0.8"]);
            let text = |v: &str| v.parse::<f64>().unwrap();
            assert!(text(&with[1][0]) > 0.5, "{:?}", with[1]);
            assert!(text(&with[0][0]) > text(&without[0][0]), "the emote adds: {with:?} {without:?}");
            let literals = rows(
                &ctx,
                "select emote_count(arrow_cast('CatJAM CatJAM', 'Utf8View')), emote_count(arrow_cast('CatJAM', 'LargeUtf8')), char_entropy('abab'), sentiment('not good') < 0",
            )
            .await;
            assert_eq!(literals, [["2", "1", "1.0", "true"]]);
            let err = ctx.sql("select sentiment(1, 2)").await.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("sentiment"), "{err}");
        });
    }

    // convert_timezone as Snowflake's: source (UTC when not given) to target, across DST,
    // and a null stays null; current_setting reads the session's time zone.
    #[test]
    fn convert_timezone_and_current_setting() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let ctx = SessionContext::new();
            register(&ctx);
            let got = rows(
                &ctx,
                "select convert_timezone('UTC', 'America/New_York', cast('2024-01-15 12:00:00' as timestamp)), \
                        convert_timezone('America/New_York', 'UTC', '2024-07-01 08:00:00'), \
                        convert_timezone('Asia/Kolkata', cast('2024-07-01 00:00:00' as timestamp)), \
                        convert_timezone('UTC', 'Europe/Paris', cast(null as timestamp)), \
                        current_setting('timezone')",
            )
            .await;
            assert_eq!(got, [["2024-01-15T07:00:00", "2024-07-01T12:00:00", "2024-07-01T05:30:00", "", "UTC"]]);
            let err = ctx
                .sql("select convert_timezone('Mars/Olympus', cast('2024-01-01' as timestamp))")
                .await
                .unwrap()
                .collect()
                .await
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("unknown time zone 'Mars/Olympus'"), "{err}");
        });
    }
}
