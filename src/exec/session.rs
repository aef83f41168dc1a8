//! The DataFusion session a command runs in, and the catalog that resolves relations.
//!
//! Every relation is `<warehouse>/<schema>/<name>`: the catalog has a schema for any name,
//! and a schema opens a Delta table only when a query asks for it (tables are opened
//! lazily; a run touches only what it reads). Views are not stored: their compiled SQL is
//! registered, and planned afresh each time a query reads them, so a view always sees the
//! current version of the tables under it. Tables written during a run are dropped from
//! the provider cache, because a provider is pinned to the snapshot it was opened at.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, Weak};

use async_trait::async_trait;
use deltalake::datafusion::catalog::view::ViewTable;
use deltalake::datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use deltalake::datafusion::common::{DataFusionError, Result as DfResult};
use deltalake::datafusion::dataframe::DataFrame;
use deltalake::datafusion::execution::SessionStateBuilder;
use deltalake::datafusion::execution::runtime_env::RuntimeEnvBuilder;
use deltalake::datafusion::execution::session_state::SessionState;
use deltalake::datafusion::logical_expr::{LogicalPlan, TableType};
use deltalake::datafusion::prelude::{SessionConfig, SessionContext};
use deltalake::datafusion::sql::parser::Statement as DfStatement;
use deltalake::delta_datafusion::DeltaSessionConfig;
use deltalake::delta_datafusion::planner::DeltaPlanner;

use super::ExecError;
use super::error::clean;

/// The catalog name relations resolve in.
pub const CATALOG: &str = "silt";

/// Relations known to a session besides the Delta tables on disk.
#[derive(Debug, Default)]
pub struct Registry {
    /// (schema, name) -> compiled SQL of a view.
    views: RwLock<HashMap<(String, String), String>>,
    /// (schema, name) -> a provider that stands in for the relation (unit test inputs).
    overrides: RwLock<HashMap<(String, String), Arc<dyn TableProvider>>>,
    /// (schema, name) -> an opened Delta table, until something writes to it.
    cache: RwLock<HashMap<(String, String), Arc<dyn TableProvider>>>,
}

fn key(schema: &str, name: &str) -> (String, String) {
    (schema.to_owned(), name.to_owned())
}

/// A DataFusion session over a warehouse.
#[derive(Clone)]
pub struct Session {
    ctx: SessionContext,
    registry: Arc<Registry>,
    warehouse: PathBuf,
    default_schema: String,
    /// The emote list given to the chat functions, for sessions derived from this one.
    emotes: Arc<RwLock<Option<Arc<crate::enrich::Emotes>>>>,
    /// A session of one model's own ([`Session::derive`]), whose settings (`SET`) reach
    /// no other model.
    own: bool,
}

impl Session {
    /// A session over the warehouse folder, resolving bare table names in `default_schema`.
    pub fn new(warehouse: &Path, default_schema: &str) -> Result<Session, ExecError> {
        let partitions = std::thread::available_parallelism().map_or(2, |n| n.get());
        let config: SessionConfig = DeltaSessionConfig::default().into();
        let config = config
            .with_target_partitions(partitions)
            .with_information_schema(true)
            .with_default_catalog_and_schema(CATALOG, default_schema)
            // Unquoted identifiers are case-insensitive (lowered), as in DuckDB and Spark;
            // Silt quotes the relation names it renders, so their case is kept.
            .set_bool("datafusion.sql_parser.enable_ident_normalization", true);
        let runtime = RuntimeEnvBuilder::new()
            .build_arc()
            .map_err(|e| ExecError::engine(clean(&e)).with_source(e))?;
        let mut builder = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_query_planner(DeltaPlanner::new());
        builder = super::functions::install_rules(builder);
        let state = builder.build();
        let ctx = SessionContext::new_with_state(state);
        super::functions::register(&ctx);
        let registry = Arc::new(Registry::default());
        let catalog = SiltCatalog {
            registry: registry.clone(),
            warehouse: warehouse.to_path_buf(),
            state: ctx.state_weak_ref(),
        };
        ctx.register_catalog(CATALOG, Arc::new(catalog));
        Ok(Session {
            ctx,
            registry,
            warehouse: warehouse.to_path_buf(),
            default_schema: default_schema.to_owned(),
            emotes: Default::default(),
            own: false,
        })
    }

