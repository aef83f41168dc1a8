//! Lists and dicts that templates can change in place, as in Python's Jinja.
//!
//! dbt code builds values with `{% do cols.append(c) %}` and `{% do d.update({k: v}) %}`
//! (dbt_utils does it in most of its macros). minijinja's lists and maps are immutable and
//! it has no hook where a literal is built, so each template is rewritten before it is
//! compiled: every list or dict literal `[...]` / `{...}` in an expression gets the filter
//! `|__mut`, which turns it into a [`MutList`] or [`MutMap`]. These are shared by reference
//! (two names for one list see the same appends, as in Python) and otherwise behave as
//! minijinja's own sequences and maps. The rewrite only appends text after a literal, so
//! lines never move; [`map_back`] turns an error's byte range in the rewritten text back
//! into the original's.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, MutexGuard};

use indexmap::IndexMap;
use minijinja::machinery::{Span, Token, tokenize};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Enumerator, Kwargs, Object, ObjectRepr, Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};

/// The filter the rewrite appends to each literal.
const FILTER: &str = "|__mut";

/// How a rewritten text differs from its original: at each original offset (ascending),
/// `removed` bytes of the original became `inserted` bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edits(Vec<Edit>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Edit {
    at: usize,
    removed: usize,
    inserted: usize,
}

/// A template's text with its literals made mutable and its date arithmetic made calls,
/// and how it differs from the original. Borrowed when there is nothing to change.
pub fn rewrite(source: &str) -> (Cow<'_, str>, Edits) {
    rewrite_in(source, false)
}

/// As [`rewrite`], for a bare expression (no `{{ }}` around it).
pub fn rewrite_expr(source: &str) -> (Cow<'_, str>, Edits) {
    rewrite_in(source, true)
}

/// Applies `(at, removed, inserted)` changes (ascending `at`) to `source`.
fn apply(source: &str, changes: &[(usize, usize, String)]) -> String {
    let mut out = String::with_capacity(source.len() + changes.iter().map(|c| c.2.len()).sum::<usize>());
    let mut last = 0;
    for (at, removed, text) in changes {
        // Changes come sorted and apart; one that is not is dropped rather than panicking.
        if *at < last || at + removed > source.len() || !source.is_char_boundary(*at) {
            continue;
        }
        out.push_str(&source[last..*at]);
        out.push_str(text);
        last = at + removed;
    }
    out.push_str(&source[last..]);
    out
}

fn rewrite_in(source: &str, in_expr: bool) -> (Cow<'_, str>, Edits) {
    // First date arithmetic (`d - modules.datetime.timedelta(days=1)`), then literals.
    let arithmetic = super::datetime::arithmetic_changes(source, in_expr);
    let first: Cow<'_, str> = if arithmetic.is_empty() {
        Cow::Borrowed(source)
    } else {
        Cow::Owned(apply(source, &arithmetic))
    };
    let mut edits: Vec<Edit> = arithmetic
        .iter()
        .map(|(at, removed, text)| Edit { at: *at, removed: *removed, inserted: text.len() })
        .collect();
    let points = insert_points(&first, in_expr);
    if points.is_empty() && arithmetic.is_empty() {
        return (Cow::Borrowed(source), Edits::default());
    }
    let between = Edits(edits.clone());
    for &(p, text) in &points {
        edits.push(Edit { at: between.map_back(p), removed: 0, inserted: text.len() });
    }
    edits.sort_by_key(|e| e.at);
    let changes: Vec<(usize, usize, String)> = points.iter().map(|&(p, text)| (p, 0, text.to_owned())).collect();
    let text = if changes.is_empty() { first.into_owned() } else { apply(&first, &changes) };
    (Cow::Owned(text), Edits(edits))
}

impl Edits {
    /// A byte offset in the rewritten text as an offset in the original (an offset inside
    /// inserted text maps to where it was inserted).
    pub fn map_back(&self, offset: usize) -> usize {
        let mut shift: isize = 0;
        for e in &self.0 {
            let start = (e.at as isize + shift) as usize;
            if offset <= start {
                break;
            }
            if offset < start + e.inserted {
                return e.at;
            }
            shift += e.inserted as isize - e.removed as isize;
        }
        (offset as isize - shift).max(0) as usize
    }
}

