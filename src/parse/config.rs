//! A node's config, typed once at parse: what Silt acts on is a field with an enum or a
//! list, checked here, so no later stage matches on strings or carries defaults of its own.
//! The merged map is kept beside it (`raw`) for what Silt only passes through:
//! `manifest.json`, `config.get` in templates and `config.<key>:` selectors.

use indexmap::IndexMap;
use serde_json::Value as Json;

use crate::config::{ConfigMap, as_bool, string_list};
use crate::diagnostic::did_you_mean;
use crate::project::ResourceType;

/// How a node is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Materialization {
    View,
    Table,
    Incremental,
    Ephemeral,
    StreamingTable,
    Seed,
    Test,
    /// A unit test: the model run on given rows in memory.
    UnitTest,
    Analysis,
    /// A snapshot: the query's rows kept as type-2 history (`dbt_valid_from`/`_to`).
    Snapshot,
    /// An exposure: nothing to build; `build` reports it `NO-OP` once its parents are built.
    Exposure,
}

impl Materialization {
    /// What a model may be configured as, in the order messages list them.
    const MODELS: [Materialization; 5] = [
        Materialization::View,
        Materialization::Table,
        Materialization::Incremental,
        Materialization::Ephemeral,
        Materialization::StreamingTable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Materialization::View => "view",
            Materialization::Table => "table",
            Materialization::Incremental => "incremental",
            Materialization::Ephemeral => "ephemeral",
            Materialization::StreamingTable => "streaming_table",
            Materialization::Seed => "seed",
            Materialization::Test => "test",
            Materialization::UnitTest => "unit_test",
            Materialization::Analysis => "analysis",
            Materialization::Snapshot => "snapshot",
            Materialization::Exposure => "exposure",
        }
    }

    /// Whether running the node writes a Delta table.
    pub fn writes_table(self) -> bool {
        matches!(
            self,
            Materialization::Table
                | Materialization::Incremental
                | Materialization::StreamingTable
                | Materialization::Seed
                | Materialization::Snapshot
        )
    }

    /// Whether running the node leaves a relation to read: a table, or a view.
    pub fn builds_relation(self) -> bool {
        self.writes_table() || self == Materialization::View
    }

    /// Whether the node is a data test or a unit test.
    pub fn is_test(self) -> bool {
        matches!(self, Materialization::Test | Materialization::UnitTest)
    }
}

/// How an incremental model adds its new rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncrementalStrategy {
    Append,
    Merge,
    /// dbt-duckdb's default; without a `unique_key` it is an append.
    #[default]
    DeleteInsert,
    InsertOverwrite,
}

impl IncrementalStrategy {
    const ALL: [IncrementalStrategy; 4] = [
        IncrementalStrategy::Append,
        IncrementalStrategy::Merge,
        IncrementalStrategy::DeleteInsert,
        IncrementalStrategy::InsertOverwrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IncrementalStrategy::Append => "append",
            IncrementalStrategy::Merge => "merge",
            IncrementalStrategy::DeleteInsert => "delete+insert",
            IncrementalStrategy::InsertOverwrite => "insert_overwrite",
        }
    }
}

/// What an incremental run does when the model's columns no longer match its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnSchemaChange {
    #[default]
    Ignore,
    Fail,
    AppendNewColumns,
    SyncAllColumns,
}

impl OnSchemaChange {
    const ALL: [OnSchemaChange; 4] = [
        OnSchemaChange::Ignore,
        OnSchemaChange::Fail,
        OnSchemaChange::AppendNewColumns,
        OnSchemaChange::SyncAllColumns,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OnSchemaChange::Ignore => "ignore",
            OnSchemaChange::Fail => "fail",
            OnSchemaChange::AppendNewColumns => "append_new_columns",
            OnSchemaChange::SyncAllColumns => "sync_all_columns",
        }
    }
}

/// A data test's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warn,
}

/// A data test's configs, with dbt's defaults.
#[derive(Debug, Clone)]
pub struct TestConfig {
    pub severity: Severity,
    pub warn_if: String,
    pub error_if: String,
    pub fail_calc: String,
    pub limit: Option<u64>,
    /// Keep the failing rows as a Delta table (`store_failures`, `store_failures_as: table`).
    pub store_failures: bool,
}

