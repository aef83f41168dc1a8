//! Relations as templates see them: the objects that `ref`, `source` and `this` return.

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Kwargs, Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind, State};

use crate::relation::{Relation, RelationKind};

impl Object for Relation {
    /// A mapping, as dbt's relations are (`relation is mapping` holds, which dbt_utils'
    /// `_is_relation` checks); like dbt's, it cannot be iterated.
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    /// A relation is true, as dbt's (`{% if relation %}` after `get_relation`).
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    /// Relations are equal when they name the same table, as dbt's: dbt_utils'
    /// `union_relations` keys a dict by relation, which must keep two relations apart.
    fn custom_cmp(self: &Arc<Self>, other: &minijinja::value::DynObject) -> Option<std::cmp::Ordering> {
        let other = other.downcast_ref::<Relation>()?;
        Some(
            (&self.database, &self.schema, &self.identifier)
                .cmp(&(&other.database, &other.schema, &other.identifier)),
        )
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let v = match key.as_str()? {
            "database" => Value::from(self.database.clone()),
            "schema" => Value::from(self.schema.clone()),
            "identifier" | "name" | "table" => Value::from(self.identifier.clone()),
            "is_table" => Value::from(self.kind == RelationKind::Table),
            "is_view" => Value::from(self.kind == RelationKind::View),
            "is_cte" => Value::from(self.kind == RelationKind::Cte),
            "type" => Value::from(match self.kind {
                RelationKind::Table => "table",
                RelationKind::View => "view",
                RelationKind::Cte => "cte",
            }),
            _ => return None,
        };
        Some(v)
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "render" => Ok(Value::from(Relation::render(self))),
            // dbt's `BaseRelation.get`: `metadata` names the relation's class, which
            // dbt_utils checks ends with `Relation`.
            "get" => {
                let (key, default): (String, Option<Value>) = minijinja::value::from_args(args)?;
                if key == "metadata" {
                    return Ok(Value::from(std::collections::BTreeMap::from([("type", Value::from("DataFusionRelation"))])));
                }
                Ok(self
                    .get_value(&Value::from(key))
                    .unwrap_or_else(|| default.unwrap_or(Value::from(()))))
            }
            // `include`, `incorporate` and `quote` adjust how a warehouse relation prints;
            // Silt always prints `"schema"."identifier"`, so they return the relation
            // itself, with any identifier/schema passed to `incorporate` applied.
            "include" | "quote" => Ok(Value::from_object((**self).clone())),
            "incorporate" => {
                let mut rel = (**self).clone();
                if let Some(kwargs) = args.last().and_then(|a| Kwargs::try_from(a.clone()).ok()) {
                    if let Ok(path) = kwargs.get::<Value>("path") {
                        if let Ok(Some(id)) = path
                            .get_attr("identifier")
                            .map(|v| v.as_str().map(str::to_owned))
                        {
                            rel.identifier = id;
                        }
                        if let Ok(Some(schema)) = path
                            .get_attr("schema")
                            .map(|v| v.as_str().map(str::to_owned))
                        {
                            rel.schema = schema;
                        }
                    }
                    if let Ok(t) = kwargs.get::<String>("type") {
                        rel.kind = if t == "view" {
                            RelationKind::View
                        } else {
                            RelationKind::Table
                        };
                    }
                }
                Ok(Value::from_object(rel))
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("relations have no method `{method}`"),
            )),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Relation::render(self))
    }
}

/// A relation under `--empty`: it prints as a subquery reading no rows (dbt's
/// `render_limited`; without an alias, as dbt-duckdb, so `from {{ ref('x') }} x` still
/// parses), and is otherwise the relation.
#[derive(Debug)]
pub struct Limited(pub Relation);

impl Limited {
    fn rendered(&self) -> String {
        format!("(select * from {} where false limit 0)", self.0.render())
    }
}

impl Object for Limited {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Arc::new(self.0.clone()).get_value(key)
    }

    fn call_method(self: &Arc<Self>, state: &mut State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        match method {
            "render" => Ok(Value::from(self.rendered())),
            _ => Arc::new(self.0.clone()).call_method(state, method, args),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rendered())
    }
}
