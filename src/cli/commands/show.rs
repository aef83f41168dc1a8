//! `silt show`: the preview printed as a table, CSV or JSON.

use std::sync::Arc;

use anyhow::Result;
use silt::commands::show::Options;

use super::{fail, header, load_options, selection};
use crate::cli::console::{Console, Mode};
use crate::cli::{Cli, Outcome, Printer, SelectArgs, ShowFormat};

pub fn run(
    cli: &Cli,
    printer: &Printer,
    args: &SelectArgs,
    inline: Option<&str>,
    limit: i64,
    output: ShowFormat,
) -> Result<Outcome> {
    let opts = Options {
        project: load_options(cli),
        selection: selection(args),
        inline: inline.map(str::to_owned),
        limit,
    };
    if opts.inline.is_some() || !opts.selection.select.is_empty() {
        header(printer);
    }
    let report = match silt::commands::show(&opts, Arc::new(Console::new(*printer, Mode::Other))) {
        Ok(r) => r,
        Err(e) => return fail(printer, e),
    };
    let (name, preview) = (&report.name, &report.preview);
    let text = match output {
        ShowFormat::Text => {
            printer.info(&if report.inline {
                "Previewing inline node:".to_owned()
            } else {
                format!("Previewing node '{name}':")
            });
            preview.to_table()?
        }
        ShowFormat::Csv => preview.to_csv()?,
        ShowFormat::Json => {
            let rows = preview.to_json_rows()?;
            format!("{}\n", serde_json::to_string_pretty(&serde_json::json!({"node": name, "show": rows}))?)
        }
    };
    printer.out(&text);
    Ok(Outcome::Success)
}
