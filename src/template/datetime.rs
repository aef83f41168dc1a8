//! `modules.datetime` and `modules.pytz`: Python's dates, times and time zones as dbt's
//! Jinja context offers them (`modules.datetime.datetime.now().strftime(...)`,
//! `modules.datetime.date(2024, 1, 31)`, `strptime`, `timedelta(days=1)`,
//! `modules.pytz.timezone('Europe/Paris')`). `run_started_at` is one of these datetimes.
//!
//! minijinja's `+` and `-` cannot be taught new types, so `datetime + timedelta` is an
//! error; the README says so and names the methods that stand in (`replace`, SQL).

use std::cmp::Ordering;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use deltalake::arrow::array::timezone::Tz;
use minijinja::value::{DynObject, Kwargs, Object, ObjectRepr, Value, from_args};
use minijinja::{Error, ErrorKind, State};

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

fn no_method(what: &str, method: &str) -> Error {
    Error::new(ErrorKind::UnknownMethod, format!("{what} has no method `{method}`"))
}

/// A time zone, by name (`UTC`, `Europe/Paris`) or offset (`+05:30`).
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    tz: Tz,
}

impl Zone {
    fn named(name: &str) -> Result<Zone, Error> {
        let tz: Tz = name
            .parse()
            .map_err(|_| invalid(format!("unknown time zone `{name}`")))?;
        Ok(Zone { name: name.to_owned(), tz })
    }

    fn utc() -> Zone {
        Zone::named("UTC").expect("UTC is a time zone")
    }

    fn of(v: &Value) -> Result<Option<Zone>, Error> {
        if v.is_none() || v.is_undefined() {
            return Ok(None);
        }
        if let Some(z) = v.downcast_object_ref::<Zone>() {
            return Ok(Some(z.clone()));
        }
        match v.as_str() {
            Some(name) => Zone::named(name).map(Some),
            None => Err(invalid(format!("`{v}` is not a time zone"))),
        }
    }
}

