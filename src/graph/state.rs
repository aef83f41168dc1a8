//! dbt's `state:` selection method: what changed since an earlier run. The project, as its
//! manifest describes it, is compared with the `manifest.json` that run wrote (`--state
//! <dir>`), by dbt's rules (`StateSelectorMethod` and the nodes' `same_*` methods):
//!
//! - `new` / `old`: the unique id is absent from / present in the earlier manifest.
//! - `modified.body`: the code (`raw_code`; a seed's file checksum) differs.
//! - `modified.configs`: the configs as written (`unrendered_config`) differ, leaving out
//!   `alias`, `schema`, `database` (those are the relation), `tags` and `group`.
//! - `modified.relation`: the configured `database`, `schema` or `alias` (a source's
//!   database, schema or identifier) differ.
//! - `modified.persisted_descriptions`: with `persist_docs`, the description or a column's.
//! - `modified.macros`: a macro the node called was changed, added or removed.
//! - `modified.contract`: an enforced contract's columns changed, or enforcement did.
//! - `modified`: any of these (a generic test only by its configs and fqn; a unit test by
//!   its checksum; a source not when it is new, as in dbt), `unmodified` its opposite.
//!
//! A node new since the earlier run counts as modified by every sub-method but `macros`.
//! Comparing JSON with JSON keeps the rules in one place and reads dbt's manifests too.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use crate::diagnostic::Diagnostic;

/// What `state:` asks about a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    New,
    Old,
    Modified,
    Unmodified,
    Body,
    Configs,
    PersistedDescriptions,
    Relation,
    Macros,
    Contract,
}

/// The values `state:` takes, in dbt's order.
pub const CHECKS: &[(&str, Check)] = &[
    ("new", Check::New),
    ("old", Check::Old),
    ("modified", Check::Modified),
    ("unmodified", Check::Unmodified),
    ("modified.body", Check::Body),
    ("modified.configs", Check::Configs),
    ("modified.persisted_descriptions", Check::PersistedDescriptions),
    ("modified.relation", Check::Relation),
    ("modified.macros", Check::Macros),
    ("modified.contract", Check::Contract),
];

impl Check {
    pub fn parse(value: &str) -> Option<Check> {
        CHECKS.iter().find(|(name, _)| *name == value).map(|(_, c)| *c)
    }
}

/// The resources of one manifest that `state:` compares, by unique id.
#[derive(Debug, Default, Clone)]
pub struct Resources {
    nodes: Map<String, Json>,
    sources: Map<String, Json>,
    unit_tests: Map<String, Json>,
    /// Macro unique id -> (its text, the macros it calls).
    macros: std::collections::HashMap<String, (String, Vec<String>)>,
}

impl Resources {
    /// The parts of a manifest (`nodes`, `sources`, `unit_tests`, `macros`) that `state:`
    /// reads; the rest is ignored.
    pub fn from_manifest(mut manifest: Json) -> Resources {
        let mut take = |key: &str| match manifest.get_mut(key).map(Json::take) {
            Some(Json::Object(m)) => m,
            _ => Map::new(),
        };
        let macros = take("macros")
            .into_iter()
            .map(|(id, m)| {
                let sql = m.get("macro_sql").and_then(Json::as_str).unwrap_or_default().to_owned();
                (id, (sql, string_list(m.pointer("/depends_on/macros"))))
            })
            .collect();
        Resources {
            nodes: take("nodes"),
            sources: take("sources"),
            unit_tests: take("unit_tests"),
            macros,
        }
    }

    fn get(&self, id: &str) -> Option<(&Json, Kind)> {
        if let Some(n) = self.nodes.get(id) {
            let kind = match n.get("resource_type").and_then(Json::as_str) {
                Some("model") => Kind::Model,
                Some("seed") => Kind::Seed,
                Some("test") if n.get("test_metadata").is_some_and(|m| !m.is_null()) => Kind::GenericTest,
                _ => Kind::Node,
            };
            return Some((n, kind));
        }
        if let Some(s) = self.sources.get(id) {
            return Some((s, Kind::Source));
        }
        self.unit_tests.get(id).map(|u| (u, Kind::UnitTest))
    }
}

/// The earlier run's manifest, read from `--state <dir>`.
#[derive(Debug, Clone)]
pub struct State {
    dir: PathBuf,
    previous: Resources,
    /// Each node's status in the earlier run's `run_results.json`, when there is one
    /// (what `result:<status>` selects by).
    results: Option<std::collections::HashMap<String, String>>,
}