/// A node's config, typed.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Every key as merged from the project file, YAML and `config()` (dbt's rules).
    pub raw: ConfigMap,
    pub enabled: bool,
    pub materialized: Materialization,
    pub tags: Vec<String>,
    /// The custom schema, appended to the target's by `generate_schema_name`.
    pub schema: Option<String>,
    pub alias: Option<String>,
    pub database: Option<String>,
    /// `full_refresh`: when set, wins over the `--full-refresh` flag.
    pub full_refresh: Option<bool>,
    /// `contract: {enforced: true}`.
    pub contract_enforced: bool,
    pub partition_by: Vec<String>,
    pub unique_key: Vec<String>,
    pub incremental_strategy: IncrementalStrategy,
    /// An `incremental_strategy` Silt does not have: as in dbt, an error only when an
    /// incremental run needs the strategy (the first run builds the table).
    pub strategy_error: Option<Box<crate::diagnostic::Diagnostic>>,
    pub on_schema_change: OnSchemaChange,
    pub incremental_predicates: Vec<String>,
    /// dbt's older spelling of `incremental_predicates`, kept apart so messages name it.
    pub predicates: Vec<String>,
    pub merge_update_columns: Vec<String>,
    pub merge_exclude_columns: Vec<String>,
    /// A seed's separator, as written (checked when the seed is read).
    pub delimiter: Option<String>,
    /// A seed's column types, as written (SQL type names).
    pub column_types: IndexMap<String, String>,
    /// `pre-hook` SQL, run before the node's write, in order.
    pub pre_hook: Vec<Hook>,
    /// `post-hook` SQL, run after the node's write, in order.
    pub post_hook: Vec<Hook>,
    /// `sql_header` (what `set_sql_header` sets): statements run in the model's own
    /// session before its query, as dbt puts them before the model's DDL.
    pub sql_header: Option<String>,
    /// A data test's configs; `None` for every other node.
    pub test: Option<TestConfig>,
    /// A snapshot's configs; `None` for every other node.
    pub snapshot: Option<SnapshotConfig>,
}

impl Default for NodeConfig {
    /// An enabled view with dbt's defaults: what a model with no config is.
    fn default() -> NodeConfig {
        NodeConfig {
            raw: ConfigMap::new(),
            enabled: true,
            materialized: Materialization::View,
            tags: Vec::new(),
            schema: None,
            alias: None,
            database: None,
            full_refresh: None,
            contract_enforced: false,
            partition_by: Vec::new(),
            unique_key: Vec::new(),
            incremental_strategy: IncrementalStrategy::default(),
            strategy_error: None,
            on_schema_change: OnSchemaChange::default(),
            incremental_predicates: Vec::new(),
            predicates: Vec::new(),
            merge_update_columns: Vec::new(),
            merge_exclude_columns: Vec::new(),
            delimiter: None,
            column_types: IndexMap::new(),
            pre_hook: Vec::new(),
            post_hook: Vec::new(),
            sql_header: None,
            test: None,
            snapshot: None,
        }
    }
}

/// A config value Silt cannot use: the key at fault, what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub message: String,
    pub help: Option<String>,
}

impl ConfigError {
    fn new(key: &str, message: String) -> ConfigError {
        ConfigError {
            key: key.to_owned(),
            message,
            help: None,
        }
    }

    fn with_help(mut self, help: String) -> ConfigError {
        self.help = Some(help);
        self
    }
}

