//! dbt's `modules`: the Python modules its Jinja context exposes. `modules.re` (on the
//! `regex` crate: Python's syntax but for look-around and back-references, which are an
//! error naming the pattern) and `modules.itertools` (its combinatoric and chaining
//! functions, returning lists). `modules.datetime` and `modules.pytz` are in `datetime`.

use std::sync::Arc;

use minijinja::value::{Kwargs, Object, ObjectRepr, Value, ValueKind, from_args};
use minijinja::{Error, ErrorKind, State};

/// `modules`.
#[derive(Debug)]
pub struct Modules;

impl Object for Modules {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "re" => Some(Value::from_object(Re)),
            "itertools" => Some(Value::from_object(Itertools)),
            "datetime" => Some(Value::from_object(super::datetime::DatetimeModule)),
            "pytz" => Some(Value::from_object(super::datetime::PytzModule)),
            _ => None,
        }
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// Python's flag values, which callers may add together.
const IGNORECASE: i64 = 2;
const MULTILINE: i64 = 8;
const DOTALL: i64 = 16;
const VERBOSE: i64 = 64;

fn compile(pattern: &str, flags: i64) -> Result<regex::Regex, Error> {
    let mut b = regex::RegexBuilder::new(pattern);
    b.case_insensitive(flags & IGNORECASE != 0)
        .multi_line(flags & MULTILINE != 0)
        .dot_matches_new_line(flags & DOTALL != 0)
        .ignore_whitespace(flags & VERBOSE != 0);
    b.build().map_err(|e| {
        invalid(format!(
            "modules.re: the pattern `{pattern}` is not supported: {e} (look-around and back-references are not available)"
        ))
    })
}

/// Python's replacement syntax (`\1`, `\g<name>`, `\\`) in the `regex` crate's (`${1}`).
fn replacement(repl: &str) -> String {
    let mut out = String::new();
    let mut chars = repl.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    let mut n = String::new();
                    while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                        n.push(d);
                        chars.next();
                    }
                    out.push_str(&format!("${{{n}}}"));
                }
                Some('g') => {
                    chars.next();
                    if chars.peek() == Some(&'<') {
                        chars.next();
                        let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
                        out.push_str(&format!("${{{name}}}"));
                    } else {
                        out.push_str("\\g");
                    }
                }
                Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                Some('t') => {
                    chars.next();
                    out.push('\t');
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    out
}

/// `modules.re`.
#[derive(Debug)]
struct Re;

impl Object for Re {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(Value::from(match key.as_str()? {
            "I" | "IGNORECASE" => IGNORECASE,
            "M" | "MULTILINE" => MULTILINE,
            "S" | "DOTALL" => DOTALL,
            "X" | "VERBOSE" => VERBOSE,
            _ => return None,
        }))
    }

    fn call_method(self: &Arc<Self>, _: &mut State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        if method == "escape" {
            let (text,): (String,) = from_args(args)?;
            return Ok(Value::from(regex::escape(&text)));
        }
        if method == "compile" {
            let (pattern, flags): (String, Option<i64>) = from_args(args)?;
            let flags = flags.unwrap_or(0);
            return Ok(Value::from_object(Pattern {
                regex: compile(&pattern, flags)?,
                pattern,
                flags,
            }));
        }
        // The module's functions take the pattern first, then what the pattern's methods take.
        let Some((pattern, rest)) = args.split_first() else {
            return Err(invalid(format!("modules.re.{method}() needs a pattern")));
        };
        let pattern = pattern
            .as_str()
            .ok_or_else(|| invalid(format!("modules.re.{method}(): the pattern must be a string")))?;
        let (rest, flags) = take_flags(rest)?;
        let p = Pattern {
            regex: compile(pattern, flags)?,
            pattern: pattern.to_owned(),
            flags,
        };
        p.run(method, &rest)
    }
}