/// Whether `source` may hold a list or dict literal: a `[`, or a `{` that does not open
/// or continue a `{{`, `{%` or `{#` (most models hold neither, and are not lexed again).
fn may_hold_literal(source: &str) -> bool {
    let b = source.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'[' => return true,
            b'{' if matches!(b.get(i + 1), Some(b'{' | b'%' | b'#')) => i += 2,
            b'{' => return true,
            _ => i += 1,
        }
    }
    false
}

/// A template's tokens as minijinja reads them; `None` when it cannot (the text is then
/// left as written, and compiling it reports the error).
pub(super) fn lex(source: &str, in_expr: bool) -> Option<Vec<(Token<'_>, Span)>> {
    tokenize(source, in_expr, SyntaxConfig::default()).collect::<Result<Vec<_>, _>>().ok()
}

/// After which tokens an operand starts (a `[` opens a list literal rather than a
/// subscript); after any other, one has just ended.
pub(super) fn starts_operand(prev: Option<&Token>) -> bool {
    match prev {
        None => true,
        Some(Token::Ident(word)) => {
            matches!(*word, "in" | "not" | "and" | "or" | "if" | "else" | "elif" | "is" | "do")
        }
        Some(
            Token::Str(_)
            | Token::String(_)
            | Token::Int(_)
            | Token::Int128(_)
            | Token::Float(_)
            | Token::BracketClose
            | Token::ParenClose
            | Token::BraceClose,
        ) => false,
        Some(_) => true,
    }
}

