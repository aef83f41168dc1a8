//! dbt's node selection syntax.
//!
//! A selection is a union (space-separated) of intersections (comma-separated) of
//! criteria. A criterion is `[@][N+][method:]value[+N]`: `+` before means ancestors, after
//! means descendants (optionally limited to N edges), `@x` means x, its descendants and
//! every ancestor of those. Methods: names and folder paths (the default), `tag:`, `path:`,
//! `file:`, `fqn:`, `config.<key>:`, `resource_type:`, `source:`, `package:`, `test_type:`,
//! `test_name:`, `group:`, `access:`, and `state:` against an earlier run's manifest
//! ([`super::state`]). Values may use shell wildcards (`stg_*`).

use std::collections::BTreeSet;

use serde_json::Value as Json;

use super::Graph;
use super::state::{CHECKS, Check, Comparison};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::parse::ParsedProject;
use crate::project::ResourceType;

/// A parsed `--select`/`--exclude` pair.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    select: Vec<Vec<Criterion>>,
    exclude: Vec<Vec<Criterion>>,
}

#[derive(Debug, Clone, PartialEq)]
struct Criterion {
    method: Method,
    value: String,
    /// `@x`
    at: bool,
    /// `+x` / `2+x`: Some(None) for all ancestors, Some(Some(n)) for n levels.
    parents: Option<Option<usize>>,
    children: Option<Option<usize>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Method {
    Default,
    Fqn,
    Tag,
    Path,
    File,
    Config(String),
    ResourceType,
    Source,
    Exposure,
    Package,
    TestType,
    TestName,
    Group,
    Access,
    State(Check),
    /// `result:<status>`: the status in the `--state` run's `run_results.json`.
    Result,
}

const METHODS: &[&str] = &[
    "fqn",
    "tag",
    "path",
    "file",
    "config",
    "resource_type",
    "source",
    "exposure",
    "package",
    "test_type",
    "test_name",
    "group",
    "access",
    "state",
    "result",
];
const UNSUPPORTED: &[&str] = &[
    "metric",
    "semantic_model",
    "saved_query",
    "unit_test",
    "version",
    "source_status",
    "wildcard",
];

impl Selection {
    /// Parses the arguments of `--select` and `--exclude` (each may hold several
    /// space-separated selectors).
    pub fn parse(select: &[String], exclude: &[String]) -> Result<Selection, Diagnostic> {
        Ok(Selection {
            select: parse_union(select)?,
            exclude: parse_union(exclude)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.select.is_empty()
    }

    /// Whether a criterion uses `state:` (which needs an earlier run's manifest).
    pub fn uses_state(&self) -> bool {
        self.select
            .iter()
            .chain(&self.exclude)
            .flatten()
            .any(|c| matches!(c.method, Method::State(_) | Method::Result))
    }

    /// What the selection picks, over every resource type, as dbt's `NodeSelector` does:
    /// each criterion's nodes bring in the tests of what they select (`include` says how)
    /// before criteria are intersected and unioned, and `--exclude` takes away its nodes
    /// and their tests (eagerly, whatever `include` says). `state` is the comparison
    /// `state:` reads.
    pub fn resolve(
        &self,
        parsed: &ParsedProject,
        graph: &Graph,
        state: Option<&Comparison>,
        include: &dyn TestJoin,
        exclude: &dyn TestJoin,
    ) -> Result<BTreeSet<String>, Diagnostic> {
        let universe = Universe::new(parsed, graph, state);
        let (direct, indirect) = if self.select.is_empty() {
            (universe.all.iter().map(|i| i.id.clone()).collect(), BTreeSet::new())
        } else {
            universe.union(&self.select, graph, include)?
        };
        if self.exclude.is_empty() {
            return Ok(direct);
        }
        let (gone, gone_indirect) = universe.union(&self.exclude, graph, exclude)?;
        let kept: BTreeSet<String> = direct.difference(&gone).cloned().collect();
        let kept_indirect: BTreeSet<String> = direct
            .union(&indirect)
            .filter(|id| !gone.contains(*id) && !gone_indirect.contains(*id))
            .cloned()
            .collect();
        Ok(include.incorporate(kept, &kept_indirect))
    }
}

/// How the nodes a criterion selects bring in tests (dbt's `--indirect-selection`): the
/// selection's caller knows the tests, the selector only when to ask.
pub trait TestJoin {
    /// The nodes a criterion selects with the tests they bring in: (selected, tests that
    /// join only if what they test is selected in the end).
    fn expand(&self, selected: BTreeSet<String>) -> (BTreeSet<String>, BTreeSet<String>);
    /// After an intersection, union or exclusion: `direct` with the tests of `indirect`
    /// that now qualify.
    fn incorporate(&self, direct: BTreeSet<String>, indirect: &BTreeSet<String>) -> BTreeSet<String>;
}

/// No tests join: what is selected is all there is.
pub struct NoTests;

impl TestJoin for NoTests {
    fn expand(&self, selected: BTreeSet<String>) -> (BTreeSet<String>, BTreeSet<String>) {
        (selected, BTreeSet::new())
    }

    fn incorporate(&self, direct: BTreeSet<String>, _: &BTreeSet<String>) -> BTreeSet<String> {
        direct
    }
}

fn parse_union(args: &[String]) -> Result<Vec<Vec<Criterion>>, Diagnostic> {
    let mut out = Vec::new();
    for arg in args {
        for token in arg.split_whitespace() {
            let inter = token
                .split(',')
                .filter(|s| !s.is_empty())
                .map(parse_criterion)
                .collect::<Result<Vec<_>, _>>()?;
            if !inter.is_empty() {
                out.push(inter);
            }
        }
    }
    Ok(out)
}

fn parse_criterion(text: &str) -> Result<Criterion, Diagnostic> {
    let bad = |why: &str| Diagnostic::error(format!("invalid selector `{text}`: {why}"));
    let mut s = text;
    let at = s.starts_with('@');
    if at {
        s = &s[1..];
    }
    let mut parents = None;
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    if s[digits.len()..].starts_with('+') {
        parents = Some(if digits.is_empty() {
            None
        } else {
            digits.parse().ok()
        });
        s = &s[digits.len() + 1..];
    } else if !digits.is_empty()
        && s.len() > digits.len()
        && !s[digits.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
    {
        return Err(bad("a depth must be followed by `+`"));
    }
    let mut children = None;
    if let Some(plus) = s.rfind('+') {
        let tail = &s[plus + 1..];
        if tail.chars().all(|c| c.is_ascii_digit()) {
            children = Some(if tail.is_empty() {
                None
            } else {
                tail.parse().ok()
            });
            s = &s[..plus];
        }
    }
    if at && (parents.is_some() || children.is_some()) {
        return Err(bad("`@` cannot be combined with `+`"));
    }
    if s.is_empty() {
        return Err(bad("nothing to select"));
    }
    let (method, value) = match s.split_once(':') {
        None => (Method::Default, s.to_owned()),
        Some((m, v)) => {
            let method = if let Some(key) = m.strip_prefix("config.") {
                Method::Config(key.to_owned())
            } else {
                match m {
                    "fqn" => Method::Fqn,
                    "tag" => Method::Tag,
                    "path" => Method::Path,
                    "file" => Method::File,
                    "resource_type" => Method::ResourceType,
                    "source" => Method::Source,
                    "exposure" => Method::Exposure,
                    "package" => Method::Package,
                    "test_type" => Method::TestType,
                    "test_name" => Method::TestName,
                    "group" => Method::Group,
                    "access" => Method::Access,
                    "result" => match v {
                        "success" | "error" | "fail" | "warn" | "pass" | "skipped" | "no-op" => Method::Result,
                        _ => {
                            return Err(bad(
                                "`result:` takes a status of the earlier run: success, error, fail, warn, pass, skipped or no-op",
                            ))
                        }
                    },
                    "state" => match Check::parse(v) {
                        Some(check) => Method::State(check),
                        None => {
                            let names: Vec<String> = CHECKS.iter().map(|(n, _)| format!("`{n}`")).collect();
                            return Err(bad(&format!("`state:` takes one of {}", names.join(", "))));
                        }
                    },
                    other if UNSUPPORTED.contains(&other) => {
                        return Err(bad(&format!(
                            "the `{other}:` method is not supported by Silt"
                        )));
                    }
                    other => {
                        let mut d = bad(&format!("unknown selection method `{other}`"));
                        if let Some(s) = did_you_mean(other, METHODS.iter().copied()) {
                            d = d.with_help(format!("did you mean `{s}:`?"));
                        }
                        return Err(d);
                    }
                }
            };
            if v.is_empty() {
                return Err(bad("the method needs a value"));
            }
            (method, v.to_owned())
        }
    };
    Ok(Criterion {
        method,
        value,
        at,
        parents,
        children,
    })
}

/// What selection can see of one node or source.
struct Item {
    id: String,
    kind: ResourceType,
    name: String,
    fqn: Vec<String>,
    /// Path relative to the project root.
    path: String,
    package: String,
    tags: Vec<String>,
    config: serde_json::Map<String, Json>,
    /// For sources: (source name, table name).
    source: Option<(String, String)>,
    /// For tests: generic or singular.
    test_type: Option<&'static str>,
    test_name: Option<String>,
}

struct Universe<'s> {
    all: Vec<Item>,
    /// The comparison with an earlier run, for `state:`.
    state: Option<&'s Comparison<'s>>,
}

impl<'s> Universe<'s> {
    fn new(parsed: &ParsedProject, graph: &Graph, state: Option<&'s Comparison<'s>>) -> Universe<'s> {
        let mut all = Vec::new();
        for s in parsed
            .sources
            .iter()
            .filter(|s| graph.contains(&s.source.unique_id))
        {
            all.push(Item {
                id: s.source.unique_id.clone(),
                kind: ResourceType::Source,
                name: s.source.name.clone(),
                fqn: s.source.fqn.clone(),
                path: s.source.original_file_path.clone(),
                package: s.source.package.clone(),
                tags: s.source.tags.clone(),
                config: s.source.config.clone().into_iter().collect(),
                source: Some((s.source.source_name.clone(), s.source.name.clone())),
                test_type: None,
                test_name: None,
            });
        }
        for n in parsed
            .nodes
            .iter()
            .filter(|n| graph.contains(&n.node.unique_id))
        {
            let is_test = n.node.resource_type == ResourceType::Test;
            all.push(Item {
                id: n.node.unique_id.clone(),
                kind: n.node.resource_type,
                name: n.node.name.clone(),
                fqn: n.node.fqn.clone(),
                path: n.node.original_file_path.clone(),
                package: n.node.package.clone(),
                tags: n.config.tags.clone(),
                config: n.config.raw.clone().into_iter().collect(),
                source: None,
                test_type: is_test.then(|| {
                    if n.node.test.is_some() {
                        "generic"
                    } else {
                        "singular"
                    }
                }),
                // dbt's `test_name:` matches a generic test's test (`unique`) or a unit
                // test's name; a singular test has no test name.
                test_name: match &n.node.test {
                    Some(meta) => Some(meta.name.clone()),
                    None => (n.node.resource_type == ResourceType::UnitTest).then(|| n.node.name.clone()),
                },
            });
        }
        Universe { all, state }
    }

    /// A union of intersections: (selected, tests that may still join).
    fn union(
        &self,
        specs: &[Vec<Criterion>],
        graph: &Graph,
        join: &dyn TestJoin,
    ) -> Result<(BTreeSet<String>, BTreeSet<String>), Diagnostic> {
        let mut direct = BTreeSet::new();
        let mut indirect = BTreeSet::new();
        for inter in specs {
            let (d, i) = self.intersection(inter, graph, join)?;
            indirect.extend(d.iter().cloned());
            indirect.extend(i);
            direct.extend(d);
        }
        Ok((join.incorporate(direct, &indirect), indirect))
    }

    fn intersection(
        &self,
        criteria: &[Criterion],
        graph: &Graph,
        join: &dyn TestJoin,
    ) -> Result<(BTreeSet<String>, BTreeSet<String>), Diagnostic> {
        let mut result: Option<(BTreeSet<String>, BTreeSet<String>)> = None;
        for c in criteria {
            let (d, i) = join.expand(self.criterion(c, graph)?);
            let all: BTreeSet<String> = d.union(&i).cloned().collect();
            result = Some(match result {
                None => (d, all),
                Some((rd, ri)) => (
                    rd.intersection(&d).cloned().collect(),
                    ri.intersection(&all).cloned().collect(),
                ),
            });
        }
        let (direct, indirect) = result.unwrap_or_default();
        Ok((join.incorporate(direct, &indirect), indirect))
    }

    fn criterion(&self, c: &Criterion, graph: &Graph) -> Result<BTreeSet<String>, Diagnostic> {
        let mut base = BTreeSet::new();
        if let Method::State(check) = c.method {
            let state = self.state.ok_or_else(|| {
                Diagnostic::error(format!(
                    "`state:{}` compares the project with an earlier run, and no --state was given",
                    c.value
                ))
                .with_help("pass --state <dir>, the folder holding that run's manifest.json (a copy of its target/)")
            })?;
            base.extend(self.all.iter().filter(|i| state.matches(check, &i.id)).map(|i| i.id.clone()));
        }
        if c.method == Method::Result {
            let state = self.state.ok_or_else(|| {
                Diagnostic::error(format!("`result:{}` selects by an earlier run's results, and no --state was given", c.value))
                    .with_help("pass --state <dir>, the folder holding that run's run_results.json and manifest.json (a copy of its target/)")
            })?;
            for item in &self.all {
                match state.result(&item.id) {
                    Ok(Some(status)) if status == c.value => {
                        base.insert(item.id.clone());
                    }
                    Ok(_) => {}
                    Err(()) => {
                        return Err(Diagnostic::error(format!(
                            "`result:{}` selects by an earlier run's results, and the --state folder has no run_results.json",
                            c.value
                        ))
                        .with_help("copy the earlier run's target/run_results.json into the --state folder"));
                    }
                }
            }
        }
        for item in &self.all {
            if matches(c, item)? {
                base.insert(item.id.clone());
            }
        }
        let mut out = base.clone();
        for id in &base {
            if c.at {
                let down = graph.descendants(id, None);
                for d in down.iter().chain(std::iter::once(id)) {
                    out.extend(graph.ancestors(d, None));
                }
                out.extend(down);
            }
            if let Some(depth) = c.parents {
                out.extend(graph.ancestors(id, depth));
            }
            if let Some(depth) = c.children {
                out.extend(graph.descendants(id, depth));
            }
        }
        Ok(out)
    }
}

fn matches(c: &Criterion, item: &Item) -> Result<bool, Diagnostic> {
    let v = c.value.as_str();
    Ok(match &c.method {
        // dbt's default method: a path if it has a slash, a file name if it has an
        // extension, else a name or dotted folder prefix.
        Method::Default => {
            let lower = v.to_lowercase();
            if v.contains('/') {
                path_matches(v, &item.path)
            } else if lower.ends_with(".sql") || lower.ends_with(".csv") || lower.ends_with(".py") {
                matches(
                    &Criterion {
                        method: Method::File,
                        ..c.clone()
                    },
                    item,
                )?
            } else {
                fqn_matches(v, item)
            }
        }
        Method::Fqn => fqn_matches(v, item),
        Method::Tag => item.tags.iter().any(|t| glob(v, t)),
        Method::Path => path_matches(v, &item.path),
        Method::File => {
            let file = item.path.rsplit('/').next().unwrap_or(&item.path);
            let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
            glob(v, file) || glob(v, stem)
        }
        Method::Config(key) => match item.config.get(key) {
            Some(Json::Array(items)) => items
                .iter()
                .any(|i| json_text(i).is_some_and(|t| glob(v, &t))),
            Some(other) => json_text(other).is_some_and(|t| glob(v, &t)),
            None => false,
        },
        Method::ResourceType => {
            if ResourceType::parse(v).is_none() {
                return Err(Diagnostic::error(format!("unknown resource type `{v}`"))
                    .with_help("use model, seed, source, test, analysis, snapshot, unit_test or exposure"));
            }
            ResourceType::parse(v) == Some(item.kind)
        }
        Method::Source => match &item.source {
            Some((source, table)) => {
                let parts: Vec<&str> = v.split('.').collect();
                match parts.as_slice() {
                    [s] => glob(s, source),
                    [s, t] => {
                        (glob(s, source) && glob(t, table))
                            || (glob(s, &item.package) && glob(t, source))
                    }
                    [p, s, t] => glob(p, &item.package) && glob(s, source) && glob(t, table),
                    _ => false,
                }
            }
            None => false,
        },
        // `exposure:name`, `exposure:package.name`, `exposure:*`.
        Method::Exposure => {
            item.kind == ResourceType::Exposure
                && match v.split_once('.') {
                    Some((p, n)) => glob(p, &item.package) && glob(n, &item.name),
                    None => glob(v, &item.name),
                }
        }
        Method::Package => glob(v, &item.package),
        Method::TestType => match v {
            "generic" | "singular" | "data" => {
                item.test_type.is_some_and(|t| t == v || v == "data")
            }
            "unit" => item.kind == ResourceType::UnitTest,
            _ => {
                return Err(Diagnostic::error(format!("unknown test type `{v}`"))
                    .with_help("use generic, singular or unit"));
            }
        },
        Method::TestName => item.test_name.as_deref().is_some_and(|n| glob(v, n)),
        Method::Group => item
            .config
            .get("group")
            .and_then(Json::as_str)
            .is_some_and(|g| glob(v, g)),
        Method::Access => item
            .config
            .get("access")
            .and_then(Json::as_str)
            .is_some_and(|a| glob(v, a)),
        // Resolved against the earlier run in `Universe::criterion`.
        Method::State(_) | Method::Result => false,
    })
}

fn json_text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Bool(b) => Some(b.to_string()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// dbt's fqn match: the node's name, or a dotted prefix of its fqn with or without the
/// package name (`staging` selects everything under `models/staging/`).
fn fqn_matches(selector: &str, item: &Item) -> bool {
    // As in dbt, names and fqns select nodes, not sources (those have `source:`).
    if item.kind == ResourceType::Source {
        return false;
    }
    if glob(selector, &item.name) && !selector.contains('.') {
        return true;
    }
    let parts: Vec<&str> = selector.split('.').collect();
    let prefix_match = |fqn: &[String]| {
        let flat: Vec<&str> = fqn.iter().flat_map(|s| s.split('.')).collect();
        flat.len() >= parts.len() && parts.iter().zip(&flat).all(|(p, f)| glob(p, f))
    };
    prefix_match(&item.fqn) || (item.fqn.len() > 1 && prefix_match(&item.fqn[1..]))
}

/// A path selector matches the file or any folder above it (relative to the project root).
fn path_matches(selector: &str, path: &str) -> bool {
    let sel = selector.trim_start_matches("./").trim_end_matches('/');
    if sel.contains('*') || sel.contains('?') {
        return glob(sel, path)
            || path
                .split('/')
                .scan(String::new(), |acc, part| {
                    if !acc.is_empty() {
                        acc.push('/');
                    }
                    acc.push_str(part);
                    Some(acc.clone())
                })
                .any(|prefix| glob(sel, &prefix));
    }
    path == sel || path.starts_with(&format!("{sel}/"))
}

/// Shell-style wildcard match (`*`, `?`, `[abc]`).
pub fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|i| go(&p[1..], &t[i..])),
            Some('?') => !t.is_empty() && go(&p[1..], &t[1..]),
            Some('[') => {
                let Some(close) = p.iter().position(|&c| c == ']') else {
                    return t.first() == Some(&'[') && go(&p[1..], &t[1..]);
                };
                let set = &p[1..close];
                !t.is_empty() && set.contains(&t[0]) && go(&p[close + 1..], &t[1..])
            }
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_graph_operators() {
        let c = parse_criterion("2+orders+1").unwrap();
        assert_eq!(
            (c.parents, c.children, c.value.as_str()),
            (Some(Some(2)), Some(Some(1)), "orders")
        );
        let c = parse_criterion("+tag:nightly+").unwrap();
        assert_eq!(
            (c.parents, c.children, c.method),
            (Some(None), Some(None), Method::Tag)
        );
        let c = parse_criterion("@config.materialized:table").unwrap();
        assert!(c.at);
        assert_eq!(c.method, Method::Config("materialized".into()));
        assert!(parse_criterion("@+x").is_err());
        let err = parse_criterion("tags:x").unwrap_err();
        assert_eq!(err.help.as_deref(), Some("did you mean `tag:`?"));
        assert_eq!(parse_criterion("state:modified.body").unwrap().method, Method::State(Check::Body));
        assert!(
            parse_criterion("state:changed")
                .unwrap_err()
                .message
                .contains("`state:` takes one of `new`, `old`, `modified`")
        );
        assert_eq!(parse_criterion("result:error").unwrap().method, Method::Result);
        assert!(
            parse_criterion("metric:revenue")
                .unwrap_err()
                .message
                .contains("not supported")
        );
    }

    #[test]
    fn globs() {
        assert!(glob("stg_*", "stg_orders"));
        assert!(!glob("stg_*", "orders"));
        assert!(glob("m?del", "model"));
        assert!(path_matches("models/staging", "models/staging/stg.sql"));
        assert!(!path_matches("models/stag", "models/staging/stg.sql"));
        assert!(path_matches(
            "models/staging/stg.sql",
            "models/staging/stg.sql"
        ));
    }
}