impl State {
    /// Reads `<dir>/manifest.json`.
    pub fn load(dir: &Path) -> Result<State, Diagnostic> {
        let path = dir.join("manifest.json");
        let help = "`--state` names the folder holding the manifest.json of the run to compare with (a copy of its target/)";
        let bytes = std::fs::read(&path).map_err(|e| {
            Diagnostic::error(format!("--state: cannot read `{}`: {e}", path.display())).with_help(help)
        })?;
        let manifest: Json = serde_json::from_slice(&bytes).map_err(|e| {
            Diagnostic::error(format!("--state: `{}` is not a manifest: {e}", path.display())).with_help(help)
        })?;
        if !manifest.get("nodes").is_some_and(Json::is_object) {
            return Err(Diagnostic::error(format!(
                "--state: `{}` is not a manifest: it has no `nodes`",
                path.display()
            ))
            .with_help(help));
        }
        let results = std::fs::read(dir.join("run_results.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Json>(&b).ok())
            .map(|r| {
                r["results"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| Some((x["unique_id"].as_str()?.to_owned(), x["status"].as_str()?.to_owned())))
                    .collect()
            });
        Ok(State {
            dir: dir.to_owned(),
            previous: Resources::from_manifest(manifest),
            results,
        })
    }

    /// The folder the manifest was read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The comparison of the project now (its manifest's resources) with this state.
    pub fn compare(&self, current: Resources) -> Comparison<'_> {
        let old = &self.previous.macros;
        let new = &current.macros;
        let mut modified_macros: HashSet<String> = new
            .iter()
            .filter(|(id, (sql, _))| old.get(*id).is_none_or(|(o, _)| o != sql))
            .map(|(id, _)| id.clone())
            .collect();
        modified_macros.extend(old.keys().filter(|id| !new.contains_key(*id)).cloned());
        Comparison {
            previous: &self.previous,
            current,
            modified_macros,
            results: self.results.as_ref(),
        }
    }
}

/// What a resource is, for the rules that differ by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Model,
    Seed,
    GenericTest,
    /// Singular tests, analyses, snapshots: dbt's `ParsedNode` rules.
    Node,
    Source,
    UnitTest,
}

/// The project now against an earlier run.
pub struct Comparison<'a> {
    previous: &'a Resources,
    current: Resources,
    modified_macros: HashSet<String>,
    results: Option<&'a std::collections::HashMap<String, String>>,
}

impl Comparison<'_> {
    /// The status `id` ended with in the earlier run (`None` when it did not run), or an
    /// error when the state folder has no `run_results.json`.
    pub fn result(&self, id: &str) -> Result<Option<&str>, ()> {
        let results = self.results.ok_or(())?;
        Ok(results.get(id).map(String::as_str))
    }

    /// Whether the resource `id` of the project now passes `check`.
    pub fn matches(&self, check: Check, id: &str) -> bool {
        let Some((new, kind)) = self.current.get(id) else {
            return false;
        };
        let old = self.previous.get(id).map(|(o, _)| o);
        let is_node = !matches!(kind, Kind::Source | Kind::UnitTest);
        match check {
            Check::New => old.is_none(),
            Check::Old => old.is_some(),
            Check::Modified => self.modified(old, new, kind),
            Check::Unmodified => !self.modified(old, new, kind),
            Check::Body => is_node && old.is_none_or(|old| !same_body(old, new, kind)),
            Check::Configs => {
                kind != Kind::UnitTest && old.is_none_or(|old| !same_config(old, new, kind))
            }
            Check::PersistedDescriptions => {
                is_node && old.is_none_or(|old| !same_persisted_description(old, new))
            }
            Check::Relation => {
                kind != Kind::UnitTest && old.is_none_or(|old| !same_relation(old, new, kind))
            }
            Check::Macros => self.macros_modified(new),
            Check::Contract => is_node && old.is_none_or(|old| !same_contract(old, new, kind)),
        }
    }

    /// Models whose change breaks their enforced contract, with what breaks: dbt warns of
    /// these (for models without versions) whenever `state:` compares.
    pub fn broken_contracts(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = self
            .current
            .nodes
            .iter()
            .filter(|(_, n)| n.get("resource_type").and_then(Json::as_str) == Some("model"))
            .filter_map(|(id, new)| {
                let old = self.previous.nodes.get(id)?;
                let breaks = breaking_changes(old, new);
                (!breaks.is_empty()).then(|| (id.clone(), breaks))
            })
            .collect();
        out.sort();
        out
    }

    /// dbt's `check_modified_content`.
    fn modified(&self, old: Option<&Json>, new: &Json, kind: Kind) -> bool {
        let different = match (old, kind) {
            // dbt's `SourceDefinition.same_contents` holds a new source the same.
            (None, Kind::Source) => false,
            (None, _) => true,
            (Some(old), Kind::Source) => {
                !(same_relation(old, new, kind)
                    && field(old, "fqn") == field(new, "fqn")
                    && same_config(old, new, kind)
                    && field(old, "quoting") == field(new, "quoting")
                    && field(old, "freshness") == field(new, "freshness")
                    && field(old, "loaded_at_field") == field(new, "loaded_at_field")
                    && field(old, "external") == field(new, "external"))
            }
            (Some(old), Kind::UnitTest) => field(old, "checksum") != field(new, "checksum"),
            (Some(old), Kind::GenericTest) => {
                !(same_config(old, new, kind) && field(old, "fqn") == field(new, "fqn"))
            }
            (Some(old), _) => {
                let same = same_body(old, new, kind)
                    && same_config(old, new, kind)
                    && same_persisted_description(old, new)
                    && field(old, "fqn") == field(new, "fqn")
                    && same_relation(old, new, kind)
                    && same_contract(old, new, kind);
                // A model's ref representation: changing these can break downstream refs.
                let same_refs = kind != Kind::Model
                    || ["latest_version", "access", "deprecation_date"]
                        .iter()
                        .all(|k| field(old, k) == field(new, k));
                !(same && same_refs)
            }
        };
        different || self.macros_modified(new)
    }

    /// Whether a macro the node calls, or one those call, changed since the earlier run.
    fn macros_modified(&self, node: &Json) -> bool {
        if self.modified_macros.is_empty() {
            return false;
        }
        let mut seen = HashSet::new();
        let mut stack = string_list(node.pointer("/depends_on/macros"));
        while let Some(id) = stack.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            if self.modified_macros.contains(&id) {
                return true;
            }
            if let Some((_, calls)) = self.current.macros.get(&id) {
                stack.extend(calls.iter().cloned());
            }
        }
        false
    }
}

