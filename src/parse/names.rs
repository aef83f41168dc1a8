//! What `ref` and `source` can reach, and the resolver the parse render uses: it checks
//! that every name exists (so a typo is reported at the call) and returns placeholders.

use std::collections::HashMap;
use std::sync::Arc;

use crate::diagnostic::did_you_mean;
use crate::project::{Project, ResourceType};
use crate::relation::{Relation, RelationKind};
use crate::template::Resolver;

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

    /// The unique id `ref(package, name)` means, or the message explaining why none.
    pub fn lookup_ref(&self, package: Option<&str>, name: &str) -> Result<&str, String> {
        if let Some(p) = package
            && p != self.project_name {
                return Err(format!(
                    "`ref('{p}', '{name}')` points into package `{p}`, but Silt does not support packages"
                ));
            }
        match self.refs.get(name) {
            Some((id, _)) => Ok(id),
            None => {
                let mut msg = format!("`ref` to unknown model `{name}`");
                if let Some(s) = did_you_mean(name, self.refs.keys().map(String::as_str)) {
                    msg.push_str(&format!("; did you mean `{s}`?"));
                }
                Err(msg)
            }
        }
    }

    pub fn lookup_source(&self, source: &str, table: &str) -> Result<&str, String> {
        if let Some(id) = self.sources.get(&(source.to_owned(), table.to_owned())) {
            return Ok(id);
        }
        let source_known = self.sources.keys().any(|(s, _)| s == source);
        if source_known {
            let tables: Vec<&str> = self
                .sources
                .keys()
                .filter(|(s, _)| s == source)
                .map(|(_, t)| t.as_str())
                .collect();
            let mut msg = format!("source `{source}` has no table `{table}`");
            if let Some(s) = did_you_mean(table, tables.iter().copied()) {
                msg.push_str(&format!("; did you mean `{s}`?"));
            }
            return Err(msg);
        }
        let names: Vec<&str> = self.sources.keys().map(|(s, _)| s.as_str()).collect();
        let mut msg = format!("`source` to unknown source `{source}`");
        if let Some(s) = did_you_mean(source, names.iter().copied()) {
            msg.push_str(&format!("; did you mean `{s}`?"));
        }
        Err(msg)
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
    ) -> Result<Relation, String> {
        self.names.lookup_ref(package, name)?;
        Ok(Relation::new(
            &self.database,
            &self.schema,
            name,
            RelationKind::Table,
        ))
    }

    fn resolve_source(&self, source: &str, table: &str) -> Result<Relation, String> {
        self.names.lookup_source(source, table)?;
        Ok(Relation::new(
            &self.database,
            source,
            table,
            RelationKind::Table,
        ))
    }
}