impl Object for Zone {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "zone" => Some(Value::from(self.name.clone())),
            _ => None,
        }
    }

    fn call_method(self: &Arc<Self>, _: &mut State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        match method {
            // pytz's `localize`: the wall time as a time in this zone.
            "localize" => {
                let (dt,): (Value,) = from_args(args)?;
                let dt = dt
                    .downcast_object_ref::<PyDateTime>()
                    .ok_or_else(|| invalid("`localize` takes a datetime"))?;
                Ok(PyDateTime { wall: dt.wall, zone: Some((**self).clone()) }.value())
            }
            _ => Err(no_method("a time zone", method)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Python's `strftime` format in chrono's: `%f` is six digits of microseconds there.
fn chrono_format(fmt: &str) -> String {
    fmt.replace("%f", "%6f")
}

fn strftime(value: &impl fmt::Display, fmt: &str) -> Result<Value, Error> {
    let mut out = String::new();
    write!(out, "{value}").map_err(|_| invalid(format!("invalid strftime format `{fmt}`")))?;
    Ok(Value::from(out))
}

/// A wall time as Python's `datetime` prints it: `2017-01-01 00:00:00` (with `sep`
/// between date and time), `.123456` when it has microseconds, then `offset`.
fn python_text(wall: NaiveDateTime, sep: &str, offset: &str) -> String {
    let mut out = wall.format(&format!("%Y-%m-%d{sep}%H:%M:%S")).to_string();
    let micros = wall.nanosecond() / 1000;
    if micros != 0 {
        out.push_str(&format!(".{micros:06}"));
    }
    out.push_str(offset);
    out
}

/// A timestamp as `str()` of the `datetime` dbt's agate tables hold: naive, or in UTC
/// (`+00:00`). What `run_query` gives templates for a timestamp.
pub fn python_timestamp_text(wall: NaiveDateTime, utc: bool) -> String {
    python_text(wall, " ", if utc { "+00:00" } else { "" })
}

/// A `datetime`: a wall time, and its zone when it is aware.
#[derive(Debug, Clone)]
pub struct PyDateTime {
    wall: NaiveDateTime,
    zone: Option<Zone>,
}

impl PyDateTime {
    /// An aware datetime in UTC (what `run_started_at` is).
    pub fn utc(t: DateTime<Utc>) -> PyDateTime {
        PyDateTime { wall: t.naive_utc(), zone: Some(Zone::utc()) }
    }

    fn value(self) -> Value {
        Value::from_object(self)
    }

    /// The instant, for aware ones; the wall time as UTC for naive ones.
    fn instant(&self) -> DateTime<Utc> {
        match &self.zone {
            Some(z) => z
                .tz
                .from_local_datetime(&self.wall)
                .earliest()
                .map_or_else(|| self.wall.and_utc(), |t| t.with_timezone(&Utc)),
            None => self.wall.and_utc(),
        }
    }

    fn offset_text(&self, colon: bool) -> String {
        let Some(z) = &self.zone else { return String::new() };
        let secs = z
            .tz
            .from_local_datetime(&self.wall)
            .earliest()
            .map_or(0, |t| chrono::Offset::fix(t.offset()).local_minus_utc());
        let sign = if secs < 0 { '-' } else { '+' };
        let secs = secs.abs();
        if colon {
            format!("{sign}{:02}:{:02}", secs / 3600, secs % 3600 / 60)
        } else {
            format!("{sign}{:02}{:02}", secs / 3600, secs % 3600 / 60)
        }
    }

    fn isoformat(&self, sep: &str) -> String {
        python_text(self.wall, sep, &self.offset_text(true))
    }

    /// The datetime of `instant` in `zone` (naive, as UTC wall time, without one).
    fn at(instant: DateTime<Utc>, zone: Option<Zone>) -> PyDateTime {
        match zone {
            Some(z) => PyDateTime { wall: instant.with_timezone(&z.tz).naive_local(), zone: Some(z) },
            None => PyDateTime { wall: instant.naive_utc(), zone: None },
        }
    }

    fn strftime(&self, fmt: &str) -> Result<Value, Error> {
        // `%z` and `%Z` come from the zone, which a naive time lacks (Python prints nothing).
        let fmt = chrono_format(fmt)
            .replace("%z", &self.offset_text(false))
            .replace("%Z", self.zone.as_ref().map_or("", |z| z.name.as_str()));
        strftime(&self.wall.format(&fmt), &fmt)
    }

    fn replace(&self, kwargs: &Kwargs) -> Result<PyDateTime, Error> {
        let get = |k: &str, v: u32| -> Result<u32, Error> { Ok(kwargs.get::<Option<u32>>(k)?.unwrap_or(v)) };
        let w = self.wall;
        let year: i32 = kwargs.get::<Option<i32>>("year")?.unwrap_or(w.year());
        let date = NaiveDate::from_ymd_opt(year, get("month", w.month())?, get("day", w.day())?)
            .ok_or_else(|| invalid("day is out of range for month"))?;
        let time = NaiveTime::from_hms_micro_opt(
            get("hour", w.hour())?,
            get("minute", w.minute())?,
            get("second", w.second())?,
            get("microsecond", w.nanosecond() / 1000)?,
        )
        .ok_or_else(|| invalid("a time field is out of range"))?;
        let zone = if kwargs.has("tzinfo") { Zone::of(&kwargs.get::<Value>("tzinfo")?)? } else { self.zone.clone() };
        kwargs.assert_all_used()?;
        Ok(PyDateTime { wall: NaiveDateTime::new(date, time), zone })
    }
}

impl Object for PyDateTime {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let w = self.wall;
        Some(match key.as_str()? {
            "year" => Value::from(w.year()),
            "month" => Value::from(w.month()),
            "day" => Value::from(w.day()),
            "hour" => Value::from(w.hour()),
            "minute" => Value::from(w.minute()),
            "second" => Value::from(w.second()),
            "microsecond" => Value::from(w.nanosecond() / 1000),
            "tzinfo" => match &self.zone {
                Some(z) => Value::from_object(z.clone()),
                None => Value::from(()),
            },
            _ => return None,
        })
    }

    fn call_method(self: &Arc<Self>, _: &mut State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        match method {
            "strftime" => {
                let (fmt,): (String,) = from_args(args)?;
                self.strftime(&fmt)
            }
            "isoformat" => {
                let (sep,): (Option<String>,) = from_args(args)?;
                Ok(Value::from(self.isoformat(sep.as_deref().unwrap_or("T"))))
            }
            "date" => Ok(PyDate(self.wall.date()).value()),
            "timestamp" => Ok(Value::from(self.instant().timestamp_micros() as f64 / 1e6)),
            "weekday" => Ok(Value::from(self.wall.weekday().num_days_from_monday())),
            "isoweekday" => Ok(Value::from(self.wall.weekday().number_from_monday())),
            "replace" => {
                let (kwargs,): (Kwargs,) = from_args(args)?;
                Ok(self.replace(&kwargs)?.value())
            }
            "astimezone" => {
                let (tz,): (Option<Value>,) = from_args(args)?;
                let zone = Zone::of(&tz.unwrap_or(Value::UNDEFINED))?.unwrap_or_else(Zone::utc);
                Ok(PyDateTime::at(self.instant(), Some(zone)).value())
            }
            _ => Err(no_method("a datetime", method)),
        }
    }

    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<Ordering> {
        Some(self.instant().cmp(&other.downcast_ref::<PyDateTime>()?.instant()))
    }

    /// As Python's `str(datetime)`: `2024-01-31 10:00:00`, `.123456` when there are
    /// microseconds, `+00:00` when aware.
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.isoformat(" "))
    }
}

