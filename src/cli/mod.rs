//! The command line: clap definitions, one file per command in `commands/`, the
//! [`Printer`], and exit codes (0 success, 1 the project failed, 2 Silt failed).

mod commands;
mod console;
mod printer;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use printer::Printer;
use silt::diagnostic::Diagnostics;
use silt::settings::LoadOptions;

#[derive(Debug, Parser)]
#[command(
    name = "silt",
    version,
    about = "Turns a Git repository of SQL models into Delta Lake tables",
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Flags every command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The project folder (holding project.yml or dbt_project.yml).
    #[arg(long, global = true, env = "SILT_PROJECT_DIR", default_value = ".")]
    pub project_dir: PathBuf,
    /// Where profiles.yml is (default: the project folder, then ~/.silt/).
    #[arg(long, global = true, env = "SILT_PROFILES_DIR")]
    pub profiles_dir: Option<PathBuf>,
    /// The profile target to use (default: the profile's `target`).
    #[arg(long, short = 't', global = true)]
    pub target: Option<String>,
    /// Variables as YAML or JSON, e.g. '{start_date: 2024-01-01}'.
    #[arg(long, global = true)]
    pub vars: Option<String>,
    /// Worker threads (default: the target's `threads`).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// Print only errors (and data on standard output).
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
}

/// `silt docs ...`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum DocsCommand {
    /// Compile every node; write target/manifest.json and target/catalog.json (columns,
    /// types, row counts and sizes of what exists in the warehouse) in dbt's shapes,
    /// target/column_lineage.json, and the docs site in target/docs/ (opens from file://).
    Generate,
    /// Serve the site in target/docs/ over HTTP (run `silt docs generate` first).
    Serve {
        /// Port to listen on (0: any free port).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Address to listen on: loopback unless asked otherwise.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
    },
}

/// Node selection, in dbt's syntax.
#[derive(Debug, Clone, Args, Default)]
pub struct SelectArgs {
    /// Nodes to include: names, +x, x+, @x, tag:, path:, config.materialized:... (space for union, comma for intersection).
    #[arg(long, short = 's', alias = "models", short_alias = 'm', num_args = 1.., action = clap::ArgAction::Append)]
    pub select: Vec<String>,
    /// Nodes to leave out, same syntax.
    #[arg(long, num_args = 1.., action = clap::ArgAction::Append)]
    pub exclude: Vec<String>,
    /// A selection named in selectors.yml.
    #[arg(long)]
    pub selector: Option<String>,
    /// The folder of an earlier run's manifest.json, which `state:` selectors compare with.
    #[arg(long, env = "DBT_STATE", value_name = "DIR")]
    pub state: Option<std::path::PathBuf>,
}

/// Flags of commands that build things.
#[derive(Debug, Clone, Args, Default)]
pub struct BuildArgs {
    /// Rebuild incremental models and seeds from scratch.
    #[arg(long)]
    pub full_refresh: bool,
    /// Stop at the first failure.
    #[arg(long, short = 'x')]
    pub fail_fast: bool,
}