/// Takes a `flags=` keyword (or, for `match`/`search`, a trailing integer is a position in
/// Python's Pattern methods but flags in the module's functions: only the keyword form and
/// a third positional argument are read as flags).
fn take_flags(args: &[Value]) -> Result<(Vec<Value>, i64), Error> {
    let mut rest: Vec<Value> = args.to_vec();
    let mut flags = 0;
    if let Some(last) = rest.last()
        && let Ok(kwargs) = Kwargs::try_from(last.clone())
    {
        rest.pop();
        let mut kept = Vec::new();
        for key in kwargs.args() {
            let v: Value = kwargs.get(key)?;
            if key == "flags" {
                flags = i64::try_from(v)?;
            } else {
                kept.push((key.to_owned(), v));
            }
        }
        if !kept.is_empty() {
            rest.push(Kwargs::from_iter(kept).into());
        }
    }
    Ok((rest, flags))
}

/// A compiled pattern (`re.compile(...)`), also what the module's functions use.
#[derive(Debug)]
struct Pattern {
    regex: regex::Regex,
    pattern: String,
    flags: i64,
}

impl Pattern {
    fn run(&self, method: &str, args: &[Value]) -> Result<Value, Error> {
        match method {
            "match" | "search" | "fullmatch" => {
                let (text,): (String,) = from_args(args)?;
                let found = self.regex.captures(&text).filter(|c| {
                    let m = c.get(0).expect("group 0");
                    match method {
                        "match" => m.start() == 0,
                        "fullmatch" => m.start() == 0 && m.end() == text.len(),
                        _ => true,
                    }
                });
                // `match` and `fullmatch` anchor: a later match does not count, but an
                // anchored one might exist where the leftmost-first search found another.
                let found = match (found, method) {
                    (None, "match" | "fullmatch") => {
                        let anchored = compile(&format!("^(?:{})", self.pattern), self.flags & !MULTILINE)?;
                        anchored.captures(&text).filter(|c| method == "match" || c.get(0).is_some_and(|m| m.end() == text.len()))
                    }
                    (f, _) => f,
                };
                Ok(match found {
                    Some(c) => Value::from_object(Match::new(&self.regex, &c)),
                    None => Value::from(()),
                })
            }
            "findall" => {
                let (text,): (String,) = from_args(args)?;
                let groups = self.regex.captures_len() - 1;
                let out: Vec<Value> = self
                    .regex
                    .captures_iter(&text)
                    .map(|c| {
                        let group = |i: usize| Value::from(c.get(i).map_or("", |m| m.as_str()));
                        match groups {
                            0 => group(0),
                            1 => group(1),
                            n => Value::from((1..=n).map(group).collect::<Vec<_>>()),
                        }
                    })
                    .collect();
                Ok(Value::from(out))
            }
            "sub" => {
                let (repl, text, count): (String, String, Option<usize>) = from_args(args)?;
                let repl = replacement(&repl);
                Ok(Value::from(self.regex.replacen(&text, count.unwrap_or(0), repl.as_str()).into_owned()))
            }
            "split" => {
                let (text, maxsplit): (String, Option<usize>) = from_args(args)?;
                let pieces: Vec<Value> = match maxsplit.filter(|m| *m > 0) {
                    Some(m) => self.regex.splitn(&text, m + 1).map(Value::from).collect(),
                    None => self.regex.split(&text).map(Value::from).collect(),
                };
                Ok(Value::from(pieces))
            }
            other => Err(Error::new(ErrorKind::UnknownMethod, format!("modules.re has no `{other}`"))),
        }
    }
}

impl Object for Pattern {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "pattern" => Some(Value::from(self.pattern.clone())),
            "flags" => Some(Value::from(self.flags)),
            _ => None,
        }
    }

    fn call_method(self: &Arc<Self>, _: &mut State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        self.run(method, args)
    }
}

/// A match: `group()`, `groups()`, `groupdict()`, `start()`, `end()`, `span()`.
#[derive(Debug)]
struct Match {
    /// Each group's text and span (None when the group took no part).
    groups: Vec<Option<(String, usize, usize)>>,
    names: Vec<(String, usize)>,
}