/// Where `|__mut` goes: after the closing bracket of each list or dict literal that is not
/// used on the spot (`[a, b][i]`, `{...}.items()` need no copy). A text the lexer rejects
/// is left alone: compiling it reports the error on the original.
fn insert_points(source: &str, in_expr: bool) -> Vec<(usize, &'static str)> {
    if !may_hold_literal(source) {
        return Vec::new();
    }
    let Some(tokens) = lex(source, in_expr) else {
        return Vec::new();
    };
    let mut points: Vec<(usize, &'static str)> = Vec::new();
    // Open brackets: whether each one is a literal to wrap.
    let mut open: Vec<bool> = Vec::new();
    let mut prev: Option<&Token> = None;
    // `set` and `for` are followed by assignment targets, never literals.
    let mut target = false;
    // In `{% set x = a + b %}`: where the value starts, and whether it adds at its top
    // level. `+` of two lists is a lazy view of both in minijinja; the value is copied into
    // a list of its own, as Python's `+` makes one.
    let mut in_set = false;
    let mut value_start: Option<usize> = None;
    let mut adds = false;
    let mut last_end = 0usize;
    for (i, (token, span)) in tokens.iter().enumerate() {
        match token {
            Token::TemplateData(_)
            | Token::VariableStart
            | Token::VariableEnd
            | Token::BlockStart
            | Token::BlockEnd => {
                if matches!(token, Token::BlockEnd)
                    && let (true, Some(start), true) = (in_set, value_start, adds)
                {
                    points.push((start, "("));
                    points.push((last_end, ")|__mut"));
                }
                open.clear();
                prev = None;
                target = false;
                in_set = false;
                value_start = None;
                adds = false;
                if matches!(token, Token::BlockStart) {
                    if let Some((Token::Ident(word), _)) = tokens.get(i + 1) {
                        target = matches!(*word, "set" | "for");
                        in_set = *word == "set";
                    }
                }
                continue;
            }
            Token::Assign if in_set && open.is_empty() && value_start.is_none() => {
                value_start = tokens.get(i + 1).map(|(_, s)| s.start_offset as usize);
            }
            Token::Plus if value_start.is_some() && open.is_empty() && prev.is_some_and(|p| !starts_operand(Some(p))) => {
                adds = true;
            }
            _ => {}
        }
        last_end = span.end_offset as usize;
        match token {
            Token::Assign | Token::Ident("in") => target = false,
            _ => {}
        }
        match token {
            Token::BracketOpen => open.push(!target && starts_operand(prev)),
            Token::BraceOpen => open.push(!target),
            Token::ParenOpen => open.push(false),
            Token::BracketClose | Token::BraceClose | Token::ParenClose => {
                let used_on_the_spot = matches!(
                    tokens.get(i + 1),
                    Some((Token::Dot | Token::BracketOpen | Token::ParenOpen, _))
                );
                if open.pop() == Some(true) && !used_on_the_spot {
                    points.push((span.end_offset as usize, FILTER));
                }
            }
            _ => {}
        }
        prev = Some(token);
    }
    // In text order (stable: at one offset, a literal's filter comes before the `)` that
    // closes a `set` value ending with it).
    points.sort_by_key(|&(at, _)| at);
    points
}

/// Registers the filter the rewrite uses, and `list` / `dict` giving mutable values.
pub fn install(env: &mut Environment<'static>) {
    env.add_filter("__mut", |v: Value| mutable(v));
    env.add_filter("list", |v: Value| -> Result<Value, Error> {
        let items: Vec<Value> = match v.as_str() {
            Some(s) => s.chars().map(Value::from).collect(),
            None => v.try_iter()?.collect(),
        };
        Ok(MutList::value(items))
    });
    env.add_function("dict", |args: Rest<Value>, kwargs: Kwargs| -> Result<Value, Error> {
        let map = MutMap::default();
        {
            let mut items = map.lock();
            for arg in args.iter() {
                merge_into(&mut items, arg)?;
            }
            for key in kwargs.args() {
                items.insert(Value::from(key), kwargs.get::<Value>(key)?);
            }
        }
        kwargs.assert_all_used()?;
        Ok(Value::from_object(map))
    });
}

/// A sequence or map value as a mutable one; anything else unchanged.
pub fn mutable(v: Value) -> Value {
    if v.is_tuple() || v.is_kwargs() {
        return v;
    }
    match v.kind() {
        ValueKind::Seq | ValueKind::Iterable if v.downcast_object_ref::<MutList>().is_none() => match v.try_iter() {
            Ok(items) => MutList::value(items.collect()),
            Err(_) => v,
        },
        ValueKind::Map if v.downcast_object_ref::<MutMap>().is_none() => {
            let map = MutMap::default();
            if merge_into(&mut map.lock(), &v).is_err() {
                return v;
            }
            Value::from_object(map)
        }
        _ => v,
    }
}

/// A JSON value as a template value whose lists and dicts change in place (what `var`,
/// `config.get`, `fromjson` and `fromyaml` give: Python's would be plain lists and dicts).
pub fn from_json(v: &serde_json::Value) -> Value {
    use serde_json::Value as Json;
    match v {
        Json::Array(items) => MutList::value(items.iter().map(from_json).collect()),
        Json::Object(map) => {
            let items: IndexMap<Value, Value> = map.iter().map(|(k, v)| (Value::from(k.as_str()), from_json(v))).collect();
            Value::from_object(MutMap(Mutex::new(items)))
        }
        scalar => Value::from(minijinja::value::Serde(scalar.clone())),
    }
}

/// Adds a map's entries (or a list of pairs, or keyword arguments) to `items`.
fn merge_into(items: &mut IndexMap<Value, Value>, from: &Value) -> Result<(), Error> {
    match from.kind() {
        ValueKind::Map => {
            for key in from.try_iter()? {
                let value = from.get_item(&key)?;
                items.insert(key, value);
            }
        }
        ValueKind::Seq | ValueKind::Iterable => {
            for pair in from.try_iter()? {
                let key = pair.get_item(&Value::from(0))?;
                let value = pair.get_item(&Value::from(1))?;
                if key.is_undefined() {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "a dict is made from a mapping or from (key, value) pairs",
                    ));
                }
                items.insert(key, value);
            }
        }
        ValueKind::None | ValueKind::Undefined => {}
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("cannot make a dict from {}", from.kind()),
            ))
        }
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn arg<'a>(args: &'a [Value], i: usize, method: &str) -> Result<&'a Value, Error> {
    args.get(i).filter(|v| !v.is_kwargs()).ok_or_else(|| {
        Error::new(ErrorKind::MissingArgument, format!("`{method}` needs an argument"))
    })
}

/// A Python index (negative from the end) into a sequence of `len`, when inside it.
fn index(i: &Value, len: usize) -> Option<usize> {
    let i = i.as_i64()?;
    let len = len as i64;
    let i = if i < 0 { len + i } else { i };
    (0..len).contains(&i).then_some(i as usize)
}

/// A list templates can append to.
#[derive(Debug, Default)]
pub struct MutList(Mutex<Vec<Value>>);

impl MutList {
    pub fn value(items: Vec<Value>) -> Value {
        Value::from_object(MutList(Mutex::new(items)))
    }

    fn items(&self) -> Vec<Value> {
        lock(&self.0).clone()
    }
}

