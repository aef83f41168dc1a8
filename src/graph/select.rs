//! Choosing nodes: a `--select` / `--exclude` selection resolved to unique ids of the
//! resource types a command runs, in graph order, with tests joining through what they
//! test as dbt's `--indirect-selection` says.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::Graph;
use super::selector::Selection;
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
    select_with(parsed, graph, select, exclude, types, IndirectSelection::Eager)
}

/// [`select`], with tests joining the selection as `indirect` says, unless something they
/// test is excluded.
pub fn select_with(
    parsed: &ParsedProject,
    graph: &Graph,
    select: &[String],
    exclude: &[String],
    types: &[ResourceType],
    indirect: IndirectSelection,
) -> Result<Vec<String>, Diagnostic> {
    let selection = Selection::parse(select, exclude)?;
    let (chosen, excluded) = selection.resolve(parsed, graph)?;
    let mut set: BTreeSet<String> = chosen.difference(&excluded).cloned().collect();
    let wants_tests = types
        .iter()
        .any(|t| matches!(t, ResourceType::Test | ResourceType::UnitTest));
    if wants_tests && !selection.is_empty() && indirect != IndirectSelection::Empty {
        let mut upstream: Option<HashSet<String>> = None;
        for n in parsed.nodes.iter().filter(|n| {
            n.config.enabled && matches!(n.node.resource_type, ResourceType::Test | ResourceType::UnitTest)
        }) {
            let id = &n.node.unique_id;
            if set.contains(id) || excluded.contains(id) || !graph.contains(id) {
                continue;
            }
            let parents = &n.depends_on;
            if parents.is_empty() || parents.iter().any(|p| excluded.contains(p)) {
                continue;
            }
            let picked = match indirect {
                IndirectSelection::Eager => parents.iter().any(|p| set.contains(p)),
                IndirectSelection::Cautious => parents.iter().all(|p| set.contains(p)),
                IndirectSelection::Buildable => {
                    let up = upstream.get_or_insert_with(|| {
                        let mut up = HashSet::new();
                        for s in &set {
                            up.extend(graph.ancestors(s, None));
                        }
                        up
                    });
                    parents.iter().any(|p| set.contains(p))
                        && parents.iter().all(|p| set.contains(p) || up.contains(p))
                }
                IndirectSelection::Empty => false,
            };
            if picked {
                set.insert(id.clone());
            }
        }
    }
    if wants_tests && !excluded.is_empty() && indirect != IndirectSelection::Empty {
        // As in dbt, a test of something excluded is excluded with it, however it joined.
        for n in &parsed.nodes {
            if matches!(n.node.resource_type, ResourceType::Test | ResourceType::UnitTest)
                && n.depends_on.iter().any(|p| excluded.contains(p))
            {
                set.remove(&n.node.unique_id);
            }
        }
    }
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