impl Match {
    fn new(regex: &regex::Regex, c: &regex::Captures<'_>) -> Match {
        Match {
            groups: (0..c.len())
                .map(|i| c.get(i).map(|m| (m.as_str().to_owned(), m.start(), m.end())))
                .collect(),
            names: regex
                .capture_names()
                .enumerate()
                .filter_map(|(i, n)| n.map(|n| (n.to_owned(), i)))
                .collect(),
        }
    }

    fn index(&self, which: Option<&Value>) -> Result<usize, Error> {
        let Some(v) = which else { return Ok(0) };
        let i = match v.as_str() {
            Some(name) => self
                .names
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, i)| *i)
                .ok_or_else(|| invalid(format!("no such group `{name}`")))?,
            None => usize::try_from(v.clone()).map_err(|_| invalid(format!("no such group {v}")))?,
        };
        if i >= self.groups.len() {
            return Err(invalid(format!("no such group {i}")));
        }
        Ok(i)
    }

    fn text(&self, i: usize) -> Value {
        self.groups[i].as_ref().map_or(Value::from(()), |(t, _, _)| Value::from(t.clone()))
    }
}

impl Object for Match {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn call_method(self: &Arc<Self>, _: &mut State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        match method {
            "group" if args.len() > 1 => {
                let parts: Result<Vec<Value>, Error> = args.iter().map(|a| self.index(Some(a)).map(|i| self.text(i))).collect();
                Ok(Value::from(parts?))
            }
            "group" => Ok(self.text(self.index(args.first())?)),
            "groups" => Ok(Value::from((1..self.groups.len()).map(|i| self.text(i)).collect::<Vec<_>>())),
            "groupdict" => Ok(Value::from_iter(self.names.iter().map(|(n, i)| (n.clone(), self.text(*i))))),
            "start" | "end" | "span" => {
                let i = self.index(args.first())?;
                let (s, e) = self.groups[i].as_ref().map_or((-1, -1), |(_, s, e)| (*s as i64, *e as i64));
                Ok(match method {
                    "start" => Value::from(s),
                    "end" => Value::from(e),
                    _ => Value::from(vec![Value::from(s), Value::from(e)]),
                })
            }
            other => Err(Error::new(ErrorKind::UnknownMethod, format!("a match has no `{other}`"))),
        }
    }
}

/// `modules.itertools`: each function returns a list (of lists where Python yields tuples).
#[derive(Debug)]
struct Itertools;

fn items(v: &Value) -> Result<Vec<Value>, Error> {
    if v.kind() == ValueKind::String {
        return Ok(v.as_str().unwrap_or_default().chars().map(|c| Value::from(c.to_string())).collect());
    }
    Ok(v.try_iter()?.collect())
}

fn combinations(pool: &[Value], r: usize, repeat: bool) -> Vec<Value> {
    let mut out = Vec::new();
    let mut pick: Vec<usize> = Vec::new();
    fn go(pool: &[Value], r: usize, repeat: bool, from: usize, pick: &mut Vec<usize>, out: &mut Vec<Value>) {
        if pick.len() == r {
            out.push(Value::from(pick.iter().map(|&i| pool[i].clone()).collect::<Vec<_>>()));
            return;
        }
        for i in from..pool.len() {
            pick.push(i);
            go(pool, r, repeat, if repeat { i } else { i + 1 }, pick, out);
            pick.pop();
        }
    }
    go(pool, r, repeat, 0, &mut pick, &mut out);
    out
}

fn permutations(pool: &[Value], r: usize) -> Vec<Value> {
    let mut out = Vec::new();
    fn go(pool: &[Value], r: usize, pick: &mut Vec<usize>, out: &mut Vec<Value>) {
        if pick.len() == r {
            out.push(Value::from(pick.iter().map(|&i| pool[i].clone()).collect::<Vec<_>>()));
            return;
        }
        for i in 0..pool.len() {
            if !pick.contains(&i) {
                pick.push(i);
                go(pool, r, pick, out);
                pick.pop();
            }
        }
    }
    go(pool, r, &mut Vec::new(), &mut out);
    out
}

