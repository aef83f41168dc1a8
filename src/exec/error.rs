//! What goes wrong while executing a node: a kind (which decides how dbt labels it), the
//! message a user reads, the node and the place it concerns when known, and the cause.
//!
//! DataFusion's and delta-rs's errors convert with `?`; their message is reduced to the root
//! cause as a user reads it ([`clean`], [`clean_delta`]), and the original is kept as the
//! source.

use std::path::{Path, PathBuf};

use deltalake::DeltaTableError;
use deltalake::arrow::error::ArrowError;
use deltalake::datafusion::error::DataFusionError;

use crate::diagnostic::{Diagnostic, Span};

/// The class of an execution error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The node's SQL does not plan: unknown table or column, type error...
    Sql,
    /// The query failed while running.
    Execution,
    /// A Delta operation failed.
    Delta,
    /// The new data does not fit the existing table (on_schema_change, seeds).
    Schema,
    /// A seed file could not be read or typed.
    Seed,
    /// The model's result breaks its enforced contract.
    Contract,
    /// The model's new data failed its checks and was not published.
    Audit,
    /// A compile error surfaced at run time (a unit test's YAML, a node that did not compile).
    Compile,
    /// A file or folder could not be read or written.
    Io,
    /// The engine itself failed to start.
    Engine,
}

/// Something that went wrong while executing a node.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExecError {
    kind: ErrorKind,
    message: String,
    /// Where it happened, when known (boxed: most errors never learn it, and results
    /// carrying the error stay small).
    place: Option<Box<Place>>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// Where an execution error happened.
#[derive(Debug, Default)]
struct Place {
    /// The node it happened in, once the runner knows it.
    node: Option<String>,
    /// The Delta table concerned.
    table: Option<PathBuf>,
    /// Where in the project the cause is written.
    span: Option<Span>,
}

/// `ExecError::sql(message)` and the like: an error of one kind with its message.
macro_rules! kinds {
    ($($name:ident => $kind:ident,)*) => {
        $(
            #[doc = concat!("An error of kind [`ErrorKind::", stringify!($kind), "`].")]
            pub fn $name(message: impl Into<String>) -> ExecError {
                ExecError::new(ErrorKind::$kind, message)
            }
        )*
    };
}

impl ExecError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ExecError {
        ExecError {
            kind,
            message: message.into(),
            place: None,
            source: None,
        }
    }

    kinds! {
        sql => Sql,
        execution => Execution,
        schema => Schema,
        seed => Seed,
        contract => Contract,
        audit => Audit,
        compile => Compile,
    }

    /// The engine itself failed to start.
    pub fn engine(message: impl Into<String>) -> ExecError {
        ExecError::new(ErrorKind::Engine, format!("DataFusion: {}", message.into()))
    }

    /// A compile-time diagnostic met at run time: its rendering is the message, its span
    /// is kept.
    pub fn diagnostic(d: &Diagnostic) -> ExecError {
        let e = ExecError::compile(d.render(false).trim_end());
        match &d.span {
            Some(span) => e.with_span(span.clone()),
            None => e,
        }
    }

    /// A file or folder that could not be used.
    pub fn io(path: &Path, source: std::io::Error) -> ExecError {
        ExecError::new(ErrorKind::Io, format!("cannot access `{}`: {source}", path.display())).with_source(source)
    }

    /// A Delta operation on the table in `dir` that failed.
    pub fn delta(dir: &Path, e: DeltaTableError) -> ExecError {
        ExecError::new(ErrorKind::Delta, clean_delta(&e)).on_table(dir).with_source(e)
    }

    /// A failure on the table in `dir` that Delta did not report itself.
    pub fn delta_message(dir: &Path, message: impl Into<String>) -> ExecError {
        ExecError::new(ErrorKind::Delta, message).on_table(dir)
    }

    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> ExecError {
        self.source = Some(Box::new(source));
        self
    }

    /// The node the error happened in (kept when one is already set).
    pub fn for_node(mut self, unique_id: &str) -> ExecError {
        self.place_mut().node.get_or_insert_with(|| unique_id.to_owned());
        self
    }

    pub fn with_span(mut self, span: Span) -> ExecError {
        self.place_mut().span = Some(span);
        self
    }

    pub fn on_table(mut self, dir: &Path) -> ExecError {
        self.place_mut().table = Some(dir.to_path_buf());
        self
    }

    fn place_mut(&mut self) -> &mut Place {
        self.place.get_or_insert_with(Box::default)
    }

    /// The same error with another message (the kind, node, place and cause kept).
    pub fn map_message(mut self, f: impl FnOnce(String) -> String) -> ExecError {
        self.message = f(self.message);
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn node(&self) -> Option<&str> {
        self.place.as_ref()?.node.as_deref()
    }

    pub fn span(&self) -> Option<&Span> {
        self.place.as_ref()?.span.as_ref()
    }

    pub fn table(&self) -> Option<&Path> {
        self.place.as_ref()?.table.as_deref()
    }

    /// dbt's label for the error class, used in console summaries.
    pub fn label(&self) -> &'static str {
        match self.kind {
            ErrorKind::Compile | ErrorKind::Contract => "Compilation Error",
            _ => "Runtime Error",
        }
    }
}