impl NodeConfig {
    /// Types the merged config of a node of `resource_type`. The checks run in a fixed
    /// order and the first problem is returned.
    pub fn resolve(raw: ConfigMap, resource_type: ResourceType) -> Result<NodeConfig, ConfigError> {
        let c = &raw;
        let enabled = match c.get("enabled") {
            None | Some(Json::Null) => true,
            Some(v) => as_bool(v).ok_or_else(|| {
                ConfigError::new("enabled", format!("`enabled` must be true or false, not `{v}`"))
            })?,
        };
        let materialized = materialization(resource_type, c)?;
        let text = |key: &str| -> Result<Option<String>, ConfigError> {
            match c.get(key) {
                None | Some(Json::Null) => Ok(None),
                Some(Json::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(ConfigError::new(
                    key,
                    format!("`{key}` must be a string, not `{other}`"),
                )),
            }
        };
        let schema = text("schema")?;
        let alias = text("alias")?;
        let database = text("database")?;
        let strategy = text("incremental_strategy")?;
        let on_schema_change = text("on_schema_change")?;
        text("materialized")?;
        let delimiter = text("delimiter")?;
        let sql_header = text("sql_header")?.filter(|h| !h.trim().is_empty());
        if let Some(v) = c.get("unique_key") {
            let ok = match v {
                Json::Null | Json::String(_) => true,
                Json::Array(items) => items.iter().all(Json::is_string),
                _ => false,
            };
            if !ok {
                return Err(ConfigError::new(
                    "unique_key",
                    "`unique_key` must be a column name or a list of column names".into(),
                ));
            }
        }
        let mut strategy_error = None;
        let incremental_strategy = match strategy.as_deref() {
            None => IncrementalStrategy::default(),
            Some(v) => IncrementalStrategy::ALL.into_iter().find(|s| s.as_str() == v).unwrap_or_else(|| {
                let names: Vec<&str> = IncrementalStrategy::ALL.iter().map(|s| s.as_str()).collect();
                strategy_error = Some(Box::new(
                    crate::diagnostic::Diagnostic::error(format!("incremental strategy `{v}` is not supported"))
                        .with_help(format!("use one of: {}", names.join(", "))),
                ));
                IncrementalStrategy::default()
            }),
        };
        let on_schema_change = match on_schema_change.as_deref() {
            None => OnSchemaChange::default(),
            Some(v) => OnSchemaChange::ALL.into_iter().find(|m| m.as_str() == v).ok_or_else(|| {
                let names: Vec<&str> = OnSchemaChange::ALL.iter().map(|m| m.as_str()).collect();
                ConfigError::new("on_schema_change", format!("`on_schema_change: {v}` is not a mode"))
                    .with_help(match did_you_mean(v, names.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("use one of: {}", names.join(", ")),
                    })
            })?,
        };
        let flag = |key: &str| -> Result<Option<bool>, ConfigError> {
            match c.get(key) {
                None | Some(Json::Null) => Ok(None),
                Some(v) => as_bool(v).map(Some).ok_or_else(|| {
                    ConfigError::new(key, format!("`{key}` must be true or false, not `{v}`"))
                }),
            }
        };
        let full_refresh = flag("full_refresh")?;
        flag("quote_columns")?;
        let column_types = match c.get("column_types") {
            None | Some(Json::Null) => IndexMap::new(),
            Some(Json::Object(m)) => m
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect(),
            Some(_) => {
                return Err(ConfigError::new(
                    "column_types",
                    "`column_types` must map column names to types".into(),
                ));
            }
        };
        let test = if resource_type == ResourceType::Test {
            Some(test_config(c)?)
        } else {
            None
        };
        let snapshot = if resource_type == ResourceType::Snapshot {
            Some(snapshot_config(c)?)
        } else {
            None
        };
        let contract_enforced = c
            .get("contract")
            .and_then(|c| c.get("enforced"))
            .and_then(as_bool)
            .unwrap_or(false);
        let list = |key: &str| string_list(c.get(key));
        Ok(NodeConfig {
            enabled,
            materialized,
            tags: list("tags"),
            schema,
            alias,
            database,
            full_refresh,
            contract_enforced,
            partition_by: list("partition_by"),
            unique_key: list("unique_key"),
            incremental_strategy,
            strategy_error,
            on_schema_change,
            incremental_predicates: list("incremental_predicates"),
            predicates: list("predicates"),
            merge_update_columns: list("merge_update_columns"),
            merge_exclude_columns: list("merge_exclude_columns"),
            delimiter,
            column_types,
            pre_hook: hooks(c, "pre-hook")?,
            post_hook: hooks(c, "post-hook")?,
            sql_header,
            test,
            snapshot,
            raw,
        })
    }

    /// Whether the node rebuilds from scratch: its `full_refresh` config wins over the flag.
    pub fn refreshes_fully(&self, flag: bool) -> bool {
        self.full_refresh.unwrap_or(flag)
    }
}

/// One hook: SQL (a template, rendered when it runs) and whether dbt would run it inside
/// the node's transaction. Silt has no transaction around a node, but keeps dbt's order:
/// pre-hooks outside it first, post-hooks outside it last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub sql: String,
    pub transaction: bool,
}