impl Object for Itertools {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call_method(self: &Arc<Self>, _: &mut State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        let (positional, kwargs) = match args.last().map(|a| Kwargs::try_from(a.clone())) {
            Some(Ok(k)) => (&args[..args.len() - 1], Some(k)),
            _ => (args, None),
        };
        let kwarg = |name: &str| -> Result<Option<Value>, Error> {
            match &kwargs {
                Some(k) => k.get::<Option<Value>>(name),
                None => Ok(None),
            }
        };
        let out = match method {
            "chain" => {
                let mut out = Vec::new();
                for a in positional {
                    out.extend(items(a)?);
                }
                out
            }
            "product" => {
                let repeat = kwarg("repeat")?.map(usize::try_from).transpose()?.unwrap_or(1);
                let mut pools = Vec::new();
                for _ in 0..repeat {
                    for a in positional {
                        pools.push(items(a)?);
                    }
                }
                let mut rows: Vec<Vec<Value>> = vec![Vec::new()];
                for pool in &pools {
                    rows = rows
                        .into_iter()
                        .flat_map(|row| {
                            pool.iter().map(move |v| {
                                let mut r = row.clone();
                                r.push(v.clone());
                                r
                            })
                        })
                        .collect();
                }
                rows.into_iter().map(Value::from).collect()
            }
            "combinations" | "combinations_with_replacement" => {
                let (pool, r): (Value, usize) = from_args(positional)?;
                combinations(&items(&pool)?, r, method != "combinations")
            }
            "permutations" => {
                let (pool, r): (Value, Option<usize>) = from_args(positional)?;
                let pool = items(&pool)?;
                let r = r.or(kwarg("r")?.map(usize::try_from).transpose()?).unwrap_or(pool.len());
                permutations(&pool, r)
            }
            "islice" => {
                let pool = items(positional.first().ok_or_else(|| invalid("islice() needs an iterable"))?)?;
                let nums: Vec<Option<usize>> = positional[1..]
                    .iter()
                    .map(|v| if v.is_none() { Ok(None) } else { usize::try_from(v.clone()).map(Some) })
                    .collect::<Result<_, _>>()?;
                let (start, stop, step) = match nums.as_slice() {
                    [stop] => (0, *stop, 1),
                    [start, stop] => (start.unwrap_or(0), *stop, 1),
                    [start, stop, step] => (start.unwrap_or(0), *stop, step.unwrap_or(1).max(1)),
                    _ => return Err(invalid("islice() takes an iterable and one to three numbers")),
                };
                let stop = stop.unwrap_or(pool.len()).min(pool.len());
                (start..stop).step_by(step).filter_map(|i| pool.get(i).cloned()).collect()
            }
            "repeat" => {
                let (v, times): (Value, usize) = from_args(positional)?;
                std::iter::repeat_n(v, times).collect()
            }
            "accumulate" => {
                let (pool,): (Value,) = from_args(positional)?;
                let mut out: Vec<Value> = Vec::new();
                for v in items(&pool)? {
                    let next = match out.last() {
                        Some(prev) => prev_add(prev, &v)?,
                        None => v,
                    };
                    out.push(next);
                }
                out
            }
            "zip_longest" => {
                let fill = kwarg("fillvalue")?.unwrap_or(Value::from(()));
                let lists: Vec<Vec<Value>> = positional.iter().map(items).collect::<Result<_, _>>()?;
                let n = lists.iter().map(Vec::len).max().unwrap_or(0);
                (0..n)
                    .map(|i| Value::from(lists.iter().map(|l| l.get(i).cloned().unwrap_or(fill.clone())).collect::<Vec<_>>()))
                    .collect()
            }
            other => {
                return Err(Error::new(ErrorKind::UnknownMethod, format!("modules.itertools has no `{other}`")));
            }
        };
        if let Some(k) = kwargs {
            k.assert_all_used()?;
        }
        Ok(Value::from(out))
    }
}

