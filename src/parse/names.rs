//! What `ref` and `source` can reach, and the resolver the parse render uses: it checks
//! that every name exists (so a typo is reported at the call) and returns placeholders.

use std::collections::HashMap;
use std::sync::Arc;

use crate::diagnostic::did_you_mean;
use crate::project::{Project, ResourceType};
use crate::relation::{Relation, RelationKind};
use crate::template::{ResolveError, Resolver};

/// Names that `ref` and `source` can reach.
#[derive(Clone)]
pub struct NameIndex {
    /// ref-able name -> (unique id, resource type)
    pub refs: Arc<HashMap<String, (String, ResourceType)>>,
    /// (source, table) -> unique id
    pub sources: Arc<HashMap<(String, String), String>>,
    pub project_name: String,
}

impl NameIndex {
    pub fn new(project: &Project) -> NameIndex {
        let refs = project
            .nodes
            .iter()
            .filter(|n| {
                matches!(
                    n.resource_type,
                    ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
                )
            })
            .map(|n| (n.name.clone(), (n.unique_id.clone(), n.resource_type)))
            .collect();
        let sources = project
            .sources
            .iter()
            .map(|s| ((s.source_name.clone(), s.name.clone()), s.unique_id.clone()))
            .collect();
        NameIndex {
            refs: Arc::new(refs),
            sources: Arc::new(sources),
            project_name: project.settings.project.name.clone(),
        }
    }

    /// The unique id `ref(package, name)` means.
    pub fn lookup_ref(&self, package: Option<&str>, name: &str) -> Result<&str, ResolveError> {
        if let Some(p) = package
            && p != self.project_name
        {
            return Err(ResolveError::Package { package: p.to_owned(), name: name.to_owned() });
        }
        match self.refs.get(name) {
            Some((id, _)) => Ok(id),
            None => Err(ResolveError::UnknownModel {
                name: name.to_owned(),
                suggestion: did_you_mean(name, self.refs.keys().map(String::as_str)).map(str::to_owned),
            }),
        }
    }

    /// The unique id `source(source, table)` means.
    pub fn lookup_source(&self, source: &str, table: &str) -> Result<&str, ResolveError> {
        if let Some(id) = self.sources.get(&(source.to_owned(), table.to_owned())) {
            return Ok(id);
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
        package: Option<&str>,
        name: &str,
        _version: Option<&str>,
    ) -> Result<Relation, ResolveError> {
        self.names.lookup_ref(package, name)?;
        Ok(Relation::new(
            &self.database,
            &self.schema,
            name,
            RelationKind::Table,
        ))
    }

    fn resolve_source(&self, source: &str, table: &str) -> Result<Relation, ResolveError> {
        self.names.lookup_source(source, table)?;
        Ok(Relation::new(
            &self.database,
            source,
            table,
            RelationKind::Table,
        ))
    }
}