impl Hook {
    /// As the manifest writes it.
    pub fn to_json(&self) -> Json {
        serde_json::json!({"sql": self.sql, "transaction": self.transaction, "index": null})
    }
}

/// The hooks under `key`: each a string of SQL, a mapping with `sql` (and `transaction`),
/// or a string holding such a mapping as JSON (what `before_begin()` gives), as dbt's
/// `get_hook_dict` reads them.
fn hooks(c: &ConfigMap, key: &str) -> Result<Vec<Hook>, ConfigError> {
    let bad = |what: String| ConfigError {
        key: key.to_owned(),
        message: format!("`{key}` {what}"),
        help: Some("a hook is SQL text, or a mapping with `sql:` and an optional `transaction:` (true or false)".into()),
    };
    let mut out = Vec::new();
    for item in crate::config::as_list(c.get(key)) {
        let item = match item {
            Json::String(s) => match serde_json::from_str::<Json>(&s) {
                Ok(v @ Json::Object(_)) => v,
                _ => Json::String(s),
            },
            other => other,
        };
        match item {
            Json::String(sql) => out.push(Hook { sql, transaction: true }),
            Json::Object(m) => {
                let sql = match m.get("sql") {
                    Some(Json::String(s)) => s.clone(),
                    _ => return Err(bad("has a mapping without `sql:` text".into())),
                };
                let transaction = match m.get("transaction") {
                    None | Some(Json::Null) => true,
                    Some(Json::Bool(b)) => *b,
                    Some(other) => return Err(bad(format!("has `transaction: {other}`, which is not true or false"))),
                };
                out.push(Hook { sql, transaction });
            }
            Json::Null => {}
            other => return Err(bad(format!("has `{other}`, which is not SQL"))),
        }
    }
    Ok(out)
}

fn materialization(resource_type: ResourceType, c: &ConfigMap) -> Result<Materialization, ConfigError> {
    match resource_type {
        ResourceType::Seed => return Ok(Materialization::Seed),
        ResourceType::Test => return Ok(Materialization::Test),
        ResourceType::UnitTest => return Ok(Materialization::UnitTest),
        ResourceType::Analysis => return Ok(Materialization::Analysis),
        ResourceType::Snapshot => return Ok(Materialization::Snapshot),
        ResourceType::Exposure => return Ok(Materialization::Exposure),
        _ => {}
    }
    // A value that is not a string is reported by the type checks that follow.
    let value = c.get("materialized").and_then(Json::as_str).unwrap_or("view");
    Materialization::MODELS
        .into_iter()
        .find(|m| m.as_str() == value)
        .ok_or_else(|| {
            let names: Vec<&str> = Materialization::MODELS.iter().map(|m| m.as_str()).collect();
            ConfigError::new("materialized", format!("materialization `{value}` is not supported")).with_help(
                match did_you_mean(value, names.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("Silt materializes models as {}", names.join(", ")),
                },
            )
        })
}

/// How a snapshot tells that a row changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotStrategy {
    /// A row changed when its `updated_at` is later than the snapshot's.
    Timestamp { updated_at: String },
    /// A row changed when any of `check_cols` (all columns when `None`) differs; its time
    /// is `updated_at` when given, else the time of the run.
    Check { cols: Option<Vec<String>>, updated_at: Option<String> },
}

/// What a snapshot does with rows gone from its query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HardDeletes {
    Ignore,
    /// Their current version ends (`dbt_valid_to` set).
    Invalidate,
    /// Their current version ends and a version marked `dbt_is_deleted` starts.
    NewRecord,
}

/// The names of a snapshot's meta columns (`snapshot_meta_column_names`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotColumns {
    pub valid_from: String,
    pub valid_to: String,
    pub scd_id: String,
    pub updated_at: String,
    pub is_deleted: String,
}

