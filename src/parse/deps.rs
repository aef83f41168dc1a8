//! Each node's dependencies, from the refs and sources its render captured; tests of
//! disabled nodes are disabled with them, and refs to disabled nodes are errors.

use std::collections::HashMap;

use crate::diagnostic::{Diagnostic, Diagnostics, Span};
use crate::project::ProjectNode;

use super::names::NameIndex;
use super::node::{ParsedNode, ParsedSource};

pub(super) fn resolve_dependencies(
    nodes: &mut [ParsedNode],
    index: &HashMap<String, usize>,
    sources: &[ParsedSource],
    names: &NameIndex,
    diags: &mut Diagnostics,
) {
    let mut enabled: HashMap<String, bool> = nodes
        .iter()
        .map(|n| (n.node.unique_id.clone(), n.config.enabled))
        .collect();
    for s in sources {
        enabled.insert(s.source.unique_id.clone(), s.enabled);
    }
    // A test of something disabled is disabled with it (dbt does the same, silently).
    for node in nodes.iter_mut() {
        let attached = match (&node.node.test, &node.node.unit) {
            (Some(meta), _) => Some(meta.attached_node.clone()),
            (_, Some(unit)) => names.lookup_ref(&node.node.package, None, &unit.model).ok().map(str::to_owned),
            _ => None,
        };
        if let Some(a) = attached
            && !enabled.get(&a).copied().unwrap_or(false) {
                node.config.enabled = false;
            }
    }
    for node in nodes.iter_mut() {
        if !node.config.enabled {
            continue;
        }
        let mut deps: Vec<String> = Vec::new();
        if let Some(unit) = &node.node.unit
            && let Ok(id) = names.lookup_ref(&node.node.package, None, &unit.model) {
                deps.push(id.to_owned());
            }
        for r in &node.refs {
            // The parse render already rejected unknown names.
            let Ok(id) = names.lookup_ref(&node.node.package, r.package.as_deref(), &r.name) else {
                continue;
            };
            if !enabled.get(id).copied().unwrap_or(false) || !index.contains_key(id) {
                diags.push(
                    Diagnostic::error(format!(
                        "`{}` refers to `{}`, which is disabled",
                        node.node.name, r.name
                    ))
                    .with_span(call_span(&node.node, &r.name)),
                );
                continue;
            }
            if !deps.iter().any(|d| d == id) {
                deps.push(id.to_owned());
            }
        }
        for (s, t) in &node.sources {
            let Ok(id) = names.lookup_source(&node.node.package, s, t) else {
                continue;
            };
            if sources
                .iter()
                .any(|src| src.source.unique_id == id && !src.enabled)
            {
                diags.push(
                    Diagnostic::error(format!(
                        "`{}` reads source `{s}.{t}`, which is disabled",
                        node.node.name
                    ))
                    .with_span(call_span(&node.node, t)),
                );
                continue;
            }
            if !deps.iter().any(|d| d == id) {
                deps.push(id.to_owned());
            }
        }
        node.depends_on = deps;
    }
}

/// Where a node's file mentions `name` inside a `ref(`/`source(` call, for errors found
/// after rendering.
pub fn call_span(node: &ProjectNode, name: &str) -> Span {
    let text = &node.raw_code;
    for call in ["ref(", "source("] {
        let mut from = 0;
        while let Some(i) = text[from..].find(call) {
            let start = from + i;
            let end = text[start..]
                .find(')')
                .map_or(text.len(), |e| start + e + 1);
            if text[start..end].contains(&format!("'{name}'"))
                || text[start..end].contains(&format!("\"{name}\""))
            {
                return Span::from_byte_range(node.original_file_path.clone(), text, start, end);
            }
            from = end.max(start + 1);
        }
    }
    Span::file(node.original_file_path.clone())
}