/// A `date`.
#[derive(Debug, Clone)]
pub struct PyDate(NaiveDate);

impl PyDate {
    fn value(self) -> Value {
        Value::from_object(self)
    }
}

impl Object for PyDate {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(Value::from(match key.as_str()? {
            "year" => self.0.year(),
            "month" => self.0.month() as i32,
            "day" => self.0.day() as i32,
            _ => return None,
        }))
    }

    fn call_method(self: &Arc<Self>, _: &mut State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        match method {
            "strftime" => {
                let (fmt,): (String,) = from_args(args)?;
                let fmt = chrono_format(&fmt);
                strftime(&self.0.format(&fmt), &fmt)
            }
            "isoformat" => Ok(Value::from(self.0.format("%Y-%m-%d").to_string())),
            "weekday" => Ok(Value::from(self.0.weekday().num_days_from_monday())),
            "isoweekday" => Ok(Value::from(self.0.weekday().number_from_monday())),
            "replace" => {
                let (kwargs,): (Kwargs,) = from_args(args)?;
                let year = kwargs.get::<Option<i32>>("year")?.unwrap_or(self.0.year());
                let month = kwargs.get::<Option<u32>>("month")?.unwrap_or(self.0.month());
                let day = kwargs.get::<Option<u32>>("day")?.unwrap_or(self.0.day());
                kwargs.assert_all_used()?;
                NaiveDate::from_ymd_opt(year, month, day)
                    .map(|d| PyDate(d).value())
                    .ok_or_else(|| invalid("day is out of range for month"))
            }
            _ => Err(no_method("a date", method)),
        }
    }

    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<Ordering> {
        Some(self.0.cmp(&other.downcast_ref::<PyDate>()?.0))
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

/// A `timedelta`, in microseconds.
#[derive(Debug, Clone)]
pub struct PyTimedelta(Duration);

impl Object for PyTimedelta {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        // Python normalizes to days (any sign), seconds and microseconds (not negative).
        let micros = self.0.num_microseconds()?;
        let days = micros.div_euclid(86_400_000_000);
        let rest = micros.rem_euclid(86_400_000_000);
        Some(Value::from(match key.as_str()? {
            "days" => days,
            "seconds" => rest / 1_000_000,
            "microseconds" => rest % 1_000_000,
            _ => return None,
        }))
    }

    fn call_method(self: &Arc<Self>, _: &mut State<'_, '_>, method: &str, _: &[Value]) -> Result<Value, Error> {
        match method {
            "total_seconds" => Ok(Value::from(self.0.num_microseconds().unwrap_or(0) as f64 / 1e6)),
            _ => Err(no_method("a timedelta", method)),
        }
    }

    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<Ordering> {
        Some(self.0.cmp(&other.downcast_ref::<PyTimedelta>()?.0))
    }

    /// As Python's `str(timedelta)`: `1 day, 2:03:04`.
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.0.num_microseconds().unwrap_or(0);
        let days = micros.div_euclid(86_400_000_000);
        let rest = micros.rem_euclid(86_400_000_000);
        if days != 0 {
            write!(f, "{days} day{}, ", if days.abs() == 1 { "" } else { "s" })?;
        }
        let secs = rest / 1_000_000;
        write!(f, "{}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60)?;
        if rest % 1_000_000 != 0 {
            write!(f, ".{:06}", rest % 1_000_000)?;
        }
        Ok(())
    }
}