impl From<DataFusionError> for ExecError {
    fn from(e: DataFusionError) -> ExecError {
        let kind = match e.find_root() {
            DataFusionError::SQL(..)
            | DataFusionError::Plan(_)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(_) => ErrorKind::Sql,
            _ => ErrorKind::Execution,
        };
        ExecError::new(kind, clean(&e)).with_source(e)
    }
}

impl From<DeltaTableError> for ExecError {
    fn from(e: DeltaTableError) -> ExecError {
        ExecError::new(ErrorKind::Delta, clean_delta(&e)).with_source(e)
    }
}

impl From<ArrowError> for ExecError {
    fn from(e: ArrowError) -> ExecError {
        ExecError::new(ErrorKind::Execution, e.to_string()).with_source(e)
    }
}

/// A DataFusion error as a user reads it: the root cause, without the variant prefix.
pub fn clean(e: &DataFusionError) -> String {
    let root = e.find_root();
    if let DataFusionError::External(inner) = root {
        if let Some(d) = inner.downcast_ref::<DeltaTableError>() {
            return clean_delta(d);
        }
        return inner.to_string();
    }
    let msg = root.message().into_owned();
    // SQL parser errors come out in Debug form: ParserError("...").
    match msg
        .strip_prefix("ParserError(\"")
        .and_then(|m| m.strip_suffix("\")"))
    {
        Some(inner) => inner.replace("\\\"", "\""),
        None => msg,
    }
}

/// A Delta error as a user reads it.
pub fn clean_delta(e: &DeltaTableError) -> String {
    let text = e.to_string();
    for prefix in [
        "Generic DeltaTable error: ",
        "Generic error: ",
        "External error: ",
        "Execution error: ",
        "Error during planning: ",
    ] {
        if let Some(rest) = text.strip_prefix(prefix) {
            return strip_prefixes(rest);
        }
    }
    text
}

fn strip_prefixes(mut s: &str) -> String {
    loop {
        let before = s;
        for prefix in [
            "External error: ",
            "Execution error: ",
            "Generic DeltaTable error: ",
            "Error during planning: ",
            "Arrow error: ",
        ] {
            if let Some(rest) = s.strip_prefix(prefix) {
                s = rest;
            }
        }
        if s == before {
            return s.to_owned();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_with_the_root_cause_as_message_and_the_original_as_source() {
        let e: ExecError = DataFusionError::Plan("table 'x' not found".into()).into();
        assert_eq!((e.kind(), e.to_string().as_str()), (ErrorKind::Sql, "table 'x' not found"));
        assert!(std::error::Error::source(&e).is_some());
        let e = ExecError::execution("boom").for_node("model.p.a").for_node("model.p.b");
        assert_eq!((e.node(), e.label()), (Some("model.p.a"), "Runtime Error"));
        assert_eq!(ExecError::contract("x").label(), "Compilation Error");
    }
}