    /// Gives the chat functions (`sentiment`, `emote_count`...) an emote list.
    pub fn set_emotes(&self, emotes: crate::enrich::Emotes) {
        let emotes = Arc::new(emotes);
        *self.emotes.write().unwrap_or_else(|e| e.into_inner()) = Some(emotes.clone());
        super::functions::register_chat(&self.ctx, emotes);
    }

    /// A session of its own with the same views and functions, where the given relations
    /// resolve to the given providers: a streaming table's query reads its upstreams' new
    /// rows there, while other models running at the same time read the whole tables.
    pub fn derive(&self, overrides: Vec<((String, String), Arc<dyn TableProvider>)>) -> Result<Session, ExecError> {
        let mut child = Session::new(&self.warehouse, &self.default_schema)?;
        child.own = true;
        if let Some(e) = self.emotes.read().unwrap_or_else(|e| e.into_inner()).clone() {
            *child.emotes.write().unwrap_or_else(|e| e.into_inner()) = Some(e.clone());
            super::functions::register_chat(&child.ctx, e);
        }
        {
            let views = self.registry.views.read().unwrap_or_else(|e| e.into_inner());
            let mut mine = child.registry.views.write().unwrap_or_else(|e| e.into_inner());
            mine.extend(views.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        for ((schema, name), provider) in overrides {
            child.register_override(&schema, &name, provider);
        }
        Ok(child)
    }

    /// Whether this is a session of one model's own, where `SET` may change settings.
    pub fn is_own(&self) -> bool {
        self.own
    }

    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// A copy of the session state, for Delta operations (it carries the Delta planner).
    pub fn state(&self) -> Arc<SessionState> {
        Arc::new(self.ctx.state())
    }

    pub fn warehouse(&self) -> &Path {
        &self.warehouse
    }

    /// Plans one query, with Silt's SQL compatibility rewrites.
    pub async fn query(&self, sql: &str) -> Result<DataFrame, ExecError> {
        let plan = plan_query(&self.ctx.state(), sql).await?;
        Ok(DataFrame::new(self.ctx.state(), plan))
    }

    /// Makes `schema.name` a view over `sql` for the rest of the session.
    pub fn register_view(&self, schema: &str, name: &str, sql: &str) {
        let mut views = self
            .registry
            .views
            .write()
            .unwrap_or_else(|e| e.into_inner());
        views.insert(key(schema, name), sql.to_owned());
    }

    /// Makes `schema.name` resolve to `provider` (e.g. a unit test's input rows).
    pub fn register_override(&self, schema: &str, name: &str, provider: Arc<dyn TableProvider>) {
        let mut o = self
            .registry
            .overrides
            .write()
            .unwrap_or_else(|e| e.into_inner());
        o.insert(key(schema, name), provider);
    }

    /// Stops `schema.name` resolving to an override.
    pub fn remove_override(&self, schema: &str, name: &str) {
        let mut o = self
            .registry
            .overrides
            .write()
            .unwrap_or_else(|e| e.into_inner());
        o.remove(&key(schema, name));
    }

    /// Forgets the opened provider of a table that was just written.
    pub fn invalidate(&self, schema: &str, name: &str) {
        let mut cache = self
            .registry
            .cache
            .write()
            .unwrap_or_else(|e| e.into_inner());
        cache.remove(&key(schema, name));
    }

    /// The schema bare table names resolve in.
    pub fn default_schema(&self) -> &str {
        &self.default_schema
    }

    /// Forgets a registered view; whether there was one.
    pub fn drop_view(&self, schema: &str, name: &str) -> bool {
        self.registry
            .views
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key(schema, name))
            .is_some()
    }

    /// The views registered in `schema`.
    pub fn views_in(&self, schema: &str) -> Vec<String> {
        self.registry
            .views
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .filter(|(s, _)| s == schema)
            .map(|(_, n)| n.clone())
            .collect()
    }

    /// Whether `schema.name` resolves to an override (a staged table being audited, a unit
    /// test's rows), which stands for a table whatever is on disk.
    pub fn has_override(&self, schema: &str, name: &str) -> bool {
        self.registry
            .overrides
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&key(schema, name))
    }

