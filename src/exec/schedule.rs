//! The one scheduler: which node of a run waits for which, and in what order ready nodes
//! start.
//!
//! Each node waits for its nearest ancestors that run (looking through ephemerals and
//! unselected nodes). In a build, nodes downstream of a test wait for it (dbt's test
//! edges), a model waits for its unit tests, and with audits each model's error-severity
//! tests run inside its write, on its staged data: what waits for such a test waits for the
//! model instead. Ready nodes start in the graph's order.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use crate::graph::Graph;
use crate::parse::{Materialization, ParsedProject, Severity};

/// What runs, and in which order.
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    /// Every node that gets a result, in graph order.
    ids: Vec<String>,
    /// Node -> the nodes it still waits for.
    waits: HashMap<String, HashSet<String>>,
    /// Node -> the nodes that wait for it.
    dependents: HashMap<String, Vec<String>>,
    /// Model or seed -> the error-severity tests its new data must pass before it is
    /// published (`silt build`).
    audits: HashMap<String, Vec<String>>,
    /// Nodes whose waits are over, by their rank in the graph's order.
    ready: BinaryHeap<Reverse<(usize, String)>>,
    rank: HashMap<String, usize>,
}

impl Schedule {
    /// The schedule of `ids`; `audit` runs each model's error-severity tests on its staged
    /// data (`silt build`).
    pub fn new(parsed: &ParsedProject, graph: &Graph, ids: &[String], audit: bool) -> Schedule {
        let mut plan = Plan {
            parsed,
            graph,
            run_set: ids.iter().map(String::as_str).collect(),
            waits: nearest_waits(graph, ids),
        };
        let mut audits = HashMap::new();
        if ids.iter().any(|id| !plan.is_test(id)) {
            plan.order_unit_tests(ids);
            for id in ids {
                let Some(test) = parsed.node(id) else { continue };
                if test.config.materialized != Materialization::Test || test.depends_on.is_empty() {
                    continue;
                }
                if audit && let Some(model) = plan.audited_model(id) {
                    audits.entry(model).or_insert_with(Vec::new).push(id.clone());
                }
                plan.add_test_edges(id);
            }
        }
        let waits = plan.waits;
        let rank: HashMap<String, usize> =
            graph.topo_order().into_iter().enumerate().map(|(i, id)| (id, i)).collect();
        let mut schedule = Schedule {
            ids: ids.to_vec(),
            waits,
            dependents: HashMap::new(),
            audits,
            ready: BinaryHeap::new(),
            rank,
        };
        schedule.wire();
        schedule
    }

    /// Rewires audited tests into their models and fills the ready queue.
    fn wire(&mut self) {
        // An audited test runs inside its model: what waits for it waits for the model.
        let audited: HashMap<String, String> = self
            .audits
            .iter()
            .flat_map(|(m, ts)| ts.iter().map(move |t| (t.clone(), m.clone())))
            .collect();
        for w in self.waits.values_mut() {
            let replaced: Vec<String> = w.iter().filter_map(|x| audited.get(x).cloned()).collect();
            w.retain(|x| !audited.contains_key(x));
            w.extend(replaced);
        }
        for (id, w) in self.waits.iter_mut() {
            w.remove(id);
        }
        let launch: Vec<&String> = self.ids.iter().filter(|id| !audited.contains_key(*id)).collect();
        for id in &launch {
            for a in self.waits.get(*id).into_iter().flatten() {
                self.dependents.entry(a.clone()).or_default().push((*id).clone());
            }
            if self.waits.get(*id).is_none_or(HashSet::is_empty) {
                self.ready.push(Reverse((self.rank(id), (*id).clone())));
            }
        }
    }

    fn rank(&self, id: &str) -> usize {
        self.rank.get(id).copied().unwrap_or(usize::MAX)
    }

    /// Every node that gets a result.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Model -> the tests audited inside its write.
    pub fn audit_map(&self) -> &HashMap<String, Vec<String>> {
        &self.audits
    }

    /// The nodes that wait for `id`.
    pub fn dependents(&self, id: &str) -> &[String] {
        self.dependents.get(id).map(Vec::as_slice).unwrap_or_default()
    }

    /// The ready node first in the graph's order.
    pub fn next_ready(&mut self) -> Option<String> {
        self.ready.pop().map(|Reverse((_, id))| id)
    }

    /// `id` is done: the nodes that waited only for it become ready, unless `done`
    /// already holds them (skipped).
    pub fn finished(&mut self, id: &str, done: &HashSet<String>) {
        for dep in self.dependents.get(id).cloned().unwrap_or_default() {
            if let Some(w) = self.waits.get_mut(&dep) {
                w.remove(id);
                if w.is_empty() && !done.contains(&dep) {
                    let rank = self.rank(&dep);
                    self.ready.push(Reverse((rank, dep)));
                }
            }
        }
    }
}

