//! Choosing nodes: a `--select` / `--exclude` selection resolved to unique ids of the
//! resource types a command runs, in graph order, with tests joining through what they
//! test as dbt's `--indirect-selection` says.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::Graph;
use super::selector::{NoTests, Selection, TestJoin};
use super::state::Comparison;
use crate::diagnostic::Diagnostic;
use crate::parse::ParsedProject;
use crate::project::ResourceType;

/// How tests join a selection through what they test (dbt's `--indirect-selection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IndirectSelection {
    /// A test is selected when any node it tests is (dbt's default).
    #[default]
    Eager,
    /// Only when every node it tests is selected.
    Cautious,
    /// When every node it tests is selected or upstream of a selected node.
    Buildable,
    /// Tests are selected only by naming them.
    Empty,
}

/// The selected unique ids of the given resource types, in graph order; tests join the
/// selection through what they test as dbt does by default (eagerly).
pub fn select(
    parsed: &ParsedProject,
    graph: &Graph,
    select: &[String],
    exclude: &[String],
    types: &[ResourceType],
) -> Result<Vec<String>, Diagnostic> {
    select_with(parsed, graph, select, exclude, types, IndirectSelection::Eager, None)
}

/// [`select`], with tests joining the selection as `indirect` says (dbt's
/// `--indirect-selection`); `state:` criteria compare with `state`.
pub fn select_with(
    parsed: &ParsedProject,
    graph: &Graph,
    select: &[String],
    exclude: &[String],
    types: &[ResourceType],
    indirect: IndirectSelection,
    state: Option<&Comparison>,
) -> Result<Vec<String>, Diagnostic> {
    let selection = Selection::parse(select, exclude)?;
    let wants_tests = types
        .iter()
        .any(|t| matches!(t, ResourceType::Test | ResourceType::UnitTest));
    let set = if wants_tests {
        let tests = Tests::new(parsed, graph);
        let include = Join { tests: &tests, graph, mode: indirect };
        let exclude = Join { tests: &tests, graph, mode: IndirectSelection::Eager };
        selection.resolve(parsed, graph, state, &include, &exclude)?
    } else {
        // Only tests join a selection: without them, joining changes nothing.
        selection.resolve(parsed, graph, state, &NoTests, &NoTests)?
    };
    let kinds: HashMap<&str, ResourceType> = parsed
        .nodes
        .iter()
        .map(|n| (n.node.unique_id.as_str(), n.node.resource_type))
        .chain(
            parsed
                .sources
                .iter()
                .map(|s| (s.source.unique_id.as_str(), ResourceType::Source)),
        )
        .collect();
    Ok(graph
        .topo_order()
        .into_iter()
        .filter(|id| set.contains(id))
        .filter(|id| kinds.get(id.as_str()).is_some_and(|k| types.contains(k)))
        .collect())
}

/// The enabled tests and unit tests of the graph, each with what it tests.
struct Tests<'a> {
    of: Vec<(&'a str, &'a [String])>,
    by_id: HashMap<&'a str, &'a [String]>,
}

impl<'a> Tests<'a> {
    fn new(parsed: &'a ParsedProject, graph: &Graph) -> Tests<'a> {
        let of = parsed
            .nodes
            .iter()
            .filter(|n| {
                n.config.enabled
                    && matches!(n.node.resource_type, ResourceType::Test | ResourceType::UnitTest)
                    && graph.contains(&n.node.unique_id)
                    && !n.depends_on.is_empty()
            })
            .map(|n| (n.node.unique_id.as_str(), n.depends_on.as_slice()))
            .collect::<Vec<_>>();
        let by_id = of.iter().copied().collect();
        Tests { of, by_id }
    }
}

/// dbt's `expand_selection` and `incorporate_indirect_nodes` for one mode.
struct Join<'a> {
    tests: &'a Tests<'a>,
    graph: &'a Graph,
    mode: IndirectSelection,
}

impl Join<'_> {
    /// `selected` and every node upstream of it (for `buildable`).
    fn with_ancestors(&self, selected: &BTreeSet<String>) -> HashSet<String> {
        let mut up: HashSet<String> = selected.iter().cloned().collect();
        for s in selected {
            up.extend(self.graph.ancestors(s, None));
        }
        up
    }
}

impl TestJoin for Join<'_> {
    fn expand(&self, selected: BTreeSet<String>) -> (BTreeSet<String>, BTreeSet<String>) {
        if self.mode == IndirectSelection::Empty {
            return (selected, BTreeSet::new());
        }
        let mut up: Option<HashSet<String>> = None;
        let mut direct = selected.clone();
        let mut indirect = BTreeSet::new();
        for (id, parents) in &self.tests.of {
            if selected.contains(*id) || !parents.iter().any(|p| selected.contains(p)) {
                continue;
            }
            let joins = match self.mode {
                IndirectSelection::Eager => true,
                IndirectSelection::Buildable => parents.iter().all(|p| {
                    selected.contains(p) || up.get_or_insert_with(|| self.with_ancestors(&selected)).contains(p)
                }),
                _ => parents.iter().all(|p| selected.contains(p)),
            };
            if joins {
                direct.insert((*id).to_owned());
            } else {
                indirect.insert((*id).to_owned());
            }
        }
        (direct, indirect)
    }

    fn incorporate(&self, mut direct: BTreeSet<String>, indirect: &BTreeSet<String>) -> BTreeSet<String> {
        let candidates: Vec<(&str, &[String])> = indirect
            .iter()
            .filter(|id| !direct.contains(*id))
            .filter_map(|id| self.tests.by_id.get(id.as_str()).map(|p| (id.as_str(), *p)))
            .collect();
        let qualifies: Vec<&str> = match self.mode {
            IndirectSelection::Cautious => candidates
                .iter()
                .filter(|(_, parents)| parents.iter().all(|p| direct.contains(p)))
                .map(|(id, _)| *id)
                .collect(),
            IndirectSelection::Buildable if !candidates.is_empty() => {
                let up = self.with_ancestors(&direct);
                candidates
                    .iter()
                    .filter(|(_, parents)| parents.iter().all(|p| up.contains(p)))
                    .map(|(id, _)| *id)
                    .collect()
            }
            _ => Vec::new(),
        };
        direct.extend(qualifies.into_iter().map(str::to_owned));
        direct
    }
}
