//! The dependency graph, with petgraph: nodes and sources, edges from what a node reads to
//! the node. Cycles are reported whole. Selection (`--select`, `--exclude`) is parsed in
//! [`selector`] and resolved to the nodes a command runs in [`select`]; `state:` compares
//! with an earlier run in [`state`].

mod select;
pub mod selector;
pub mod selectors_file;
pub mod state;

pub use select::{IndirectSelection, select, select_with};

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::parse::{ParsedProject, call_span};

/// The DAG of enabled nodes and sources.
#[derive(Debug, Clone)]
pub struct Graph {
    graph: DiGraph<String, ()>,
    index: HashMap<String, NodeIndex>,
}

impl Graph {
    /// Builds the graph; a cycle is an error naming every node on it.
    pub fn build(parsed: &ParsedProject) -> Result<Graph, Diagnostics> {
        let mut graph = DiGraph::new();
        let mut index = HashMap::new();
        for s in parsed.sources.iter().filter(|s| s.enabled) {
            index.insert(
                s.source.unique_id.clone(),
                graph.add_node(s.source.unique_id.clone()),
            );
        }
        for n in parsed.nodes.iter().filter(|n| n.config.enabled) {
            index.insert(
                n.node.unique_id.clone(),
                graph.add_node(n.node.unique_id.clone()),
            );
        }
        for n in parsed.nodes.iter().filter(|n| n.config.enabled) {
            let to = index[&n.node.unique_id];
            for dep in &n.depends_on {
                if let Some(&from) = index.get(dep) {
                    graph.add_edge(from, to, ());
                }
            }
        }
        let g = Graph { graph, index };
        g.check_cycles(parsed)?;
        Ok(g)
    }

    fn check_cycles(&self, parsed: &ParsedProject) -> Result<(), Diagnostics> {
        let mut diags = Diagnostics::new();
        for scc in petgraph::algo::tarjan_scc(&self.graph) {
            let self_loop = scc.len() == 1 && self.graph.contains_edge(scc[0], scc[0]);
            if scc.len() < 2 && !self_loop {
                continue;
            }
            let cycle = self.cycle_in(&scc);
            let names: Vec<String> = cycle.iter().map(|&i| short_name(&self.graph[i])).collect();
            let mut shown = names.clone();
            shown.push(names[0].clone());
            // Point at the ref that closes the cycle: the first node reading the last.
            let first = parsed.node(&self.graph[cycle[0]]);
            let last = parsed.node(&self.graph[*cycle.last().unwrap_or(&cycle[0])]);
            let mut d = Diagnostic::error(format!("dependency cycle: {}", shown.join(" -> ")));
            if let (Some(first), Some(last)) = (first, last) {
                d = d.with_span(call_span(&first.node, &last.node.name));
            }
            for w in cycle.windows(2).chain(std::iter::once(
                [*cycle.last().unwrap_or(&cycle[0]), cycle[0]].as_slice(),
            )) {
                if let (Some(a), Some(b)) = (
                    parsed.node(&self.graph[w[0]]),
                    parsed.node(&self.graph[w[1]]),
                ) {
                    let at = call_span(&b.node, &a.node.name);
                    d = d.with_note(format!("`{}` reads `{}` at {at}", b.node.name, a.node.name));
                }
            }
            diags.push(d.with_help(
                "break the cycle: a model cannot depend on itself, directly or through others",
            ));
        }
        if diags.is_empty() { Ok(()) } else { Err(diags) }
    }