impl Object for MutList {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let items = lock(&self.0);
        items.get(key.as_usize()?).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        // A snapshot: appending while looping over the list does not loop forever.
        Enumerator::Values(self.items())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(lock(&self.0).len())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        // What the arguments hold is read before the list is locked: `x.extend(x)` reads
        // the list itself.
        let more: Option<Vec<Value>> = match method {
            "extend" => Some(arg(args, 0, method)?.try_iter()?.collect()),
            _ => None,
        };
        let position = match method {
            "remove" => {
                let target = arg(args, 0, method)?;
                let snapshot = self.items();
                Some(snapshot.iter().position(|v| v == target))
            }
            _ => None,
        };
        let mut items = lock(&self.0);
        match method {
            "append" => items.push(arg(args, 0, method)?.clone()),
            "extend" => items.extend(more.unwrap_or_default()),
            "insert" => {
                let len = items.len() as i64;
                let at = arg(args, 0, method)?.as_i64().ok_or_else(|| {
                    Error::new(ErrorKind::InvalidOperation, "`insert` needs an integer position")
                })?;
                let at = if at < 0 { (len + at).max(0) } else { at.min(len) };
                items.insert(at as usize, arg(args, 1, method)?.clone());
            }
            "pop" => {
                let at = match args.first() {
                    Some(i) => index(i, items.len()),
                    None => items.len().checked_sub(1),
                };
                return match at {
                    Some(at) => Ok(items.remove(at)),
                    None => Err(Error::new(ErrorKind::InvalidOperation, "pop from an empty list or index out of range")),
                };
            }
            "remove" => {
                let target = arg(args, 0, method)?;
                match position.flatten().filter(|&at| at < items.len()) {
                    Some(at) => {
                        items.remove(at);
                    }
                    None => {
                        return Err(Error::new(
                            ErrorKind::InvalidOperation,
                            format!("list.remove({target}): not in list"),
                        ))
                    }
                }
            }
            "clear" => items.clear(),
            "reverse" => items.reverse(),
            "sort" => {
                let reverse = args
                    .iter()
                    .find(|a| a.is_kwargs())
                    .and_then(|k| k.get_attr("reverse").ok())
                    .is_some_and(|r| r.is_true());
                items.sort();
                if reverse {
                    items.reverse();
                }
            }
            "copy" => return Ok(MutList::value(items.clone())),
            _ => return Err(Error::from(ErrorKind::UnknownMethod)),
        }
        Ok(Value::from(()))
    }
}

/// A dict templates can update.
#[derive(Debug, Default)]
pub struct MutMap(Mutex<IndexMap<Value, Value>>);

impl MutMap {
    fn lock(&self) -> MutexGuard<'_, IndexMap<Value, Value>> {
        lock(&self.0)
    }
}