/// `a + b` for numbers and strings, as `accumulate` adds.
fn prev_add(a: &Value, b: &Value) -> Result<Value, Error> {
    match (a.as_str(), b.as_str()) {
        (Some(x), Some(y)) => Ok(Value::from(format!("{x}{y}"))),
        _ => match (i64::try_from(a.clone()), i64::try_from(b.clone())) {
            (Ok(x), Ok(y)) => Ok(Value::from(x + y)),
            _ => Ok(Value::from(f64::try_from(a.clone())? + f64::try_from(b.clone())?)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str) -> String {
        let mut env = minijinja::Environment::new();
        env.add_global("modules", Value::from_object(Modules));
        env.render_str(template, ()).unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn re_matches_searches_and_substitutes_as_python() {
        assert_eq!(render("{{ modules.re.match('a+', 'baaa') }}"), "None");
        assert_eq!(render("{{ modules.re.search('a+', 'baaa').group() }}"), "aaa");
        assert_eq!(render("{{ modules.re.match('(\\\\w+)_(\\\\d+)', 'col_12').groups() }}"), "['col', '12']");
        assert_eq!(render("{{ modules.re.match('(?P<n>\\\\d+)', '42x').group('n') }}"), "42");
        assert_eq!(render("{{ modules.re.fullmatch('\\\\d+', '42x') is none }}"), "True");
        assert_eq!(render("{{ modules.re.sub('(\\\\d+)', '<\\\\1>', 'a1b22') }}"), "a<1>b<22>");
        assert_eq!(render("{{ modules.re.sub('x', '$', 'axb') }}"), "a$b");
        assert_eq!(render("{{ modules.re.findall('(\\\\w)=(\\\\d)', 'a=1, b=2') }}"), "[['a', '1'], ['b', '2']]");
        assert_eq!(render("{{ modules.re.split('[,;] *', 'a, b;c') }}"), "['a', 'b', 'c']");
        assert_eq!(render("{{ modules.re.search('ABC', 'xabc', flags=modules.re.IGNORECASE).span() }}"), "[1, 4]");
        assert_eq!(render("{% set p = modules.re.compile('^stg_') %}{{ p.match('stg_orders') is not none }}"), "True");
        assert!(render("{{ modules.re.search('(?<=a)b', 'ab') }}").contains("look-around"));
    }

    #[test]
    fn itertools_returns_lists() {
        assert_eq!(render("{{ modules.itertools.product([1, 2], ['a', 'b']) }}"), "[[1, 'a'], [1, 'b'], [2, 'a'], [2, 'b']]");
        assert_eq!(render("{{ modules.itertools.combinations([1, 2, 3], 2) }}"), "[[1, 2], [1, 3], [2, 3]]");
        assert_eq!(render("{{ modules.itertools.permutations([1, 2]) }}"), "[[1, 2], [2, 1]]");
        assert_eq!(render("{{ modules.itertools.chain([1], [2, 3]) }}"), "[1, 2, 3]");
        assert_eq!(render("{{ modules.itertools.product([0, 1], repeat=2) | length }}"), "4");
        assert_eq!(render("{{ modules.itertools.islice([1, 2, 3, 4], 1, 3) }}"), "[2, 3]");
        assert_eq!(render("{{ modules.itertools.accumulate([1, 2, 3]) }}"), "[1, 3, 6]");
        assert_eq!(render("{{ modules.itertools.zip_longest([1, 2], ['a']) }}"), "[[1, 'a'], [2, None]]");
    }

    #[test]
    fn modules_not_provided_are_undefined() {
        assert_eq!(render("{{ modules.os is undefined }}"), "True");
    }
}