    /// One cycle through the strongly connected component, in dependency order.
    fn cycle_in(&self, scc: &[NodeIndex]) -> Vec<NodeIndex> {
        let members: HashSet<NodeIndex> = scc.iter().copied().collect();
        let start = *scc
            .iter()
            .min_by_key(|i| &self.graph[**i])
            .unwrap_or(&scc[0]);
        // Breadth-first from start back to start, staying inside the component.
        let mut prev: HashMap<NodeIndex, NodeIndex> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        let mut seen = HashSet::from([start]);
        while let Some(at) = queue.pop_front() {
            for next in self.graph.neighbors_directed(at, Direction::Outgoing) {
                if next == start {
                    let mut path = vec![at];
                    let mut cur = at;
                    while cur != start {
                        cur = prev[&cur];
                        path.push(cur);
                    }
                    path.reverse();
                    path.dedup();
                    return path;
                }
                if members.contains(&next) && seen.insert(next) {
                    prev.insert(next, at);
                    queue.push_back(next);
                }
            }
        }
        scc.to_vec()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    /// All unique ids in an order where every node comes after what it reads; ties are
    /// broken by unique id so the order is stable.
    pub fn topo_order(&self) -> Vec<String> {
        let mut indegree: HashMap<NodeIndex, usize> = self
            .graph
            .node_indices()
            .map(|i| {
                (
                    i,
                    self.graph
                        .neighbors_directed(i, Direction::Incoming)
                        .count(),
                )
            })
            .collect();
        let mut ready: BTreeSet<(String, NodeIndex)> = indegree
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(i, _)| (self.graph[*i].clone(), *i))
            .collect();
        let mut out = Vec::with_capacity(self.graph.node_count());
        while let Some(first) = ready.iter().next().cloned() {
            ready.remove(&first);
            out.push(first.0.clone());
            for next in self.graph.neighbors_directed(first.1, Direction::Outgoing) {
                let d = indegree.entry(next).or_default();
                *d = d.saturating_sub(1);
                if *d == 0 {
                    ready.insert((self.graph[next].clone(), next));
                }
            }
        }
        out
    }

    /// Direct parents (what `id` reads).
    pub fn parents(&self, id: &str) -> Vec<String> {
        self.neighbors(id, Direction::Incoming)
    }

    /// Direct children (what reads `id`).
    pub fn children(&self, id: &str) -> Vec<String> {
        self.neighbors(id, Direction::Outgoing)
    }

    fn neighbors(&self, id: &str, dir: Direction) -> Vec<String> {
        let Some(&i) = self.index.get(id) else {
            return Vec::new();
        };
        let mut out: Vec<String> = self
            .graph
            .neighbors_directed(i, dir)
            .map(|n| self.graph[n].clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Everything upstream of `id` (not itself), up to `depth` edges away.
    pub fn ancestors(&self, id: &str, depth: Option<usize>) -> BTreeSet<String> {
        self.reach(id, Direction::Incoming, depth)
    }

    /// Everything downstream of `id` (not itself), up to `depth` edges away.
    pub fn descendants(&self, id: &str, depth: Option<usize>) -> BTreeSet<String> {
        self.reach(id, Direction::Outgoing, depth)
    }

    fn reach(&self, id: &str, dir: Direction, depth: Option<usize>) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let Some(&start) = self.index.get(id) else {
            return out;
        };
        let mut frontier = vec![start];
        let mut seen = HashSet::from([start]);
        let mut level = 0;
        while !frontier.is_empty() && depth.is_none_or(|d| level < d) {
            let mut next = Vec::new();
            for i in frontier {
                for n in self.graph.neighbors_directed(i, dir) {
                    if seen.insert(n) {
                        out.insert(self.graph[n].clone());
                        next.push(n);
                    }
                }
            }
            frontier = next;
            level += 1;
        }
        out
    }

    /// The parent and child maps dbt writes to the manifest.
    pub fn maps(&self) -> (HashMap<String, Vec<String>>, HashMap<String, Vec<String>>) {
        let mut parents = HashMap::new();
        let mut children = HashMap::new();
        for id in self.index.keys() {
            parents.insert(id.clone(), self.parents(id));
            children.insert(id.clone(), self.children(id));
        }
        (parents, children)
    }
}

/// `model.shop.orders` -> `orders`; `source.shop.raw.events` -> `raw.events`.
pub fn short_name(unique_id: &str) -> String {
    let parts: Vec<&str> = unique_id.split('.').collect();
    match parts.first() {
        Some(&"source") if parts.len() >= 4 => format!("{}.{}", parts[2], parts[3..].join(".")),
        _ if parts.len() >= 3 => parts[2..].join("."),
        _ => unique_id.to_owned(),
    }
}