impl Object for MutMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.lock().get(key).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let pairs: Vec<(Value, Value)> =
            self.lock().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        Enumerator::KeyValueIter(Box::new(pairs.into_iter()))
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.lock().len())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        if method == "update" {
            // Read first, then lock: `d.update(d)` reads the dict itself.
            let mut incoming = IndexMap::new();
            for a in args {
                merge_into(&mut incoming, a)?;
            }
            self.lock().extend(incoming);
            return Ok(Value::from(()));
        }
        let mut items = self.lock();
        match method {
            "pop" => {
                let key = arg(args, 0, method)?;
                match items.shift_remove(key) {
                    Some(v) => Ok(v),
                    None => args.get(1).cloned().ok_or_else(|| {
                        Error::new(ErrorKind::InvalidOperation, format!("dict has no key {key}"))
                    }),
                }
            }
            "setdefault" => {
                let key = arg(args, 0, method)?.clone();
                let default = args.get(1).cloned().unwrap_or(Value::from(()));
                Ok(items.entry(key).or_insert(default).clone())
            }
            "popitem" => items
                .pop()
                .map(|(k, v)| Value::from(vec![k, v]))
                .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "popitem(): dict is empty")),
            "clear" => {
                items.clear();
                Ok(Value::from(()))
            }
            "copy" => Ok(Value::from_object(MutMap(Mutex::new(items.clone())))),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str) -> String {
        let mut env = Environment::new();
        env.set_unknown_method_callback(super::super::objects::python_methods);
        install(&mut env);
        let (text, _) = rewrite(src);
        env.render_str(&text, ()).unwrap_or_else(|e| format!("error: {e:#}"))
    }

    #[test]
    fn only_texts_that_may_hold_a_literal_are_lexed() {
        assert!(!may_hold_literal("select * from {{ ref('a') }} {% if x %}{# c #}{% endif %}"));
        assert!(may_hold_literal("{{ {'a': 1} }}"));
        assert!(may_hold_literal("{% set x = [] %}"));
        assert!(may_hold_literal("{{{'a': 1} | tojson}}"));
    }

    #[test]
    fn literals_get_the_filter_and_subscripts_do_not() {
        let (text, points) = rewrite("{% set x = [] %}{{ y[0] }}{% set d = {'a': [1]} %}{{ [1, 2][0] }}{% for a in [1] %}{% endfor %}");
        assert_eq!(
            text,
            "{% set x = []|__mut %}{{ y[0] }}{% set d = {'a': [1]|__mut}|__mut %}{{ [1, 2][0] }}{% for a in [1]|__mut %}{% endfor %}"
        );
        assert_eq!(points.0.len(), 4);
        // Offsets after an insertion map back to the original.
        let orig = "{% set x = [] %}{{ y }}";
        let (text, points) = rewrite(orig);
        let at = text.find("y }}").unwrap();
        assert_eq!(points.map_back(at), orig.find("y }}").unwrap());
        assert_eq!(points.map_back(text.find("|__mut").unwrap() + 2), orig.find("] %}").unwrap() + 1);
    }

    #[test]
    fn lists_and_dicts_change_in_place_and_are_shared() {
        assert_eq!(
            render("{% set x = [] %}{% set y = x %}{% do x.append(1) %}{% do y.extend([2, 3]) %}{% do x.insert(0, 0) %}{{ x }} {{ y | length }} {{ x.pop() }} {{ x }}"),
            "[0, 1, 2, 3] 4 3 [0, 1, 2]"
        );
        assert_eq!(
            render("{% set d = {} %}{% for k in ['a', 'b'] %}{% do d.update({k: loop.index}) %}{% endfor %}{% do d.update(c=3) %}{{ d | tojson }} {{ d.pop('a') }} {{ d.setdefault('e', []) }} {{ d.keys() | list }}"),
            "{\"a\": 1, \"b\": 2, \"c\": 3} 1 [] ['b', 'c', 'e']"
        );
        // dbt_utils' union_relations: a list inside a dict, appended to through the dict.
        assert_eq!(
            render("{% set m = {} %}{% do m.update({'r': []}) %}{% do m['r'].append('c') %}{{ m.r }}"),
            "['c']"
        );
        // A copy is a new list; comparisons and membership see the contents.
        assert_eq!(
            render("{% set a = [1] %}{% set b = a.copy() %}{% do b.append(2) %}{{ a }} {{ b }} {{ a == [1] }} {{ 2 in b }} {{ [] is sequence }}"),
            "[1] [1, 2] True True True"
        );
        assert_eq!(render("{% set l = 'ab' | list %}{% do l.append('c') %}{{ l | join }}"), "abc");
        let mut env = Environment::new();
        install(&mut env);
        env.add_global("v", from_json(&serde_json::json!({"cols": ["a"], "n": 1})));
        let out = env
            .render_str(&rewrite("{% do v.cols.append('b') %}{% do v.update({'m': 2}) %}{{ v.cols }} {{ v.n + v.m }}").0, ())
            .unwrap();
        assert_eq!(out, "['a', 'b'] 3");
        assert_eq!(render("{% set d = dict(a=1) %}{% do d.update({'b': 2}) %}{{ d | tojson }}"), "{\"a\": 1, \"b\": 2}");
        // `a + b` makes a list of its own, which can change, as in Python.
        assert_eq!(
            render("{% set a = ['x'] %}{% set b = a + ['id'] %}{% do a.append('y') %}{% do b.append('z') %}{{ a }} {{ b }} {% set s = 'p' + 'q' %}{{ s }}"),
            "['x', 'y'] ['x', 'id', 'z'] pq"
        );
        // A list or dict given to itself is read before it changes (no deadlock).
        assert_eq!(render("{% set x = [1, 2] %}{% do x.extend(x) %}{% do x.remove(2) %}{{ x }}"), "[1, 1, 2]");
        assert_eq!(render("{% set d = {'a': 1} %}{% do d.update(d) %}{{ d | tojson }}"), "{\"a\": 1}");
    }
}