    /// Whether a relation is a registered view.
    pub fn is_view(&self, schema: &str, name: &str) -> bool {
        self.registry
            .views
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&key(schema, name))
    }
}

/// Parses `sql` (one query), applies the compatibility rewrites and plans it.
///
/// The plan is returned analyzed: Silt's dialect rules change result types (`int / int` is
/// a double), and writers such as Delta's take a table's schema from the plan they are
/// given, so that plan must already carry the final types.
pub async fn plan_query(state: &SessionState, sql: &str) -> Result<LogicalPlan, ExecError> {
    let statement = crate::sql::parse_for_engine(sql).map_err(|e| ExecError::sql(e.message))?;
    // Whatever its cause, a query that does not plan is the query's error (a data test
    // adds its configs to the message of such an error).
    let not_planned = |e: DataFusionError| ExecError::sql(clean(&e)).with_source(e);
    let plan = state
        .statement_to_plan(DfStatement::Statement(Box::new(statement)))
        .await
        .map_err(not_planned)?;
    state
        .analyzer()
        .execute_and_check(plan, state.config_options(), |_, _| {})
        .map_err(not_planned)
}

#[derive(Debug)]
struct SiltCatalog {
    registry: Arc<Registry>,
    warehouse: PathBuf,
    state: Weak<parking_lot::RwLock<SessionState>>,
}

impl CatalogProvider for SiltCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names = folders(&self.warehouse, |p| p.is_dir());
        names.extend(self.registry.views.read().unwrap_or_else(|e| e.into_inner()).keys().map(|(s, _)| s.clone()));
        names.sort();
        names.dedup();
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        Some(Arc::new(SiltSchema {
            name: name.to_owned(),
            registry: self.registry.clone(),
            dir: self.warehouse.join(name),
            state: self.state.clone(),
        }))
    }
}

/// The names of the folders in `dir` that `keep` accepts (none when it cannot be read).
fn folders(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| keep(&e.path()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Debug)]
struct SiltSchema {
    name: String,
    registry: Arc<Registry>,
    dir: PathBuf,
    state: Weak<parking_lot::RwLock<SessionState>>,
}

#[async_trait]
impl SchemaProvider for SiltSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = folders(&self.dir, super::storage::exists);
        let views = self.registry.views.read().unwrap_or_else(|e| e.into_inner());
        names.extend(views.keys().filter(|(s, _)| *s == self.name).map(|(_, n)| n.clone()));
        names.sort();
        names.dedup();
        names
    }

    async fn table_type(&self, name: &str) -> DfResult<Option<TableType>> {
        if self
            .registry
            .views
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&key(&self.name, name))
        {
            return Ok(Some(TableType::View));
        }
        Ok(self.table_exist(name).then_some(TableType::Base))
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let k = key(&self.name, name);
        if let Some(p) = self
            .registry
            .overrides
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&k)
        {
            return Ok(Some(p.clone()));
        }
        let view_sql = self
            .registry
            .views
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&k)
            .cloned();
        if let Some(sql) = view_sql {
            let Some(state) = self.state.upgrade() else {
                return Err(DataFusionError::Internal(
                    "the session ended while planning a view".into(),
                ));
            };
            let state = state.read().clone();
            let plan = plan_query(&state, &sql).await.map_err(|e| {
                DataFusionError::Plan(format!("in view {}.{}: {e}", self.name, name))
            })?;
            return Ok(Some(Arc::new(ViewTable::new(plan, Some(sql)))));
        }
        if let Some(p) = self
            .registry
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&k)
        {
            return Ok(Some(p.clone()));
        }
        let dir = self.dir.join(name);
        if !dir.join("_delta_log").is_dir() {
            return Ok(None);
        }
        let table = super::storage::open(&dir)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let provider = table.table_provider().await?;
        self.registry
            .cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(k, provider.clone());
        Ok(Some(provider))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.registry
            .views
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&key(&self.name, name))
            || self
                .registry
                .overrides
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&key(&self.name, name))
            || self.dir.join(name).join("_delta_log").is_dir()
    }
}
