//! The parsed project's domain model: nodes with their typed config, relation and
//! dependencies, sources, and the lookups every later stage uses.

use std::collections::HashMap;

use serde_json::{Value as Json, json};

use crate::config::{ConfigMap, string_list};
use crate::project::{Project, ProjectNode};
use crate::relation::Relation;
use crate::template::{RefCall, Templates};

use super::config::NodeConfig;
use super::names::NameIndex;

/// A node after the parse render.
#[derive(Debug, Clone)]
pub struct ParsedNode {
    pub node: ProjectNode,
    /// The final config (project tree, YAML, then inline `config()` calls), typed.
    pub config: NodeConfig,
    pub relation: Relation,
    pub refs: Vec<RefCall>,
    pub sources: Vec<(String, String)>,
    /// Unique ids of the nodes and sources it reads, in first-use order.
    pub depends_on: Vec<String>,
    pub macros: Vec<String>,
    /// Why the node cannot run: an error in its own Jinja or config found while parsing.
    /// As in dbt, the node stays in the project and fails when it runs (its descendants are
    /// skipped); the rest of the project runs.
    pub error: Option<crate::diagnostic::Diagnostic>,
}

/// A source table with its relation.
#[derive(Debug, Clone)]
pub struct ParsedSource {
    pub source: crate::project::SourceTable,
    pub relation: Relation,
    pub enabled: bool,
}

/// The parsed project: every node and source, with dependencies.
pub struct ParsedProject {
    pub project: Project,
    pub templates: Templates,
    pub nodes: Vec<ParsedNode>,
    pub sources: Vec<ParsedSource>,
    /// Index from unique id to position in `nodes`.
    pub index: HashMap<String, usize>,
    /// Index from unique id to position in `sources`.
    pub source_index: HashMap<String, usize>,
    /// What `ref` and `source` can reach.
    pub names: NameIndex,
    /// Every enabled node's and source's relation by unique id, built once when first asked
    /// (every compile, and each hook rendered while running, resolves through it).
    pub(crate) relations: std::sync::OnceLock<std::sync::Arc<HashMap<String, Relation>>>,
}

impl ParsedProject {
    /// Every enabled node's and source's relation, by unique id.
    pub fn relations(&self) -> std::sync::Arc<HashMap<String, Relation>> {
        self.relations
            .get_or_init(|| {
                let mut relations = HashMap::new();
                for n in self.nodes.iter().filter(|n| n.config.enabled) {
                    relations.insert(n.node.unique_id.clone(), n.relation.clone());
                }
                for s in self.sources.iter().filter(|s| s.enabled) {
                    relations.insert(s.source.unique_id.clone(), s.relation.clone());
                }
                std::sync::Arc::new(relations)
            })
            .clone()
    }

    pub fn node(&self, unique_id: &str) -> Option<&ParsedNode> {
        self.index.get(unique_id).map(|&i| &self.nodes[i])
    }

    pub fn source(&self, unique_id: &str) -> Option<&ParsedSource> {
        self.source_index.get(unique_id).map(|&i| &self.sources[i])
    }
}

/// The `model` variable templates see: the node as a dict, as dbt exposes it.
pub fn model_json(node: &ProjectNode, config: &ConfigMap, relation: Option<&Relation>) -> Json {
    json!({
        "name": node.name,
        "unique_id": node.unique_id,
        "resource_type": node.resource_type.as_str(),
        "package_name": node.package,
        "path": node.path,
        "original_file_path": node.original_file_path,
        "fqn": node.fqn,
        "description": node.description,
        "config": Json::Object(config.clone().into_iter().collect()),
        "tags": string_list(config.get("tags")),
        "meta": node.meta,
        "schema": relation.map(|r| r.schema.clone()),
        "alias": relation.map(|r| r.identifier.clone()),
        "database": relation.map(|r| r.database.clone()),
        "raw_code": &*node.raw_code,
        "version": Json::Null,
    })
}