/// The classes `datetime`, `date`, `timedelta` and `timezone` of `modules.datetime`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Class {
    DateTime,
    Date,
    Timedelta,
    Timezone,
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::DateTime => "datetime",
            Class::Date => "date",
            Class::Timedelta => "timedelta",
            Class::Timezone => "timezone",
        }
    }
}

/// Now, in `zone`; without one, naive (Python's is local time; Silt takes UTC).
fn now(zone: Option<Zone>) -> PyDateTime {
    PyDateTime::at(Utc::now(), zone)
}

fn parse_iso(s: &str) -> Result<PyDateTime, Error> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(&s.replacen(' ', "T", 1)) {
        let offset = t.offset().to_string();
        return Ok(PyDateTime { wall: t.naive_local(), zone: Some(Zone::named(&offset)?) });
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(wall) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(PyDateTime { wall, zone: None });
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| PyDateTime { wall: d.and_time(NaiveTime::MIN), zone: None })
        .map_err(|_| invalid(format!("Invalid isoformat string: '{s}'")))
}

fn from_timestamp(ts: f64, zone: Option<Zone>) -> Result<PyDateTime, Error> {
    let micros = (ts * 1e6).round() as i64;
    let t = DateTime::<Utc>::from_timestamp_micros(micros).ok_or_else(|| invalid(format!("timestamp {ts} is out of range")))?;
    Ok(PyDateTime::at(t, zone))
}