fn field<'j>(node: &'j Json, key: &str) -> &'j Json {
    node.get(key).unwrap_or(&Json::Null)
}

fn string_list(v: Option<&Json>) -> Vec<String> {
    v.and_then(Json::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// The code: a seed's file checksum, else `raw_code`.
fn same_body(old: &Json, new: &Json, kind: Kind) -> bool {
    if kind == Kind::Seed {
        field(old, "checksum") == field(new, "checksum")
    } else {
        field(old, "raw_code") == field(new, "raw_code")
    }
}

/// Configs that `same_config` leaves out: the relation's (compared by `same_relation`),
/// tags and group (dbt's `CompareBehavior.Exclude`).
const CONFIG_NOT_COMPARED: &[&str] = &["alias", "schema", "database", "tags", "group"];

/// The configs as written: every key on either side must be on both, with one value.
fn same_config(old: &Json, new: &Json, kind: Kind) -> bool {
    let empty = Map::new();
    let old = field(old, "unrendered_config").as_object().unwrap_or(&empty);
    let new = field(new, "unrendered_config").as_object().unwrap_or(&empty);
    let compared = |k: &String| kind == Kind::Source || !CONFIG_NOT_COMPARED.contains(&k.as_str());
    old.keys()
        .chain(new.keys())
        .filter(|k| compared(k))
        .all(|k| old.get(k) == new.get(k))
}

/// Where the node lives as configured (not as `generate_*_name` renders it): a source's
/// database, schema and identifier.
fn same_relation(old: &Json, new: &Json, kind: Kind) -> bool {
    if kind == Kind::Source {
        return ["database", "schema", "identifier"]
            .iter()
            .all(|k| field(old, k) == field(new, k));
    }
    ["database", "schema", "alias"].iter().all(|k| {
        old.pointer(&format!("/unrendered_config/{k}")) == new.pointer(&format!("/unrendered_config/{k}"))
    })
}

/// With `persist_docs` (the node's config now), the descriptions that are persisted.
fn same_persisted_description(old: &Json, new: &Json) -> bool {
    let persist = |what: &str| {
        new.pointer(&format!("/config/persist_docs/{what}"))
            .is_some_and(|v| v.as_bool().unwrap_or(!v.is_null()))
    };
    if persist("relation") && field(old, "description") != field(new, "description") {
        return false;
    }
    if persist("columns") {
        let descriptions = |n: &Json| -> Vec<(String, Json)> {
            let mut out: Vec<(String, Json)> = field(n, "columns")
                .as_object()
                .map(|cols| {
                    cols.iter()
                        .map(|(k, c)| (k.clone(), field(c, "description").clone()))
                        .collect()
                })
                .unwrap_or_default();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        };
        if descriptions(old) != descriptions(new) {
            return false;
        }
    }
    true
}

/// A model's contract: unchanged when enforced neither then nor now, or enforced now with
/// the same checksum. Other nodes have no contract.
/// What a model's change breaks in its enforced contract, as dbt's `same_contract` finds
/// it: the contract no longer enforced, columns removed, data types changed, enforced
/// column constraints removed. Empty when nothing breaks.
fn breaking_changes(old: &Json, new: &Json) -> Vec<String> {
    let enforced = |n: &Json| n.pointer("/contract/enforced").and_then(Json::as_bool).unwrap_or(false);
    if !enforced(old) {
        return Vec::new();
    }
    if !enforced(new) {
        return vec!["the contract is no longer enforced".to_owned()];
    }
    let empty = Map::new();
    let old_cols = old.get("columns").and_then(Json::as_object).unwrap_or(&empty);
    let new_cols = new.get("columns").and_then(Json::as_object).unwrap_or(&empty);
    let mut out = Vec::new();
    let removed: Vec<&str> = old_cols.keys().filter(|c| !new_cols.contains_key(*c)).map(String::as_str).collect();
    if !removed.is_empty() {
        out.push(format!("columns removed: {}", removed.join(", ")));
    }
    let text = |c: &Json| c.get("data_type").and_then(Json::as_str).unwrap_or("").to_lowercase();
    let changed: Vec<String> = old_cols
        .iter()
        .filter_map(|(name, o)| {
            let n = new_cols.get(name)?;
            (text(o) != text(n)).then(|| format!("{name} ({} -> {})", text(o), text(n)))
        })
        .collect();
    if !changed.is_empty() {
        out.push(format!("data types changed: {}", changed.join(", ")));
    }
    let kinds = |c: &Json| -> Vec<String> {
        c.get("constraints")
            .and_then(Json::as_array)
            .map(|a| a.iter().filter_map(|k| k.get("type").and_then(Json::as_str).map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let dropped: Vec<String> = old_cols
        .iter()
        .filter_map(|(name, o)| {
            let n = new_cols.get(name)?;
            let now = kinds(n);
            let gone: Vec<String> = kinds(o).into_iter().filter(|k| !now.contains(k) && matches!(k.as_str(), "not_null" | "primary_key")).collect();
            (!gone.is_empty()).then(|| format!("{name} ({})", gone.join(", ")))
        })
        .collect();
    if !dropped.is_empty() {
        out.push(format!("enforced column constraints removed: {}", dropped.join(", ")))
    }
    out
}

fn same_contract(old: &Json, new: &Json, kind: Kind) -> bool {
    if kind != Kind::Model {
        return true;
    }
    let enforced = |n: &Json| n.pointer("/contract/enforced").and_then(Json::as_bool).unwrap_or(false);
    match (enforced(old), enforced(new)) {
        (false, false) => true,
        (_, true) => old.pointer("/contract/checksum") == new.pointer("/contract/checksum") && enforced(old),
        (true, false) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resources(nodes: Json, macros: Json) -> Resources {
        Resources::from_manifest(json!({"nodes": nodes, "sources": {}, "unit_tests": {}, "macros": macros}))
    }

    #[test]
    fn a_macro_change_reaches_nodes_through_the_macros_they_call() {
        let node = |calls: &[&str]| {
            json!({"resource_type": "model", "raw_code": "x", "depends_on": {"macros": calls}})
        };
        let macros = |inner: &str| {
            json!({
                "macro.p.outer": {"macro_sql": "outer", "depends_on": {"macros": ["macro.p.inner"]}},
                "macro.p.inner": {"macro_sql": inner, "depends_on": {"macros": []}},
            })
        };
        let nodes = json!({"model.p.a": node(&["macro.p.outer"]), "model.p.b": node(&[])});
        let state = State {
            dir: PathBuf::new(),
            previous: resources(nodes.clone(), macros("inner")),
            results: None,
        };
        let cmp = state.compare(resources(nodes, macros("inner, changed")));
        assert!(cmp.matches(Check::Macros, "model.p.a"));
        assert!(cmp.matches(Check::Modified, "model.p.a"));
        assert!(!cmp.matches(Check::Macros, "model.p.b"));
        assert!(cmp.matches(Check::Unmodified, "model.p.b"));
        assert!(!cmp.matches(Check::Body, "model.p.a"));
    }

    #[test]
    fn contracts_change_when_enforcement_or_checksum_does() {
        let model = |enforced: bool, checksum: Option<&str>| {
            json!({"resource_type": "model", "contract": {"enforced": enforced, "checksum": checksum}})
        };
        assert!(same_contract(&model(false, None), &model(false, None), Kind::Model));
        assert!(!same_contract(&model(false, None), &model(true, Some("a")), Kind::Model));
        assert!(!same_contract(&model(true, Some("a")), &model(false, None), Kind::Model));
        assert!(same_contract(&model(true, Some("a")), &model(true, Some("a")), Kind::Model));
        assert!(!same_contract(&model(true, Some("a")), &model(true, Some("b")), Kind::Model));
    }

    #[test]
    fn checks_parse_by_dbt_names() {
        assert_eq!(Check::parse("modified.body"), Some(Check::Body));
        assert_eq!(Check::parse("modified"), Some(Check::Modified));
        assert_eq!(Check::parse("changed"), None);
    }
}