/// Flags of commands that run tests.
#[derive(Debug, Clone, Args, Default)]
pub struct TestArgs {
    /// Which tests join the selection through the nodes they test.
    #[arg(long, value_enum, default_value = "eager")]
    pub indirect_selection: IndirectArg,
    /// Keep every test's failing rows in a Delta table (`<schema>_dbt_test__audit`).
    #[arg(long)]
    pub store_failures: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum IndirectArg {
    /// A test runs when any node it tests is selected.
    #[default]
    Eager,
    /// Only when every node it tests is selected.
    Cautious,
    /// When every node it tests is selected or upstream of the selection.
    Buildable,
    /// Only tests selected by name.
    Empty,
}

impl IndirectArg {
    pub fn to_lib(self) -> silt::graph::IndirectSelection {
        use silt::graph::IndirectSelection as I;
        match self {
            IndirectArg::Eager => I::Eager,
            IndirectArg::Cautious => I::Cautious,
            IndirectArg::Buildable => I::Buildable,
            IndirectArg::Empty => I::Empty,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ResetArg {
    /// The oldest offset the partition still holds.
    Earliest,
    /// The end of the partition: what was not read is skipped.
    Latest,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ShowFormat {
    Text,
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LsFormat {
    Selector,
    Name,
    Path,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render models to SQL in target/compiled/ and write target/manifest.json.
    Compile {
        #[command(flatten)]
        select: SelectArgs,
        /// Compile this SQL (with Jinja) instead of the project's models.
        #[arg(long)]
        inline: Option<String>,
        #[arg(long)]
        full_refresh: bool,
        /// Compile every `ref` and `source` as an empty subquery, as `run --empty` runs.
        #[arg(long)]
        empty: bool,
    },
    /// List the project's resources.
    #[command(alias = "list")]
    Ls {
        #[command(flatten)]
        select: SelectArgs,
        /// What to print for each resource.
        #[arg(long, short = 'o', value_enum, default_value = "selector")]
        output: LsFormat,
        /// Only these resource types (model, seed, source, test, analysis...).
        #[arg(long = "resource-type", num_args = 1.., action = clap::ArgAction::Append)]
        resource_types: Vec<String>,
    },
    /// Load seed CSV files into tables.
    Seed {
        #[command(flatten)]
        select: SelectArgs,
        #[command(flatten)]
        build: BuildArgs,
        /// Print a random sample of each seed's table once loaded.
        #[arg(long)]
        show: bool,
    },
    /// Run the selected snapshots: keep each query's rows as history (`dbt_valid_from`,
    /// `dbt_valid_to`).
    Snapshot {
        #[command(flatten)]
        select: SelectArgs,
        #[command(flatten)]
        build: BuildArgs,
    },
    /// Build the selected models.
    Run {
        #[command(flatten)]
        select: SelectArgs,
        #[command(flatten)]
        build: BuildArgs,
        /// Read no rows: every `ref` and `source` is an empty subquery (to check the SQL
        /// and build the schemas).
        #[arg(long)]
        empty: bool,
    },
    /// Run the data tests and unit tests of the selected nodes.
    Test {
        #[command(flatten)]
        select: SelectArgs,
        #[command(flatten)]
        tests: TestArgs,
        /// Stop at the first failure.
        #[arg(long, short = 'x')]
        fail_fast: bool,
    },
    /// Seed, run and test the selected nodes in dependency order (a model's new data is
    /// published only once its tests pass), then write the docs as `silt docs generate`.
    Build {
        #[command(flatten)]
        select: SelectArgs,
        #[command(flatten)]
        build: BuildArgs,
        #[command(flatten)]
        tests: TestArgs,
        /// Skip the docs at the end (manifest, catalog, lineage and the site).
        #[arg(long)]
        no_docs: bool,
        /// Read no rows: every `ref` and `source` is an empty subquery (seeds still load).
        #[arg(long)]
        empty: bool,
    },
    /// Preview the rows of a model or of inline SQL.
    Show {
        #[command(flatten)]
        select: SelectArgs,
        /// SQL (with Jinja) to preview.
        #[arg(long)]
        inline: Option<String>,
        /// Rows to show; -1 for all.
        #[arg(long, default_value_t = 5, allow_negative_numbers = true)]
        limit: i64,
        #[arg(long, short = 'o', value_enum, default_value = "text")]
        output: ShowFormat,
    },
    /// Check the project and profile, and print the resolved target.
    Debug,
    /// Call a macro (`name` or `package.name`) against the warehouse, as dbt's
    /// run-operation: what it runs through `run_query` and `statement` is run.
    #[command(name = "run-operation")]
    RunOperation {
        /// The macro: `name` or `package.name`.
        #[arg(value_name = "MACRO")]
        macro_name: String,
        /// The macro's keyword arguments, as YAML or JSON: --args '{table: orders, days: 7}'.
        #[arg(long)]
        args: Option<String>,
    },
    /// Install the packages of packages.yml (or dependencies.yml) into dbt_packages/,
    /// locked in package-lock.yml.
    Deps {
        /// Resolve the packages again even if the lock matches their declarations.
        #[arg(long)]
        upgrade: bool,
        /// Only resolve and write package-lock.yml; install nothing.
        #[arg(long)]
        lock: bool,
    },
    /// Documentation artifacts.
    Docs {
        #[command(subcommand)]
        action: DocsCommand,
    },
    /// Consume the selected Kafka sources into their bronze Delta tables, exactly once.
    Ingest {
        #[command(flatten)]
        select: SelectArgs,
        /// Stop once every partition is read up to where it ended at the start.
        #[arg(long)]
        until_caught_up: bool,
        /// Stop after this many messages (per source table).
        #[arg(long)]
        max_messages: Option<u64>,
        /// Where to go when a partition's next offset no longer exists in Kafka.
        #[arg(long, value_enum)]
        reset_offsets: Option<ResetArg>,
    },
    /// Compact small files (optionally z-ordered), checkpoint, and vacuum the selected tables.
    Optimize {
        #[command(flatten)]
        select: SelectArgs,
        /// Z-order by these columns (comma-separated) instead of plain compaction.
        #[arg(long, value_delimiter = ',')]
        zorder: Vec<String>,
        /// Target file size, in megabytes.
        #[arg(long)]
        target_size_mb: Option<u64>,
        /// Delete files that no version younger than the retention still uses.
        #[arg(long)]
        vacuum: bool,
        /// The vacuum's retention, in hours (Delta's default: 168, a week).
        #[arg(long, default_value_t = 168, requires = "vacuum")]
        retention_hours: i64,
    },
    /// Produce chat to a Kafka topic: synthetic, replayed from a file, or live from Twitch.
    Produce {
        /// The topic (default: the topic of the project's only Kafka source).
        #[arg(long)]
        topic: Option<String>,
        /// Generate N synthetic chat messages.
        #[arg(long, value_name = "N", conflicts_with_all = ["replay", "channels"])]
        synthetic: Option<u64>,
        /// The synthetic chat's seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// The first synthetic message to send (to continue a sample).
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Replay a file of raw IRC lines or JSON lines.
        #[arg(long, value_name = "FILE", conflicts_with = "channels")]
        replay: Option<PathBuf>,
        /// Join these Twitch channels (comma-separated) and produce their chat live.
        #[arg(long, value_delimiter = ',')]
        channels: Vec<String>,
        /// Messages per second (default: as fast as possible).
        #[arg(long)]
        rate: Option<f64>,
        /// Stop after this many messages (live chat).
        #[arg(long)]
        max_messages: Option<u64>,
    },
}

/// What a command's outcome means for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The project failed: a model, a test, a config error.
    Failure,
}

impl GlobalArgs {
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            project_dir: self.project_dir.clone(),
            profiles_dir: self.profiles_dir.clone(),
            target: self.target.clone(),
            vars: self.vars.clone(),
            threads: self.threads,
        }
    }
}

/// Prints every diagnostic and returns the failure outcome.
pub fn report_diagnostics(printer: &Printer, diags: &Diagnostics) -> Outcome {
    let mut errors = Diagnostics::new();
    for d in &diags.0 {
        if d.is_error() {
            errors.push(d.clone());
        } else if !printer.quiet {
            printer.err_raw(&format!("{}\n", d.render(printer.color)));
        }
    }
    printer.err_raw(&errors.render(printer.color));
    if errors.is_empty() {
        Outcome::Success
    } else {
        Outcome::Failure
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let printer = Printer::new(cli.global.quiet);
    let result = commands::dispatch(&cli, &printer);
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failure) => ExitCode::from(1),
        Err(e) => {
            // A reader that went away is not a failure (e.g. `silt ls | head`).
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            printer.err_raw(&format!(
                "{} {e:#}\n",
                printer.paint(printer::Paint::Red, "error:")
            ));
            ExitCode::from(2)
        }
    }
}
