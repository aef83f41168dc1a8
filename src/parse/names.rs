//! What `ref` and `source` can reach, and the resolver the parse render uses: it checks
//! that every name exists (so a typo is reported at the call) and returns placeholders.

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;

use crate::diagnostic::did_you_mean;
use crate::project::{Project, ResourceType};
use crate::relation::{Relation, RelationKind};
use crate::template::{ResolveError, Resolver};

/// Names that `ref` and `source` can reach, in every project (the root and packages).
#[derive(Clone)]
pub struct NameIndex {
    /// ref-able name -> package -> (unique id, resource type), packages in load order.
    pub refs: Arc<HashMap<String, IndexMap<String, (String, ResourceType)>>>,
    /// (source, table) -> package -> unique id.
    pub sources: Arc<HashMap<(String, String), IndexMap<String, String>>>,
    pub project_name: String,
    /// The installed packages.
    pub packages: Arc<Vec<String>>,
}

impl NameIndex {
    pub fn new(project: &Project) -> NameIndex {
        let mut refs: HashMap<String, IndexMap<String, (String, ResourceType)>> = HashMap::new();
        for n in project.nodes.iter().filter(|n| {
            matches!(n.resource_type, ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot)
        }) {
            refs.entry(n.name.clone())
                .or_default()
                .insert(n.package.clone(), (n.unique_id.clone(), n.resource_type));
        }
        let mut sources: HashMap<(String, String), IndexMap<String, String>> = HashMap::new();
        for s in &project.sources {
            sources
                .entry((s.source_name.clone(), s.name.clone()))
                .or_default()
                .insert(s.package.clone(), s.unique_id.clone());
        }
        NameIndex {
            refs: Arc::new(refs),
            sources: Arc::new(sources),
            project_name: project.settings.project.name.clone(),
            packages: Arc::new(project.settings.packages.iter().map(|p| p.name.clone()).collect()),
        }
    }

    /// The packages a name is looked for in, from a node of package `from` (dbt's
    /// `_packages_to_search`): the root project, then the node's own, then any.
    fn search_order<'a>(&'a self, from: &'a str) -> impl Iterator<Item = Option<&'a str>> {
        let own = (from != self.project_name).then_some(Some(from));
        std::iter::once(Some(self.project_name.as_str())).chain(own).chain(std::iter::once(None))
    }

    fn is_project(&self, name: &str) -> bool {
        name == self.project_name || self.packages.iter().any(|p| p == name)
    }

    /// The unique id `ref(package, name)` means in a node of package `from`.
    pub fn lookup_ref(&self, from: &str, package: Option<&str>, name: &str) -> Result<&str, ResolveError> {
        let found = self.refs.get(name);
        if let Some(p) = package {
            if !self.is_project(p) {
                return Err(ResolveError::Package { package: p.to_owned(), name: name.to_owned() });
            }
            if let Some((id, _)) = found.and_then(|by| by.get(p)) {
                return Ok(id);
            }
            let names = self.refs.iter().filter(|(_, by)| by.contains_key(p)).map(|(n, _)| n.as_str());
            return Err(ResolveError::UnknownModel {
                name: format!("{p}.{name}"),
                suggestion: did_you_mean(name, names).map(|s| format!("{p}.{s}")),
            });
        }
        if let Some(by) = found {
            for pkg in self.search_order(from) {
                let hit = match pkg {
                    Some(p) => by.get(p),
                    None => by.values().next(),
                };
                if let Some((id, _)) = hit {
                    return Ok(id);
                }
            }
        }
        Err(ResolveError::UnknownModel {
            name: name.to_owned(),
            suggestion: did_you_mean(name, self.refs.keys().map(String::as_str)).map(str::to_owned),
        })
    }

    /// The unique id `source(source, table)` means in a node of package `from`.
    pub fn lookup_source(&self, from: &str, source: &str, table: &str) -> Result<&str, ResolveError> {
        if let Some(by) = self.sources.get(&(source.to_owned(), table.to_owned())) {
            for pkg in self.search_order(from) {
                let hit = match pkg {
                    Some(p) => by.get(p),
                    None => by.values().next(),
                };
                if let Some(id) = hit {
                    return Ok(id);
                }
            }
        }
        if self.sources.keys().any(|(s, _)| s == source) {
            let tables = self.sources.keys().filter(|(s, _)| s == source).map(|(_, t)| t.as_str());
            return Err(ResolveError::UnknownTable {
                source_name: source.to_owned(),
                table: table.to_owned(),
                suggestion: did_you_mean(table, tables).map(str::to_owned),
            });
        }
        let names = self.sources.keys().map(|(s, _)| s.as_str());
        Err(ResolveError::UnknownSource {
            source_name: source.to_owned(),
            suggestion: did_you_mean(source, names).map(str::to_owned),
        })
    }
}

pub(super) struct ParseResolver {
    pub(super) names: NameIndex,
    pub(super) database: String,
    pub(super) schema: String,
}

impl Resolver for ParseResolver {
    fn resolve_ref(
        &self,
        from: &str,
        package: Option<&str>,
        name: &str,
        _version: Option<&str>,
    ) -> Result<Relation, ResolveError> {
        self.names.lookup_ref(from, package, name)?;
        Ok(Relation::new(
            &self.database,
            &self.schema,
            name,
            RelationKind::Table,
        ))
    }

    fn resolve_source(&self, from: &str, source: &str, table: &str) -> Result<Relation, ResolveError> {
        self.names.lookup_source(from, source, table)?;
        Ok(Relation::new(
            &self.database,
            source,
            table,
            RelationKind::Table,
        ))
    }
}