/// A snapshot's configs, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotConfig {
    pub strategy: SnapshotStrategy,
    pub unique_key: Vec<String>,
    pub hard_deletes: HardDeletes,
    /// `dbt_valid_to_current`: the SQL the current version's `dbt_valid_to` holds instead
    /// of null.
    pub valid_to_current: Option<String>,
    pub columns: SnapshotColumns,
    /// `target_schema` / `target_database`: dbt's older way to place a snapshot, used as
    /// written (no `generate_schema_name`).
    pub target_schema: Option<String>,
    pub target_database: Option<String>,
}

fn snapshot_config(c: &ConfigMap) -> Result<SnapshotConfig, ConfigError> {
    let text = |key: &str| -> Result<Option<String>, ConfigError> {
        match c.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
            Some(other) => Err(ConfigError::new(key, format!("`{key}` must be text, not `{other}`"))),
        }
    };
    let unique_key = string_list(c.get("unique_key"));
    if unique_key.is_empty() {
        return Err(ConfigError::new("unique_key", "a snapshot needs `unique_key`: the column (or list of columns) that identifies a row".into()));
    }
    let strategy = match text("strategy")?.as_deref() {
        Some("timestamp") => SnapshotStrategy::Timestamp {
            updated_at: text("updated_at")?.ok_or_else(|| {
                ConfigError::new("updated_at", "the `timestamp` strategy needs `updated_at`: the column that says when a row last changed".into())
            })?,
        },
        Some("check") => {
            let cols = match c.get("check_cols") {
                Some(Json::String(s)) if s == "all" => None,
                Some(v @ (Json::String(_) | Json::Array(_))) => Some(string_list(Some(v))),
                _ => {
                    return Err(ConfigError::new(
                        "check_cols",
                        "the `check` strategy needs `check_cols`: `all` or a list of columns".into(),
                    ));
                }
            };
            SnapshotStrategy::Check { cols, updated_at: text("updated_at")? }
        }
        Some(other) => {
            return Err(ConfigError::new("strategy", format!("snapshot strategy `{other}` is not supported"))
                .with_help("use `timestamp` (with `updated_at`) or `check` (with `check_cols`)".into()));
        }
        None => {
            return Err(ConfigError::new("strategy", "a snapshot needs `strategy`: `timestamp` or `check`".into()));
        }
    };
    let invalidate = match c.get("invalidate_hard_deletes") {
        None | Some(Json::Null) => false,
        Some(v) => as_bool(v).ok_or_else(|| ConfigError::new("invalidate_hard_deletes", format!("`invalidate_hard_deletes` must be true or false, not `{v}`")))?,
    };
    let hard_deletes = match text("hard_deletes")?.as_deref() {
        None => {
            if invalidate {
                HardDeletes::Invalidate
            } else {
                HardDeletes::Ignore
            }
        }
        Some("ignore") => HardDeletes::Ignore,
        Some("invalidate") => HardDeletes::Invalidate,
        Some("new_record") => HardDeletes::NewRecord,
        Some(other) => {
            return Err(ConfigError::new("hard_deletes", format!("`hard_deletes: {other}` is not a mode"))
                .with_help("use one of: ignore, invalidate, new_record".into()));
        }
    };
    let names = match c.get("snapshot_meta_column_names") {
        None | Some(Json::Null) => serde_json::Map::new(),
        Some(Json::Object(m)) => m.clone(),
        Some(other) => {
            return Err(ConfigError::new(
                "snapshot_meta_column_names",
                format!("`snapshot_meta_column_names` must map dbt_valid_from, dbt_valid_to, dbt_scd_id, dbt_updated_at, dbt_is_deleted to names, not `{other}`"),
            ));
        }
    };
    let name = |key: &str| -> String {
        names.get(key).and_then(Json::as_str).map_or_else(|| key.to_owned(), str::to_owned)
    };
    Ok(SnapshotConfig {
        strategy,
        unique_key,
        hard_deletes,
        valid_to_current: text("dbt_valid_to_current")?,
        columns: SnapshotColumns {
            valid_from: name("dbt_valid_from"),
            valid_to: name("dbt_valid_to"),
            scd_id: name("dbt_scd_id"),
            updated_at: name("dbt_updated_at"),
            is_deleted: name("dbt_is_deleted"),
        },
        target_schema: text("target_schema")?,
        target_database: text("target_database")?,
    })
}