/// Each node waits for its nearest ancestors that run, looking through nodes that do not
/// (ephemerals, unselected models), so a selected subgraph keeps dbt's order.
fn nearest_waits(graph: &Graph, ids: &[String]) -> HashMap<String, HashSet<String>> {
    let run_set: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let mut waits = HashMap::new();
    for id in ids {
        let mut nearest = HashSet::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut stack = graph.parents(id);
        while let Some(p) = stack.pop() {
            if !seen.insert(p.clone()) {
                continue;
            }
            if run_set.contains(p.as_str()) {
                nearest.insert(p);
            } else {
                stack.extend(graph.parents(&p));
            }
        }
        waits.insert(id.clone(), nearest);
    }
    waits
}

/// The waits of a schedule as they are worked out.
struct Plan<'a> {
    parsed: &'a ParsedProject,
    graph: &'a Graph,
    run_set: HashSet<&'a str>,
    waits: HashMap<String, HashSet<String>>,
}

impl Plan<'_> {
    fn is_test(&self, id: &str) -> bool {
        self.parsed.node(id).is_some_and(|n| n.config.materialized.is_test())
    }

    /// Unit tests run before their model, after what the model reads.
    fn order_unit_tests(&mut self, ids: &[String]) {
        let (parsed, waits) = (self.parsed, &mut self.waits);
        let mut units: Vec<(&String, &str)> = Vec::new();
        for id in ids {
            let Some(node) = parsed.node(id) else { continue };
            let Some(unit) = node.node.unit.as_ref() else { continue };
            let Ok(model) = parsed.names.lookup_ref(&node.node.package, None, &unit.model) else { continue };
            if self.run_set.contains(model) {
                let before = waits.get(model).cloned().unwrap_or_default();
                waits.insert(id.clone(), before);
                units.push((id, model));
            }
        }
        for (id, model) in units {
            waits.entry(model.to_owned()).or_default().insert(id.clone());
        }
    }

    /// The model (or seed) whose staged data the error-severity test `id` checks: the one it
    /// reads whose other inputs are all built before it.
    fn audited_model(&self, id: &str) -> Option<String> {
        let (parsed, graph, waits) = (self.parsed, self.graph, &self.waits);
        let test = parsed.node(id)?;
        let error = test.config.test.as_ref().is_some_and(|c| c.severity == Severity::Error);
        if !error {
            return None;
        }
        let in_run: Vec<&String> = test.depends_on.iter().filter(|p| self.run_set.contains(p.as_str())).collect();
        let target = in_run.iter().find(|m| {
            let ancestors = graph.ancestors(m, None);
            in_run.iter().all(|o| o == *m || ancestors.contains(o.as_str()))
        })?;
        // Everything else the test waits for (looking through what does not run) must be
        // upstream of the model, so it is built before the model's write.
        let ancestors = graph.ancestors(target, None);
        let settled = waits
            .get(id)
            .into_iter()
            .flatten()
            .all(|w| w == *target || ancestors.contains(w.as_str()));
        let writes = parsed.node(target).is_some_and(|n| n.config.materialized.writes_table());
        (settled && writes).then(|| (*target).clone())
    }

    /// Test edges: the nearest run nodes downstream of everything the test reads wait for it
    /// (what is further downstream waits on those). Walks down from one parent, stopping at
    /// run nodes that are downstream of the other parents too.
    fn add_test_edges(&mut self, id: &str) {
        let (parsed, graph) = (self.parsed, self.graph);
        let Some(test) = parsed.node(id) else { return };
        let mut parents = test.depends_on.iter();
        let Some(first) = parents.next() else { return };
        let others: Vec<&String> = parents.collect();
        let mut seen: HashSet<String> = HashSet::new();
        let mut stack: Vec<String> = graph.children(first);
        while let Some(n) = stack.pop() {
            if !seen.insert(n.clone()) {
                continue;
            }
            // Exposures wait for what they read, not for its tests (dbt's test edges join
            // nodes only).
            if parsed.node(&n).is_some_and(|x| x.config.materialized == Materialization::Exposure) {
                continue;
            }
            let stop = self.run_set.contains(n.as_str())
                && !self.is_test(&n)
                && (others.is_empty() || {
                    let up = graph.ancestors(&n, None);
                    others.iter().all(|o| up.contains(o.as_str()))
                });
            if stop {
                self.waits.entry(n.clone()).or_default().insert(id.to_owned());
            } else {
                stack.extend(graph.children(&n));
            }
        }
    }
}