impl Object for Class {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match (**self, key.as_str()?) {
            (Class::Timezone, "utc") => Some(Value::from_object(Zone::utc())),
            _ => None,
        }
    }

    fn call(self: &Arc<Self>, _: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        match **self {
            Class::DateTime => {
                // datetime(year, month, day, hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
                let (positional, kwargs) = match args.last().and_then(|a| Kwargs::try_from(a.clone()).ok()) {
                    Some(kw) => (&args[..args.len() - 1], kw),
                    None => (args, Kwargs::from_iter(Vec::<(String, Value)>::new())),
                };
                const FIELDS: [&str; 7] = ["year", "month", "day", "hour", "minute", "second", "microsecond"];
                let mut f = [0i64; 7];
                for (i, name) in FIELDS.iter().enumerate() {
                    let v = match positional.get(i) {
                        Some(v) => Some(v.clone()),
                        None => kwargs.get::<Option<Value>>(name)?,
                    };
                    match v {
                        Some(v) => {
                            f[i] = v.as_i64().ok_or_else(|| invalid(format!("datetime: `{name}` must be an integer, not {v}")))?
                        }
                        None if i < 3 => return Err(invalid(format!("datetime: `{name}` is required"))),
                        None => {}
                    }
                }
                let zone = match positional.get(7) {
                    Some(v) => Zone::of(v)?,
                    None if kwargs.has("tzinfo") => Zone::of(&kwargs.get::<Value>("tzinfo")?)?,
                    None => None,
                };
                kwargs.assert_all_used()?;
                let n = |i: usize| u32::try_from(f[i]).map_err(|_| invalid(format!("datetime: `{}` is out of range", FIELDS[i])));
                let year = i32::try_from(f[0]).map_err(|_| invalid("datetime: `year` is out of range"))?;
                let date = NaiveDate::from_ymd_opt(year, n(1)?, n(2)?).ok_or_else(|| invalid("day is out of range for month"))?;
                let time = NaiveTime::from_hms_micro_opt(n(3)?, n(4)?, n(5)?, n(6)?)
                    .ok_or_else(|| invalid("a time field is out of range"))?;
                Ok(PyDateTime { wall: NaiveDateTime::new(date, time), zone }.value())
            }
            Class::Date => {
                let (y, mo, d): (i32, u32, u32) = from_args(args)?;
                NaiveDate::from_ymd_opt(y, mo, d)
                    .map(|d| PyDate(d).value())
                    .ok_or_else(|| invalid("day is out of range for month"))
            }
            Class::Timedelta => {
                let (days, seconds, micros, kwargs): (Option<f64>, Option<f64>, Option<f64>, Kwargs) = from_args(args)?;
                let mut total = days.unwrap_or(0.0) * 86_400e6 + seconds.unwrap_or(0.0) * 1e6 + micros.unwrap_or(0.0);
                for (key, unit) in [
                    ("days", 86_400e6),
                    ("seconds", 1e6),
                    ("microseconds", 1.0),
                    ("milliseconds", 1e3),
                    ("minutes", 60e6),
                    ("hours", 3_600e6),
                    ("weeks", 7.0 * 86_400e6),
                ] {
                    if let Some(n) = kwargs.get::<Option<f64>>(key)? {
                        total += n * unit;
                    }
                }
                kwargs.assert_all_used()?;
                Ok(Value::from_object(PyTimedelta(Duration::microseconds(total.round() as i64))))
            }
            Class::Timezone => Err(invalid("modules.datetime.timezone: use `timezone.utc` or `modules.pytz.timezone(name)`")),
        }
    }

    fn call_method(self: &Arc<Self>, _: &mut State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        let class = **self;
        match (class, method) {
            (Class::DateTime, "now") => {
                let (tz,): (Option<Value>,) = from_args(args)?;
                Ok(now(Zone::of(&tz.unwrap_or(Value::UNDEFINED))?).value())
            }
            (Class::DateTime, "utcnow") => Ok(now(None).value()),
            (Class::DateTime, "today") => Ok(now(None).value()),
            (Class::Date, "today") => Ok(PyDate(now(None).wall.date()).value()),
            (Class::DateTime, "strptime") => {
                let (s, fmt): (String, String) = from_args(args)?;
                let cfmt = chrono_format(&fmt);
                let wall = NaiveDateTime::parse_from_str(&s, &cfmt)
                    .or_else(|_| NaiveDate::parse_from_str(&s, &cfmt).map(|d| d.and_time(NaiveTime::MIN)))
                    .map_err(|e| invalid(format!("time data '{s}' does not match format '{fmt}': {e}")))?;
                Ok(PyDateTime { wall, zone: None }.value())
            }
            (Class::DateTime, "fromisoformat") => {
                let (s,): (String,) = from_args(args)?;
                Ok(parse_iso(&s)?.value())
            }
            (Class::Date, "fromisoformat") => {
                let (s,): (String,) = from_args(args)?;
                NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                    .map(|d| PyDate(d).value())
                    .map_err(|_| invalid(format!("Invalid isoformat string: '{s}'")))
            }
            (Class::DateTime, "fromtimestamp") => {
                let (ts, tz): (f64, Option<Value>) = from_args(args)?;
                Ok(from_timestamp(ts, Zone::of(&tz.unwrap_or(Value::UNDEFINED))?)?.value())
            }
            (Class::DateTime, "utcfromtimestamp") => {
                let (ts,): (f64,) = from_args(args)?;
                Ok(from_timestamp(ts, None)?.value())
            }
            (Class::Date, "fromtimestamp") => {
                let (ts,): (f64,) = from_args(args)?;
                Ok(PyDate(from_timestamp(ts, None)?.wall.date()).value())
            }
            _ => Err(no_method(&format!("modules.datetime.{}", class.name()), method)),
        }
    }
}

/// `modules.datetime`.
#[derive(Debug)]
pub struct DatetimeModule;