/// A test's configs, checked; an error names the key at fault.
fn test_config(c: &ConfigMap) -> Result<TestConfig, ConfigError> {
    let text = |key: &str, default: &str| -> Result<String, ConfigError> {
        match c.get(key) {
            None | Some(Json::Null) => Ok(default.to_owned()),
            Some(Json::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
            Some(other) => Err(ConfigError::new(
                key,
                format!("`{key}` must be SQL such as `!= 0`, `>10` or `count(*)`, not `{other}`"),
            )),
        }
    };
    let severity = match c.get("severity") {
        None | Some(Json::Null) => Severity::Error,
        Some(Json::String(s)) if s.eq_ignore_ascii_case("error") => Severity::Error,
        Some(Json::String(s)) if s.eq_ignore_ascii_case("warn") => Severity::Warn,
        Some(other) => {
            return Err(ConfigError::new(
                "severity",
                format!(
                    "`severity` must be `error` or `warn`, not `{}`",
                    other.as_str().map_or_else(|| other.to_string(), str::to_owned)
                ),
            ));
        }
    };
    let limit = match c.get("limit") {
        None | Some(Json::Null) => None,
        Some(v) => match v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())) {
            Some(n) => Some(n),
            None => {
                return Err(ConfigError::new("limit", format!("`limit` must be a whole number, not `{v}`")));
            }
        },
    };
    let store_as = c.get("store_failures_as").and_then(Json::as_str);
    if let Some(s) = store_as
        && !matches!(s, "table" | "ephemeral")
    {
        return Err(ConfigError::new(
            "store_failures_as",
            format!(
                "`store_failures_as: {s}` is not supported: Silt stores failures as a Delta `table`, or not at all (`ephemeral`); its views are not stored"
            ),
        ));
    }
    let store_failures = match store_as {
        Some("table") => true,
        Some(_) => false,
        None => c.get("store_failures").and_then(as_bool).unwrap_or(false),
    };
    Ok(TestConfig {
        severity,
        warn_if: text("warn_if", "!= 0")?,
        error_if: text("error_if", "!= 0")?,
        fail_calc: text("fail_calc", "count(*)")?,
        limit,
        store_failures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(v: Json) -> ConfigMap {
        v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    #[test]
    fn types_a_models_config_with_dbt_defaults() {
        let c = NodeConfig::resolve(
            raw(json!({"materialized": "incremental", "unique_key": "id", "tags": "a", "full_refresh": "False"})),
            ResourceType::Model,
        )
        .unwrap();
        assert_eq!(c.materialized, Materialization::Incremental);
        assert_eq!(c.unique_key, ["id"]);
        assert_eq!(c.tags, ["a"]);
        assert_eq!(c.incremental_strategy, IncrementalStrategy::DeleteInsert);
        assert_eq!(c.on_schema_change, OnSchemaChange::Ignore);
        assert!(!c.refreshes_fully(true));
        assert!(c.enabled && c.test.is_none());
    }

    #[test]
    fn names_the_key_at_fault() {
        let err = |v: Json| NodeConfig::resolve(raw(v), ResourceType::Model).unwrap_err();
        let e = err(json!({"materialized": "tabel"}));
        assert_eq!((e.key.as_str(), e.help.as_deref()), ("materialized", Some("did you mean `table`?")));
        // An unknown strategy fails only the incremental runs that need it.
        let c = NodeConfig::resolve(raw(json!({"incremental_strategy": "microbatch"})), ResourceType::Model).unwrap();
        assert_eq!(c.strategy_error.unwrap().message, "incremental strategy `microbatch` is not supported");
        assert_eq!(err(json!({"unique_key": 3})).key, "unique_key");
        assert_eq!(err(json!({"on_schema_change": "syncall"})).key, "on_schema_change");
        let e = NodeConfig::resolve(raw(json!({"severity": "loud"})), ResourceType::Test).unwrap_err();
        assert_eq!(e.key, "severity");
    }
}
