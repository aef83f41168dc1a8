//! `silt show`: preview a model's or inline SQL's rows.

use anyhow::Result;
use silt::compile::{CompileOptions, compile, compile_inline};
use silt::parse::Materialization;
use silt::project::ResourceType;

use super::{Invocation, load, runtime, select};
use crate::cli::{Cli, Outcome, Printer, SelectArgs, ShowFormat, report_diagnostics};

pub fn run(
    cli: &Cli,
    printer: &Printer,
    args: &SelectArgs,
    inline: Option<&str>,
    limit: i64,
    output: ShowFormat,
) -> Result<Outcome> {
    if inline.is_none() && args.select.is_empty() {
        let d = silt::diagnostic::Diagnostic::error(
            "`silt show` needs `--inline SQL` or `--select MODEL`",
        );
        return Ok(report_diagnostics(printer, &d.into()));
    }
    let inv = Invocation::new("show");
    let loaded = match load(cli, printer, &inv, false)? {
        Ok(l) => l,
        Err(outcome) => return Ok(outcome),
    };
    let parsed = &loaded.parsed;
    let opts = CompileOptions {
        full_refresh: false,
        existing: silt::exec::existing_relations(parsed),
    };
    let (name, sql) = match inline {
        Some(sql) => match compile_inline(parsed, sql, &opts) {
            Ok(c) => ("inline_query".to_owned(), c.sql),
            Err(d) => return Ok(report_diagnostics(printer, &d.into())),
        },
        None => {
            let ids = match select(
                printer,
                &loaded,
                args,
                &[
                    ResourceType::Model,
                    ResourceType::Seed,
                    ResourceType::Analysis,
                ],
            ) {
                Ok(ids) => ids,
                Err(outcome) => return Ok(outcome),
            };
            let [id] = ids.as_slice() else {
                let d = silt::diagnostic::Diagnostic::error(format!(
                    "`silt show --select` needs exactly one model; the selection matches {}",
                    ids.len()
                ));
                return Ok(report_diagnostics(printer, &d.into()));
            };
            let node = parsed
                .node(id)
                .map(|n| (n.node.name.clone(), n.config.materialized, n.relation.render()));
            let Some((name, materialized, relation)) = node else {
                return Ok(Outcome::Failure);
            };
            if materialized == Materialization::Seed {
                (name, format!("select * from {relation}"))
            } else {
                let compiled = compile(parsed, std::slice::from_ref(id), &opts);
                match compiled.get(id) {
                    Some(Ok(c)) => (name, c.sql.clone()),
                    Some(Err(d)) => return Ok(report_diagnostics(printer, &d.clone().into())),
                    None => return Ok(Outcome::Failure),
                }
            }
        }
    };
    let session = silt::ops::session_with_views(parsed).map_err(|e| anyhow::anyhow!("{e}"))?;
    let preview = match runtime()?.block_on(silt::exec::show::preview(&session, &sql, limit)) {
        Ok(p) => p,
        Err(e) => {
            let d = silt::diagnostic::Diagnostic::error(format!("{}", e))
                .with_note(format!("while previewing `{name}`"));
            return Ok(report_diagnostics(printer, &d.into()));
        }
    };
    let text = match output {
        ShowFormat::Text => {
            printer.info(&if inline.is_some() {
                "Previewing inline node:".to_owned()
            } else {
                format!("Previewing node '{name}':")
            });
            preview.to_table().map_err(|e| anyhow::anyhow!("{e}"))?
        }
        ShowFormat::Csv => preview.to_csv().map_err(|e| anyhow::anyhow!("{e}"))?,
        ShowFormat::Json => {
            let rows = preview.to_json_rows().map_err(|e| anyhow::anyhow!("{e}"))?;
            format!(
                "{}\n",
                serde_json::to_string_pretty(&serde_json::json!({"node": name, "show": rows}))?
            )
        }
    };
    printer.out(&text);
    Ok(Outcome::Success)
}
