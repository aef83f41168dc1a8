//! Relations: where a node's or a source's data lives. One plain type used by every stage
//! (templates render it, the parse stage names it, exec reads and writes it), and the one
//! place identifiers are quoted.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where a relation's data lives, as SQL sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Relation {
    /// The profile's database name (informational: Silt resolves `schema.identifier`).
    pub database: String,
    pub schema: String,
    pub identifier: String,
    pub kind: RelationKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelationKind {
    Table,
    View,
    /// An ephemeral model, inlined as a CTE named `__dbt__cte__<name>`.
    Cte,
}

impl Relation {
    pub fn new(database: &str, schema: &str, identifier: &str, kind: RelationKind) -> Relation {
        Relation {
            database: database.to_owned(),
            schema: schema.to_owned(),
            identifier: identifier.to_owned(),
            kind,
        }
    }

    /// The relation as SQL: `"schema"."identifier"`, or the CTE name of an ephemeral.
    pub fn render(&self) -> String {
        match self.kind {
            RelationKind::Cte => self.identifier.clone(),
            _ => format!(
                "{}.{}",
                quote_ident(&self.schema),
                quote_ident(&self.identifier)
            ),
        }
    }

    /// `schema.identifier`, unquoted: how messages name the relation and how sets of
    /// relations are keyed.
    pub fn key(&self) -> String {
        format!("{}.{}", self.schema, self.identifier)
    }

    /// `"database"."schema"."identifier"`, as dbt's artifacts name it (`relation_name`).
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.database), self.render())
    }

    /// The relation's Delta table: `<warehouse>/<schema>/<identifier>`.
    pub fn path(&self, warehouse: &Path) -> PathBuf {
        warehouse.join(&self.schema).join(&self.identifier)
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// Quotes an identifier for DataFusion SQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The CTE name dbt gives an ephemeral model.
pub fn ephemeral_cte_name(model: &str) -> String {
    format!("__dbt__cte__{model}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_relation_for_sql_messages_and_disk() {
        let r = Relation::new("silt", "main", "we\"ird", RelationKind::Table);
        assert_eq!(r.render(), "\"main\".\"we\"\"ird\"");
        assert_eq!(r.key(), "main.we\"ird");
        assert_eq!(r.path(Path::new("/w")), Path::new("/w/main/we\"ird"));
        let cte = Relation::new("silt", "main", &ephemeral_cte_name("e"), RelationKind::Cte);
        assert_eq!(cte.render(), "__dbt__cte__e");
    }
}
