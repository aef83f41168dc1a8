//! `silt run-operation`: calls one macro, with `--args` as its keyword arguments and the
//! warehouse at hand (`run_query`, `statement`, `adapter.*`), as dbt's `run-operation`.
//! What the macro renders is not run; what it runs through those calls is. The result is
//! one entry in `run_results.json`, under the macro's unique id.

use std::sync::Arc;

use chrono::Utc;
use serde_json::Value as Json;

use super::{CommandError, Events, Selectors, invocation, load, runtime, write_artifact};
use crate::Loaded;
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::exec::{NodeResult, Status, Timing};
use crate::settings::LoadOptions;

/// Which macro to call, and with what.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub project: LoadOptions,
    /// `name` or `package.name`.
    pub macro_name: String,
    /// `--args` as YAML or JSON text: a mapping of keyword arguments.
    pub args: Option<String>,
}

/// How the call went.
pub struct Report {
    pub loaded: Loaded,
    /// The operation's result (its error when it failed).
    pub result: NodeResult,
}

/// `silt run-operation`.
pub fn run_operation(opts: &Options, events: Arc<dyn Events>) -> Result<Report, CommandError> {
    let inv = invocation("run-operation", &opts.project, &Selectors::default(), false);
    let args = match opts.args.as_deref().map(crate::yaml::parse_inline) {
        None | Some(Ok(Json::Null)) => Json::Object(Default::default()),
        Some(Ok(Json::Object(m))) => Json::Object(m),
        Some(Ok(other)) => {
            return Err(CommandError::Project(
                Diagnostic::error(format!("`--args` must be a mapping of the macro's arguments, not `{other}`"))
                    .with_help("for example --args '{table: orders, days: 7}'")
                    .into(),
            ));
        }
        Some(Err(e)) => {
            return Err(CommandError::Project(Diagnostic::error(format!("`--args` is neither YAML nor JSON: {e}")).into()));
        }
    };
    let loaded = load(&opts.project, &inv, false, false, events.as_ref())?;
    let parsed = &loaded.parsed;
    let root = parsed.project.settings.project.name.clone();
    let (package, name) = match opts.macro_name.split_once('.') {
        Some((p, n)) => (Some(p), n),
        None => (None, opts.macro_name.as_str()),
    };
    let def = match package {
        Some(p) => parsed.templates.macro_in(p, name),
        None => parsed.templates.macro_for(&root, name),
    };
    let Some(def) = def else {
        let known: Vec<&str> = parsed.templates.macros().map(|m| m.name.as_str()).collect();
        let mut d = Diagnostic::error(format!("no macro named `{}` in the project or its packages", opts.macro_name));
        if let Some(s) = did_you_mean(name, known.iter().copied()) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        return Err(CommandError::Project(d.into()));
    };
    let unique_id = def.unique_id();
    let call = match package {
        Some(p) => format!("{{{{ {p}.{name}(**__silt_operation_args) }}}}"),
        None => format!("{{{{ {name}(**__silt_operation_args) }}}}"),
    };
    let rt = runtime()?;
    let started = Utc::now();
    let clock = std::time::Instant::now();
    let outcome = crate::exec::session_with_views(parsed)
        .map_err(|e| Diagnostic::error(e.to_string()))
        .and_then(|session| {
            let warehouse = crate::exec::warehouse::SessionWarehouse::new(session, rt.handle().clone());
            crate::compile::render_run_hook(
                parsed,
                &def.package,
                &format!("macro_{name}"),
                &call,
                vec![("__silt_operation_args", args)],
                Some(warehouse),
            )
        });
    let completed = Utc::now();
    let mut result = NodeResult::new(&unique_id, Status::Success);
    result.execution_time = clock.elapsed().as_secs_f64();
    result.thread_id = "main".to_owned();
    result.timing = vec![Timing { name: "execute", started_at: started, completed_at: completed }];
    result.failures = Some(0);
    if let Err(mut d) = outcome {
        // The call is rendered as a hook is; the message names the macro alone.
        d.message = d.message.replacen(&format!("in hook macro_{name}: "), "", 1);
        result.status = Status::Error;
        result.failures = Some(1);
        result.error_label = Some("Runtime Error");
        result.message = Some(d.render(false).trim_end().to_owned());
    }
    let run_results = crate::report::run_results(parsed, std::slice::from_ref(&result), &inv, result.execution_time);
    write_artifact(&parsed.project.settings.target_dir().join("run_results.json"), &run_results)?;
    Ok(Report { loaded, result })
}