impl Object for DatetimeModule {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(match key.as_str()? {
            "datetime" => Value::from_object(Class::DateTime),
            "date" => Value::from_object(Class::Date),
            "timedelta" => Value::from_object(Class::Timedelta),
            "timezone" => Value::from_object(Class::Timezone),
            "MINYEAR" => Value::from(1),
            "MAXYEAR" => Value::from(9999),
            _ => return None,
        })
    }
}

/// `modules.pytz`.
#[derive(Debug)]
pub struct PytzModule;

impl Object for PytzModule {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "utc" | "UTC" => Some(Value::from_object(Zone::utc())),
            _ => None,
        }
    }

    fn call_method(self: &Arc<Self>, _: &mut State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        match method {
            "timezone" => {
                let (name,): (String,) = from_args(args)?;
                Ok(Value::from_object(Zone::named(&name)?))
            }
            _ => Err(no_method("modules.pytz", method)),
        }
    }
}

/// The changes that turn `x - modules.datetime.timedelta(...)` (or `+`, or `timedelta`
/// alone) into `__silt_dt_sub(x, modules.datetime.timedelta(...))`: minijinja's operators
/// cannot add a timedelta, so the template is rewritten where one is added or taken away.
/// The left operand is what Jinja would take: back to a comma, bracket, `=`, comparison or
/// keyword (`+`, `-` and tighter operators are part of it, so chains stay left-associative).
/// `(offset, bytes removed, text inserted)`, ascending.
pub fn arithmetic_changes(source: &str, in_expr: bool) -> Vec<(usize, usize, String)> {
    use minijinja::machinery::Token;
    if !source.contains("timedelta") {
        return Vec::new();
    }
    let Some(tokens) = super::mutable::lex(source, in_expr) else {
        return Vec::new();
    };
    let is_boundary = |t: &Token| match t {
        Token::Comma | Token::Colon | Token::Assign | Token::Eq | Token::Ne | Token::Gt | Token::Gte | Token::Lt
        | Token::Lte | Token::VariableStart | Token::BlockStart | Token::VariableEnd | Token::BlockEnd
        | Token::TemplateData(_) => true,
        Token::Ident(w) => matches!(*w, "and" | "or" | "not" | "in" | "is" | "if" | "else" | "elif" | "set" | "do" | "return"),
        _ => false,
    };
    let ends_operand = |t: &Token| !super::mutable::starts_operand(Some(t));
    // (left operand's first token, operator token, right operand's last token)
    let mut ops: Vec<(usize, usize, usize)> = Vec::new();
    for i in 1..tokens.len() {
        let op = &tokens[i].0;
        if !matches!(op, Token::Plus | Token::Minus) || !ends_operand(&tokens[i - 1].0) {
            continue;
        }
        // The right operand: a dotted name ending in `timedelta`, called.
        let mut j = i + 1;
        let mut last_name = None;
        while let Some((t, _)) = tokens.get(j) {
            match t {
                Token::Ident(w) => last_name = Some(*w),
                Token::Dot => {}
                _ => break,
            }
            j += 1;
        }
        if last_name != Some("timedelta") || !matches!(tokens.get(j), Some((Token::ParenOpen, _))) {
            continue;
        }
        let mut depth = 0usize;
        let mut end = None;
        for (k, (t, _)) in tokens.iter().enumerate().skip(j) {
            match t {
                Token::ParenOpen | Token::BracketOpen | Token::BraceOpen => depth += 1,
                Token::ParenClose | Token::BracketClose | Token::BraceClose => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(k);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else { continue };
        // `d + timedelta(1) * 2` or `timedelta(1).days`: the call is not the whole right
        // operand; left as written (an error names it).
        if matches!(
            tokens.get(end + 1).map(|t| &t.0),
            Some(Token::Mul | Token::Div | Token::FloorDiv | Token::Mod | Token::Pow | Token::Dot | Token::BracketOpen | Token::Pipe)
        ) {
            continue;
        }
        // The left operand: back to a boundary at this depth.
        let mut depth = 0usize;
        let mut start = i;
        let mut k = i;
        while k > 0 {
            k -= 1;
            let t = &tokens[k].0;
            match t {
                Token::ParenClose | Token::BracketClose | Token::BraceClose => depth += 1,
                Token::ParenOpen | Token::BracketOpen | Token::BraceOpen => {
                    if depth == 0 {
                        break;
                    }
                    depth -= 1;
                }
                _ if depth == 0 && is_boundary(t) => break,
                _ => {}
            }
            start = k;
        }
        if start == i {
            continue;
        }
        ops.push((start, i, end));
    }
    let mut changes: Vec<(usize, usize, String)> = Vec::new();
    // Openings at one offset: the later (outer) operation first.
    let mut openings: std::collections::BTreeMap<usize, Vec<&str>> = std::collections::BTreeMap::new();
    for (start, op, end) in &ops {
        let name = if matches!(tokens[*op].0, Token::Plus) { "__silt_dt_add(" } else { "__silt_dt_sub(" };
        openings.entry(tokens[*start].1.start_offset as usize).or_default().insert(0, name);
        let op_span = tokens[*op].1;
        changes.push((op_span.start_offset as usize, (op_span.end_offset - op_span.start_offset) as usize, ",".to_owned()));
        changes.push((tokens[*end].1.end_offset as usize, 0, ")".to_owned()));
    }
    for (at, names) in openings {
        changes.push((at, 0, names.concat()));
    }
    // At one offset, closing parentheses come before openings (`...), __silt(`).
    changes.sort_by_key(|(at, removed, text)| (*at, *removed == 0 && text.starts_with("__silt"), *removed));
    // Merge changes at the same offset that insert only.
    let mut merged: Vec<(usize, usize, String)> = Vec::new();
    for c in changes {
        match merged.last_mut() {
            Some(last) if last.0 == c.0 && last.1 == 0 && c.1 == 0 => last.2.push_str(&c.2),
            _ => merged.push(c),
        }
    }
    merged
}

/// `__silt_dt_add(a, b)` and `__silt_dt_sub(a, b)`: Python's `+` and `-` of datetimes,
/// dates and timedeltas.
pub fn install(env: &mut minijinja::Environment<'static>) {
    env.add_function("__silt_dt_add", |a: Value, b: Value| shift(&a, &b, 1, "+"));
    env.add_function("__silt_dt_sub", |a: Value, b: Value| shift(&a, &b, -1, "-"));
}

fn type_name(v: &Value) -> String {
    if v.downcast_object_ref::<PyDateTime>().is_some() {
        "datetime".into()
    } else if v.downcast_object_ref::<PyDate>().is_some() {
        "date".into()
    } else if v.downcast_object_ref::<PyTimedelta>().is_some() {
        "timedelta".into()
    } else {
        v.kind().to_string()
    }
}

fn shift(a: &Value, b: &Value, sign: i32, op: &str) -> Result<Value, Error> {
    let unsupported = || invalid(format!("unsupported operand types for {op}: '{}' and '{}'", type_name(a), type_name(b)));
    let delta = b.downcast_object_ref::<PyTimedelta>().ok_or_else(unsupported)?.0;
    let delta = if sign < 0 { -delta } else { delta };
    if let Some(dt) = a.downcast_object_ref::<PyDateTime>() {
        let wall = dt.wall.checked_add_signed(delta).ok_or_else(|| invalid("date value out of range"))?;
        return Ok(PyDateTime { wall, zone: dt.zone.clone() }.value());
    }
    if let Some(d) = a.downcast_object_ref::<PyDate>() {
        // A date moves by whole days, as Python's.
        let days = Duration::days(delta.num_days());
        return d.0.checked_add_signed(days).map(|d| PyDate(d).value()).ok_or_else(|| invalid("date value out of range"));
    }
    if let Some(t) = a.downcast_object_ref::<PyTimedelta>() {
        return Ok(Value::from_object(PyTimedelta(t.0 + delta)));
    }
    Err(unsupported())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str) -> String {
        let mut env = minijinja::Environment::new();
        install(&mut env);
        let (text, _) = super::super::mutable::rewrite(src);
        let src = text.as_ref();
        env.add_global("modules", Value::from_object(super::super::modules::Modules));
        env.add_global(
            "run_started_at",
            PyDateTime::utc(DateTime::from_timestamp(1_706_695_200, 123_000).unwrap()).value(),
        );
        env.render_str(src, ()).unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn datetimes_behave_as_pythons() {
        let dt = "{% set dt = modules.datetime";
        assert_eq!(render(&format!("{dt}.datetime(2024, 1, 31, 10, 5) %}}{{{{ dt }}}} {{{{ dt.strftime('%Y%m%d %H:%M:%S.%f') }}}} {{{{ dt.isoformat() }}}}")),
            "2024-01-31 10:05:00 20240131 10:05:00.000000 2024-01-31T10:05:00");
        assert_eq!(render(&format!("{dt}.datetime.strptime('2024-02-29', '%Y-%m-%d') %}}{{{{ dt.day }}}} {{{{ dt.weekday() }}}} {{{{ dt.replace(day=1).date() }}}}")),
            "29 3 2024-02-01");
        assert_eq!(render("{{ modules.datetime.date(2024, 1, 31).strftime('%d/%m/%Y') }} {{ modules.datetime.date.fromisoformat('2024-03-01') }}"), "31/01/2024 2024-03-01");
        assert_eq!(render("{{ modules.datetime.timedelta(days=1, hours=2, minutes=3) }} {{ modules.datetime.timedelta(hours=36).days }} {{ modules.datetime.timedelta(minutes=-1).total_seconds() }}"),
            "1 day, 2:03:00 1 -60.0");
        // run_started_at is an aware datetime; pytz zones convert it.
        assert_eq!(render("{{ run_started_at }} {{ run_started_at.astimezone(modules.pytz.timezone('Asia/Kolkata')).strftime('%H:%M %z %Z') }}"),
            "2024-01-31 10:00:00.000123+00:00 15:30 +0530 Asia/Kolkata");
        assert_eq!(render("{{ modules.datetime.datetime(2024, 1, 1) < modules.datetime.datetime(2024, 1, 2) }} {{ modules.datetime.datetime.now().year >= 2024 }}"), "True True");
        assert!(render("{{ modules.pytz.timezone('Mars/Base') }}").contains("unknown time zone `Mars/Base`"));
        assert!(render("{{ modules.datetime.datetime.strptime('x', '%Y') }}").contains("does not match format"));
    }

    #[test]
    fn timedeltas_add_and_subtract() {
        let (text, _) = super::super::mutable::rewrite("{% set d = a - modules.datetime.timedelta(days=1) + modules.datetime.timedelta(2) %}");
        assert_eq!(
            text,
            "{% set d = __silt_dt_add(__silt_dt_sub(a , modules.datetime.timedelta(days=1)) , modules.datetime.timedelta(2)) %}"
        );
        assert_eq!(render("{{ modules.datetime.date(2024, 3, 1) - modules.datetime.timedelta(days=1) }}"), "2024-02-29");
        assert_eq!(
            render("{% set start = modules.datetime.datetime(2024, 1, 1, 12) %}{{ (start + modules.datetime.timedelta(hours=36)).isoformat() }}"),
            "2024-01-03T00:00:00"
        );
        assert_eq!(
            render("{{ [1, modules.datetime.date(2024, 1, 10) - modules.datetime.timedelta(7)][1] }} {{ 3 - 1 }}"),
            "2024-01-03 2"
        );
        assert_eq!(render("{{ modules.datetime.timedelta(days=1) + modules.datetime.timedelta(hours=1) }}"), "1 day, 1:00:00");
        assert!(render("{{ 'x' - modules.datetime.timedelta(1) }}").contains("unsupported operand types for -: 'string' and 'timedelta'"));
        // A call that is not the whole right operand is left as written.
        let (text, _) = super::super::mutable::rewrite("{{ n - modules.datetime.timedelta(days=3).days }}");
        assert_eq!(text, "{{ n - modules.datetime.timedelta(days=3).days }}");
    }
}
