//! Tests that run the `silt` binary on fixture projects: console output (snapshotted with
//! times redacted), exit codes, and the files it writes.

use std::path::Path;
use std::process::Command;

mod browser;
#[path = "../common/mod.rs"]
mod common;

use common::{copy_dir, fixture};

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn silt(dir: &Path, args: &[&str]) -> Output {
    silt_env(dir, args, &[])
}

fn silt_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_silt"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env("HOME", dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let what = format!("silt {}", args.join(" "));
    let out = output_within(&mut cmd, COMMAND_LIMIT, &what);
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: redact(&String::from_utf8_lossy(&out.stderr), dir),
    }
}

/// How long one command may take before a test gives up on it. Far beyond what any takes
/// here (a debug build of the reference project takes seconds), so that a command that
/// hangs fails its test with what it printed instead of stalling the whole run.
const COMMAND_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

/// Runs `cmd` to completion with its output captured, killing it and failing the test
/// (with what it printed so far) if it takes longer than `limit`.
fn output_within(cmd: &mut Command, limit: std::time::Duration, what: &str) -> std::process::Output {
    use std::process::Stdio;
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    wait_within(child, limit, what)
}

/// Waits for `child` (its piped output read meanwhile) for at most `limit`; past it the
/// child is killed and the test fails naming it, with what it printed.
fn wait_within(mut child: std::process::Child, limit: std::time::Duration, what: &str) -> std::process::Output {
    use std::io::Read;
    fn drain<R: Read + Send + 'static>(r: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    }
    let (out, err) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for a child") {
            break Some(status);
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    match status {
        Some(status) => std::process::Output { status, stdout, stderr },
        None => panic!(
            "`{what}` did not finish within {} s and was killed; it printed:\n{}\n{}",
            limit.as_secs(),
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        ),
    }
}

/// Replaces what changes from run to run: clock times, durations, the temp folder.
fn redact(text: &str, dir: &Path) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut l = line.to_owned();
        if l.len() >= 10 && l.as_bytes()[2] == b':' && l.as_bytes()[5] == b':' && &l[8..10] == "  "
        {
            l = format!("[time]{}", &l[8..]);
        }
        if let Some(i) = l.find(" in ").filter(|i| l[i + 4..].contains(" hours ")) {
            l = format!("{} in [elapsed]", &l[..i]);
        }
        // Every " in <digits...>s" becomes " in [t]".
        let mut redacted = String::new();
        let mut rest = l.as_str();
        while let Some(i) = rest.find(" in ") {
            let after = &rest[i + 4..];
            if after.starts_with(|c: char| c.is_ascii_digit()) {
                let end = after.find('s').map_or(after.len(), |e| e + 1);
                redacted.push_str(&rest[..i]);
                redacted.push_str(" in [t]");
                rest = &after[end..];
            } else {
                redacted.push_str(&rest[..i + 4]);
                rest = after;
            }
        }
        redacted.push_str(rest);
        let l = redacted;
        out.push_str(&l.replace(&dir.display().to_string(), "[dir]"));
        out.push('\n');
    }
    out
}

#[test]
fn seed_and_run_report_like_dbt() {
    let dir = fixture("mat");
    let d = dir.path();
    let seed = silt(d, &["seed", "--threads", "1"]);
    assert_eq!(seed.code, 0, "{}", seed.stderr);
    insta::assert_snapshot!("seed", seed.stderr);
    let run = silt(
        d,
        &[
            "run",
            "--threads",
            "1",
            "--select",
            "+child_of_failing",
            "vw",
            "--vars",
            "{break: true}",
        ],
    );
    assert_eq!(run.code, 1, "a failed model exits 1");
    insta::assert_snapshot!("run_with_failure", run.stderr);
    assert_eq!(run.stdout, "", "progress goes to standard error");
}

#[test]
fn run_results_and_manifest_follow_dbts_shapes() {
    let dir = fixture("mat");
    let d = dir.path();
    assert_eq!(silt(d, &["seed"]).code, 0);
    let run = silt(
        d,
        &[
            "run",
            "-s",
            "tbl",
            "vw",
            "failing+",
            "--vars",
            "{break: true}",
        ],
    );
    assert_eq!(run.code, 1);
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("target/run_results.json")).unwrap())
            .unwrap();
    assert_eq!(
        results["metadata"]["dbt_schema_version"],
        "https://schemas.getdbt.com/dbt/run-results/v6.json"
    );
    let by_id = |id: &str| {
        results["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["unique_id"] == id)
            .cloned()
            .unwrap()
    };
    let tbl = by_id("model.mat.tbl");
    assert_eq!(tbl["status"], "success");
    assert_eq!(tbl["message"], "OK");
    assert_eq!(tbl["adapter_response"]["rows_affected"], 6);
    assert_eq!(tbl["relation_name"], r#""silt"."main"."tbl""#);
    assert_eq!(tbl["timing"].as_array().unwrap().len(), 2);
    assert!(tbl["execution_time"].as_f64().unwrap() >= 0.0);
    assert!(
        tbl["compiled_code"]
            .as_str()
            .unwrap()
            .contains(r#"from "main"."events""#)
    );
    let failing = by_id("model.mat.failing");
    assert_eq!(failing["status"], "error");
    assert!(
        failing["message"]
            .as_str()
            .unwrap()
            .contains("no_such_column")
    );
    assert_eq!(by_id("model.mat.child_of_failing")["status"], "skipped");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("target/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(
        manifest["metadata"]["dbt_schema_version"],
        "https://schemas.getdbt.com/dbt/manifest/v12.json"
    );
    let node = &manifest["nodes"]["model.mat.uses_eph"];
    assert_eq!(node["resource_type"], "model");
    assert_eq!(node["fqn"], serde_json::json!(["mat", "uses_eph"]));
    assert_eq!(node["config"]["materialized"], "table");
    assert_eq!(
        node["depends_on"]["nodes"],
        serde_json::json!(["model.mat.eph"])
    );
    assert_eq!(node["checksum"]["name"], "sha256");
    assert_eq!(
        manifest["child_map"]["seed.mat.events"]
            .as_array()
            .unwrap()
            .len()
            >= 3,
        true
    );
    assert_eq!(
        manifest["parent_map"]["model.mat.vw"],
        serde_json::json!(["model.mat.tbl"])
    );
    assert!(
        manifest["sources"].is_object()
            && manifest["macros"]["macro.dbt.generate_schema_name"].is_object()
    );
    // Compiled and run SQL land where dbt puts them.
    assert!(d.join("target/compiled/mat/models/tbl.sql").is_file());
    assert!(
        std::fs::read_to_string(d.join("target/run/mat/models/tbl.sql"))
            .unwrap()
            .starts_with("-- silt: replace table")
    );
}

#[test]
fn ls_lists_resources_sorted_by_unique_id() {
    let dir = fixture("selection");
    let ls = silt(dir.path(), &["ls", "-q"]);
    assert_eq!(ls.code, 0, "{}", ls.stderr);
    insta::assert_snapshot!("ls", ls.stdout);
    let names = silt(
        dir.path(),
        &["ls", "-q", "--select", "+fct", "--output", "name"],
    );
    assert_eq!(names.stdout, "fct\nstg_a\nstg_b\nraw_a\n");
    let paths = silt(dir.path(), &["ls", "-q", "-s", "fct", "--output", "path"]);
    assert_eq!(paths.stdout, "models/marts/fct.sql\n");
    let json = silt(dir.path(), &["ls", "-q", "-s", "fct", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(v["unique_id"], "model.sel.fct");
    assert_eq!(v["config"]["materialized"], "table");
    assert_eq!(v["tags"], serde_json::json!(["nightly"]));
    assert_eq!(
        v["depends_on"]["nodes"],
        serde_json::json!(["model.sel.stg_a", "model.sel.stg_b"])
    );
    let sources = silt(dir.path(), &["ls", "-q", "--resource-type", "source"]);
    assert_eq!(sources.stdout, "source:sel.raw.events\n");
}

#[test]
fn show_previews_in_three_formats() {
    let dir = fixture("mat");
    let d = dir.path();
    assert_eq!(silt(d, &["seed", "-q"]).code, 0);
    let text = silt(
        d,
        &[
            "show",
            "-q",
            "--inline",
            "select id, kind, amount / 4 as quarter, day from {{ ref('events') }} order by id, amount",
            "--limit",
            "3",
        ],
    );
    assert_eq!(text.code, 0, "{}", text.stderr);
    insta::assert_snapshot!("show_text", text.stdout);
    let csv = silt(
        d,
        &[
            "show", "-q", "--select", "events", "--limit", "-1", "--output", "csv",
        ],
    );
    assert_eq!(
        csv.stdout.lines().count(),
        7,
        "header and every row:\n{}",
        csv.stdout
    );
    let json = silt(
        d,
        &[
            "show",
            "-q",
            "--inline",
            "select 1 as a, null as b",
            "--output",
            "json",
        ],
    );
    assert_eq!(
        json.stdout.trim(),
        "{\n  \"node\": \"inline_query\",\n  \"show\": [\n    {\n      \"a\": 1,\n      \"b\": null\n    }\n  ]\n}"
    );
    let bad = silt(
        d,
        &[
            "show",
            "-q",
            "--inline",
            "select nope from {{ ref('events') }}",
        ],
    );
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("nope"), "{}", bad.stderr);
}

#[test]
fn compile_prints_a_single_node_and_inline_sql() {
    let dir = fixture("jinja");
    let one = silt(dir.path(), &["compile", "-q", "--select", "eph_ids"]);
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert_eq!(one.stdout, "\nselect id from \"main\".\"stg_orders\"\n");
    let inline = silt(
        dir.path(),
        &[
            "compile",
            "-q",
            "--inline",
            "select * from {{ ref('eph_ids') }}",
        ],
    );
    assert_eq!(
        inline.stdout,
        "with __dbt__cte__eph_ids as (\n\nselect id from \"main\".\"stg_orders\"\n) select * from __dbt__cte__eph_ids\n"
    );
    assert!(
        dir.path()
            .join("target/compiled/jinja_shop/models/staging/eph_ids.sql")
            .is_file()
    );
    assert!(dir.path().join("target/manifest.json").is_file());
}

#[test]
fn env_var_in_profiles() {
    let dir = fixture("jinja");
    let out = silt_env(dir.path(), &["debug"], &[("SILT_TEST_SCHEMA", "from_env")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("schema: from_env"), "{}", out.stderr);
}

#[test]
fn debug_reports_the_resolved_target() {
    let dir = fixture("jinja");
    let out = silt(dir.path(), &["debug"]);
    assert_eq!(out.code, 0);
    insta::assert_snapshot!("debug", out.stderr);
    let bad = fixture("err_profile_type");
    let out = silt(bad.path(), &["debug"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("target type `duckdb` is not supported"));
}

/// Regression: `silt run` installed Ctrl-C and SIGTERM handlers for every run (a build's
/// Kafka catch-up watches them), so the signals no longer ended a run whose model was
/// running. They must end it, as they did: only a catch-up or an ingestion waits for its
/// batch.
#[test]
fn a_run_ends_on_sigterm_and_sigint_while_a_model_runs() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::ExitStatusExt;
    for signal in ["TERM", "INT"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("models")).unwrap();
        std::fs::write(dir.path().join("project.yml"), "name: slow\nprofile: slow\n").unwrap();
        std::fs::write(
            dir.path().join("profiles.yml"),
            "slow:\n  target: dev\n  outputs:\n    dev:\n      type: datafusion\n      warehouse: warehouse\n      schema: main\n",
        )
        .unwrap();
        // Minutes of work if nothing stops it.
        std::fs::write(
            dir.path().join("models/slow.sql"),
            "{{ config(materialized='table') }}\nselect count(*) as n from generate_series(1, 100000000000)",
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_silt"))
            .args(["run"])
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn silt");
        // Signal once the model has started (the handlers, if any, are installed by then).
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = String::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("START sql table model main.slow") {
                break;
            }
        }
        assert!(seen.contains("START sql table model main.slow"), "the model did not start:\n{seen}");
        let pid = child.id().to_string();
        assert!(Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap().success());
        std::thread::spawn(move || lines.for_each(drop));
        let out = wait_within(child, std::time::Duration::from_secs(120), &format!("silt run after SIG{signal}"));
        let expected = if signal == "TERM" { 15 } else { 2 };
        assert_eq!(out.status.signal(), Some(expected), "SIG{signal} did not end the run: {:?}", out.status);
        assert!(!dir.path().join("warehouse/main/slow/_delta_log").exists(), "nothing was written");
    }
}

#[test]
fn exit_codes() {
    let dir = fixture("err_missing_ref");
    let out = silt(dir.path(), &["run"]);
    assert_eq!(out.code, 1, "a project error exits 1");
    assert!(out.stderr.contains("did you mean `customers`?"));
    let out = silt(dir.path(), &["run", "--vars", "[1, 2]"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("`--vars` must be a mapping"),
        "{}",
        out.stderr
    );
    let empty = tempfile::tempdir().unwrap();
    let out = silt(empty.path(), &["ls"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("no `project.yml` or `dbt_project.yml`"));
    let out = silt(empty.path(), &["no-such-command"]);
    assert_eq!(out.code, 2, "bad usage exits 2");
}

#[test]
fn no_color_without_a_terminal_or_with_no_color() {
    let dir = fixture("selection");
    for env in [vec![], vec![("NO_COLOR", "1")]] {
        let out = silt_env(dir.path(), &["seed"], &env);
        assert!(
            !out.stderr.contains('\u{1b}'),
            "escape codes in: {}",
            out.stderr
        );
    }
}

#[test]
fn fail_fast_stops_at_the_first_failure() {
    let dir = fixture("mat");
    let d = dir.path();
    assert_eq!(silt(d, &["seed", "-q"]).code, 0);
    let out = silt(
        d,
        &[
            "run",
            "--fail-fast",
            "--threads",
            "1",
            "--vars",
            "{break: true}",
        ],
    );
    assert_eq!(out.code, 1);
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("target/run_results.json")).unwrap())
            .unwrap();
    let statuses: Vec<&str> = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert!(statuses.contains(&"skipped"), "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == "error").count(),
        1,
        "{statuses:?}"
    );
}

#[test]
fn profiles_are_found_by_flag_then_project_then_home() {
    let dir = fixture("selection");
    let project = dir.path();
    let elsewhere = tempfile::tempdir().unwrap();
    // --project-dir from another folder.
    let out = silt(
        elsewhere.path(),
        &[
            "ls",
            "-q",
            "--project-dir",
            project.to_str().unwrap(),
            "-s",
            "fct",
        ],
    );
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "sel.marts.fct\n"),
        "{}",
        out.stderr
    );
    // --profiles-dir wins over the project folder.
    let profiles = tempfile::tempdir().unwrap();
    std::fs::write(
        profiles.path().join("profiles.yml"),
        "sel:\n  target: other\n  outputs:\n    other:\n      type: datafusion\n      warehouse: w2\n      schema: from_flag\n",
    )
    .unwrap();
    let out = silt(
        project,
        &["debug", "--profiles-dir", profiles.path().to_str().unwrap()],
    );
    assert!(out.stderr.contains("schema: from_flag"), "{}", out.stderr);
    // Without a profiles.yml in the project, ~/.silt/ is used (HOME is the temp folder here).
    std::fs::remove_file(project.join("profiles.yml")).unwrap();
    std::fs::create_dir_all(project.join(".silt")).unwrap();
    std::fs::copy(
        profiles.path().join("profiles.yml"),
        project.join(".silt/profiles.yml"),
    )
    .unwrap();
    let out = silt(project, &["debug"]);
    assert!(out.stderr.contains("schema: from_flag"), "{}", out.stderr);
}

#[test]
fn test_prints_each_test_then_the_failures_with_their_rows() {
    let dir = fixture("testing");
    let d = dir.path();
    assert_eq!(silt(d, &["seed"]).code, 0);
    assert_eq!(silt(d, &["run"]).code, 0);
    // recency compares with the clock: left out so the output is the same every day.
    let out = silt(
        d,
        &["test", "--threads", "1", "--exclude", "test_name:recency"],
    );
    assert_eq!(out.code, 1, "a failing test exits 1\n{}", out.stderr);
    insta::assert_snapshot!("test", out.stderr);
    // run_results.json carries each test's status and failure count.
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.join("target/run_results.json")).unwrap(),
    )
    .unwrap();
    let of = |name: &str| {
        results["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["unique_id"].as_str().unwrap().contains(name))
            .cloned()
            .unwrap_or_else(|| panic!("{name} not in run_results"))
    };
    assert_eq!(of("at_most_events_t_amount__650")["status"], "warn");
    assert_eq!(of("at_most_events_t_amount__650")["failures"], 2);
    assert_eq!(of("unique_events_t_id")["status"], "pass");
    assert_eq!(of("unique_events_t_id")["failures"], 0);
    assert_eq!(of("a_failing_unit_test")["status"], "fail");
    // Compiled SQL of generic tests is where dbt puts it.
    assert!(d
        .join("target/compiled/testing/models/schema.yml/unique_events_t_id.sql")
        .is_file());
    // Warnings alone exit 0.
    let warn = silt(d, &["test", "--select", "config.severity:warn", "--exclude", "test_name:recency"]);
    assert_eq!(warn.code, 0, "{}", warn.stderr);
    assert!(warn.stderr.contains("Completed with 3 warnings:"), "{}", warn.stderr);
    // The manifest describes generic tests and unit tests as dbt does.
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.join("target/manifest.json")).unwrap(),
    )
    .unwrap();
    let node = manifest["nodes"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| k.starts_with("test.testing.relationships_user_totals_user_id__id__ref_users_."))
        .map(|(_, v)| v.clone())
        .expect("relationships test in the manifest");
    assert_eq!(node["test_metadata"]["name"], "relationships");
    assert_eq!(node["test_metadata"]["kwargs"]["to"], "ref('users')");
    assert_eq!(node["column_name"], "user_id");
    assert_eq!(node["attached_node"], "model.testing.user_totals");
    let mut deps: Vec<String> = node["depends_on"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    deps.sort();
    assert_eq!(deps, vec!["model.testing.user_totals", "seed.testing.users"]);
    assert!(manifest["unit_tests"]["unit_test.testing.user_totals.sums_amounts_per_user"].is_object());
}

#[test]
fn build_publishes_nothing_that_fails_its_tests() {
    let dir = fixture("audit");
    let d = dir.path();
    let good = silt(d, &["build", "--threads", "1"]);
    assert_eq!(good.code, 0, "{}", good.stderr);
    insta::assert_snapshot!("build", good.stderr);
    let bad = silt(d, &["build", "--threads", "1", "--vars", "{bad: true}"]);
    assert_eq!(bad.code, 1);
    insta::assert_snapshot!("build_with_failing_tests", bad.stderr);
}

/// `silt build` ends with the docs unless `--no-docs`, and target/node_status.json keeps
/// each node's last result across commands (a `silt test` does not hide the last run).
#[test]
fn build_writes_the_docs_unless_told_not_to_and_last_results_are_kept() {
    let dir = fixture("audit");
    let d = dir.path();
    let status = |id: &str| -> serde_json::Value {
        let all: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("target/node_status.json")).unwrap()).unwrap();
        all["nodes"][id].clone()
    };
    let quiet = silt(d, &["build", "--threads", "1", "--no-docs"]);
    assert_eq!(quiet.code, 0, "{}", quiet.stderr);
    assert!(!quiet.stderr.contains("Docs:") && !d.join("target/docs").exists(), "{}", quiet.stderr);
    let built = status("model.audit.daily");
    assert_eq!(built["status"], "success", "{built}");
    let tested = silt(d, &["test", "--threads", "1"]);
    assert_eq!(tested.code, 0, "{}", tested.stderr);
    // The run's result is still there, unchanged, beside the tests'.
    assert_eq!(status("model.audit.daily"), built);
    let all: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("target/node_status.json")).unwrap()).unwrap();
    let tests: Vec<&serde_json::Value> = all["nodes"].as_object().unwrap().iter().filter(|(k, _)| k.starts_with("test.")).map(|(_, v)| v).collect();
    assert!(!tests.is_empty() && tests.iter().all(|t| t["status"] == "pass"), "{all}");
    assert_ne!(tests[0]["invocation_id"], built["invocation_id"]);
    let docs = silt(d, &["build", "--threads", "1"]);
    assert_eq!(docs.code, 0, "{}", docs.stderr);
    assert!(docs.stderr.contains("Docs: ./target/docs/index.html"), "{}", docs.stderr);
    assert!(d.join("target/docs/index.html").is_file() && d.join("target/docs/data/chunk-0.js").is_file());
}

/// The README's first command: the reference project at the repository root runs end to
/// end on the embedded Kafka (bronze, silver, gold) and every one of its tests passes; a
/// second build after more messages reads only those, and one with none writes nothing.
#[test]
fn reference_project_builds_and_passes_its_tests() {
    let dir = reference_project();
    let d = dir.path();
    let out = silt(d, &["build"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains(" WARN=0 ERROR=0 SKIP=0 "), "{}", out.stderr);
    assert!(out.stderr.contains("twitch.chat_bronze: 20000 new messages, 20000 rows committed"), "{}", out.stderr);
    // The closing summary: rows per layer, and the tests.
    let summary = out.stderr.split("Rows by layer:").nth(1).unwrap_or_else(|| panic!("{}", out.stderr));
    let line = |relation: &str| summary.lines().find(|l| l.contains(relation)).unwrap_or_else(|| panic!("{relation}: {summary}")).to_owned();
    assert!(line("bronze.chat_bronze").contains("bronze  bronze.chat_bronze") && line("bronze.chat_bronze").contains("20000 rows (0 parse errors)"), "{summary}");
    assert!(line("main.chat_messages").contains("silver") && line("main.chat_messages").contains("20000 rows"), "{summary}");
    assert!(line("main.chatters").contains("gold"), "{summary}");
    assert!(summary.contains("Tests: 38 passed, 0 warned, 0 failed, 0 errored, 0 skipped."), "{summary}");
    // And where the docs are: the site, written after the tests ran.
    assert!(summary.contains("Docs: ./target/docs/index.html"), "{summary}");
    let status: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("target/node_status.json")).unwrap()).unwrap();
    assert_eq!(status["nodes"]["model.twitch.chatters"]["status"], "success");
    assert!(std::fs::read_to_string(d.join("target/docs/data/index.js")).unwrap().contains("model.twitch.chatters"));
    let counts = |d: &Path| {
        show_row(
            d,
            "select (select count(*) from bronze.chat_bronze) as bronze, \
                    (select count(*) from bronze.chat_bronze where parse_status = 'OK') as bronze_ok, \
                    (select count(*) from main.chat_messages) as silver, \
                    (select sum(messages) from main.messages_per_minute) as per_minute, \
                    (select sum(engaged_messages + other_messages) from main.engagement_per_minute) as engagement, \
                    (select sum(messages) from main.sentiment_distribution) as sentiment, \
                    (select sum(messages) from main.emote_only_analysis) as emote_only, \
                    (select sum(messages) from main.chatters) as chatters, \
                    (select count(distinct user_id) from main.chat_messages) as distinct_chatters, \
                    (select count(*) from main.chatters) as chatter_rows",
            &[],
        )
    };
    let c = counts(d);
    assert_eq!(c["bronze"], 20000, "{c}");
    assert_eq!(c["silver"], c["bronze_ok"], "{c}");
    for gold in ["per_minute", "engagement", "sentiment", "emote_only", "chatters"] {
        assert_eq!(c[gold], c["silver"], "{gold}: {c}");
    }
    assert_eq!(c["chatter_rows"], c["distinct_chatters"], "{c}");
    let silver_log = d.join("warehouse/main/chat_messages/_delta_log");
    let v = delta_log_entries(&silver_log);
    // No new messages: silver writes nothing.
    let out = silt(d, &["build"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("main.chat_messages") && out.stderr.contains("[OK (nothing new)"), "{}", out.stderr);
    assert_eq!(delta_log_entries(&silver_log), v);
    // 1000 more: silver reads only those.
    let profiles = d.join("profiles.yml");
    let text = std::fs::read_to_string(&profiles).unwrap();
    std::fs::write(&profiles, text.replace("messages: 20000", "messages: 21000")).unwrap();
    let out = silt(d, &["build"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("[OK (read 1000 new rows)"), "{}", out.stderr);
    assert!(out.stderr.contains(" WARN=0 ERROR=0 SKIP=0 "), "{}", out.stderr);
    assert_eq!(delta_log_entries(&silver_log), v + 1);
    let c = counts(d);
    assert_eq!(c["bronze"], 21000, "{c}");
    assert_eq!(c["silver"], c["bronze_ok"], "{c}");
    for gold in ["per_minute", "engagement", "sentiment", "emote_only", "chatters"] {
        assert_eq!(c[gold], c["silver"], "{gold}: {c}");
    }
}

/// The commits in a Delta log folder (its JSON entries): one per table version.
fn delta_log_entries(log: &Path) -> usize {
    std::fs::read_dir(log)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "json"))
        .count()
}

/// A query's single row as JSON, through `silt show`.
fn show_row(d: &Path, sql: &str, env: &[(&str, &str)]) -> serde_json::Value {
    let out = silt_env(d, &["show", "--inline", sql, "--output", "json", "--limit", "-1"], env);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    v["show"][0].clone()
}

#[test]
fn build_catches_up_the_embedded_kafka_source_first() {
    let dir = fixture("kafka");
    let d = dir.path();
    let out = silt(d, &["build", "--threads", "1"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("Catching up Kafka sources: chat.events"), "{}", out.stderr);
    assert!(out.stderr.contains("chat.events: 3000 new messages, 3000 rows committed (0 parse errors)"), "{}", out.stderr);
    let row = show_row(d, "select sum(messages) as n from main.per_partition", &[]);
    assert_eq!(row["n"], 3000);
    // Nothing new the second time.
    let again = silt(d, &["build", "--threads", "1"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("chat.events: 0 new messages"), "{}", again.stderr);
}

/// The `kafka` fixture pointed at a mock cluster in this test process, which outlives the
/// ingesters it serves (named by `SILT_TEST_BOOTSTRAP`), with short group timeouts.
fn mock_kafka() -> (tempfile::TempDir, rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext>, String) {
    let dir = fixture("kafka");
    let cluster = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("chat-events", 3, 1).expect("topic");
    let bootstrap = cluster.bootstrap_servers();
    let profiles = dir.path().join("profiles.yml");
    let text = std::fs::read_to_string(&profiles).unwrap();
    std::fs::write(
        &profiles,
        text.replace(
            "bootstrap_servers: embedded",
            "bootstrap_servers: \"{{ env_var('SILT_TEST_BOOTSTRAP') }}\"\n        properties: {session.timeout.ms: 2000, heartbeat.interval.ms: 300}",
        ),
    )
    .unwrap();
    (dir, cluster, bootstrap)
}

/// `silt` started in the background in `d`, its output discarded.
fn spawn_silt(d: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_silt"));
    cmd.args(args).current_dir(d).env("HOME", d).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn silt")
}

/// A producer thread writing synthetic chat to `chat-events`, `step` messages at a time
/// with a pause between, until stopped.
struct Producing {
    produced: std::sync::Arc<std::sync::atomic::AtomicU64>,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Producing {
    fn start(bootstrap: &str, seed: u64, step: u64, pause: std::time::Duration) -> Producing {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let produced = std::sync::Arc::new(AtomicU64::new(0));
        let done = std::sync::Arc::new(AtomicBool::new(false));
        let thread = {
            let (bootstrap, produced, done) = (bootstrap.to_owned(), produced.clone(), done.clone());
            std::thread::spawn(move || {
                let p = silt::ingest::produce::producer(&bootstrap, &Default::default()).unwrap();
                let never = AtomicBool::new(false);
                let mut i = 0;
                while !done.load(Ordering::Relaxed) {
                    silt::ingest::produce::synthetic(&p, "chat-events", seed, i, i + step, silt::ingest::produce::Partitioning::Broker, None, &never).unwrap();
                    i += step;
                    produced.store(i, Ordering::Relaxed);
                    std::thread::sleep(pause);
                }
                silt::ingest::produce::flush(&p).unwrap();
            })
        };
        Producing { produced, done, thread }
    }

    /// Stops, waits for every message to be delivered, and says how many there were.
    fn stop(self) -> u64 {
        self.done.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap();
        self.produced.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Bronze's `events` holds `total` messages, each once, with offsets contiguous from 0 in
/// every partition.
fn assert_exactly_once(d: &Path, env: &[(&str, &str)], total: u64) {
    let row = show_row(
        d,
        "select count(*) as n, count(distinct concat(topic, ':', cast(partition as varchar), ':', cast(\"offset\" as varchar))) as distinct_n from bronze.events",
        env,
    );
    assert_eq!(row["n"], total, "every message produced is in bronze");
    assert_eq!(row["distinct_n"], total, "and only once");
    let gaps = show_row(
        d,
        "select sum(max_o + 1 - n) as gaps from (select partition, max(\"offset\") as max_o, count(*) as n from bronze.events group by partition) p",
        env,
    );
    assert_eq!(gaps["gaps"], 0, "offsets are contiguous from 0 in every partition");
}

/// The crash test: an ingester killed with SIGKILL at random moments, 20 times, while a
/// producer keeps writing, and restarted each time; bronze ends with every message once.
#[test]
fn ingestion_survives_being_killed_at_random_moments() {
    let (dir, _cluster, bootstrap) = mock_kafka();
    let d = dir.path();
    let env = [("SILT_TEST_BOOTSTRAP", bootstrap.as_str())];
    let producing = Producing::start(&bootstrap, 3, 100, std::time::Duration::from_millis(100));
    let mut seed: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_nanos() as u64)
        .unwrap_or(1);
    eprintln!("crash test seed {seed}");
    let mut kills = 0;
    while kills < 20 {
        let mut child = spawn_silt(d, &["ingest", "-q"], &env);
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        // A restarted ingester first waits for its dead predecessor to leave the group
        // (the 2 s session timeout); kills land before, during and after its commits.
        let wait = 1000 + (seed >> 33) % 4000;
        std::thread::sleep(std::time::Duration::from_millis(wait));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        kills += 1;
    }
    let total = producing.stop();
    // The killed ingesters did commit work between kills (the test exercises restarts, not
    // only the final run).
    let before = show_row(d, "select count(*) as n from bronze.events", &env);
    assert!(before["n"].as_u64().unwrap_or(0) > 0, "no rows before the final run");
    let last = silt_env(d, &["ingest", "--until-caught-up"], &env);
    assert_eq!(last.code, 0, "{}", last.stderr);
    assert_exactly_once(d, &env, total);
}

/// SIGTERM (as Ctrl-C) ends `silt ingest` cleanly: the batch it holds is committed first.
#[test]
fn ingest_commits_its_batch_when_terminated() {
    let dir = fixture("kafka");
    let d = dir.path();
    // Batches that only a stop can flush.
    let profiles = d.join("profiles.yml");
    let text = std::fs::read_to_string(&profiles).unwrap();
    std::fs::write(
        &profiles,
        text.replace("flush: {messages: 700, interval_ms: 300}", "flush: {messages: 1000000, interval_ms: 600000}"),
    )
    .unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_silt"))
        .args(["ingest"])
        .current_dir(d)
        .env("HOME", d)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait until it has read the whole sample (it reports progress every second).
    std::thread::sleep(std::time::Duration::from_secs(5));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("chat.events: 3000 messages, 3000 rows committed"), "{stderr}");
    let row = show_row(d, "select count(*) as n from bronze.events", &[]);
    assert_eq!(row["n"], 3000);
}

/// `silt produce --channels` against a local IRC server standing in for
/// irc.chat.twitch.tv (which this machine cannot reach), over plain TCP: it logs in
/// anonymously, requests tags, joins, answers PING, and produces each PRIVMSG.
#[test]
fn produce_relays_twitch_chat_from_irc() {
    relay_twitch_chat(false);
}

/// The same over TLS, as with Twitch (port 6697): a certificate for `localhost`, trusted
/// through SILT_TWITCH_CA.
#[test]
fn produce_relays_twitch_chat_over_tls() {
    relay_twitch_chat(true);
}

trait ReadWrite: std::io::Read + std::io::Write + Send {}
impl<T: std::io::Read + std::io::Write + Send> ReadWrite for T {}

fn relay_twitch_chat(tls: bool) {
    use std::io::{BufRead, BufReader, Write};
    let dir = fixture("kafka");
    let d = dir.path();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut env = vec![("SILT_TWITCH_IRC".to_owned(), format!("127.0.0.1:{port}"))];
    let mut server_config = None;
    if tls {
        let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let ca = d.join("stand-in-ca.pem");
        std::fs::write(&ca, key.cert.pem()).unwrap();
        env = vec![
            ("SILT_TWITCH_IRC".to_owned(), format!("tls://localhost:{port}")),
            ("SILT_TWITCH_CA".to_owned(), ca.display().to_string()),
        ];
        let private = rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![key.cert.der().clone()], private)
        .unwrap();
        server_config = Some(std::sync::Arc::new(config));
    }
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let stream: Box<dyn ReadWrite> = match server_config {
            Some(config) => Box::new(rustls::StreamOwned::new(rustls::ServerConnection::new(config).unwrap(), tcp)),
            None => Box::new(tcp),
        };
        let mut conn = BufReader::new(stream);
        let mut seen = Vec::new();
        let mut line = String::new();
        while !seen.iter().any(|l: &String| l.starts_with("JOIN")) {
            line.clear();
            conn.read_line(&mut line).unwrap();
            seen.push(line.trim_end().to_owned());
        }
        let out = conn.get_mut();
        out.write_all(b":tmi.twitch.tv 001 justinfan :Welcome, GLHF!\r\nPING :tmi.twitch.tv\r\n").unwrap();
        out.flush().unwrap();
        line.clear();
        conn.read_line(&mut line).unwrap();
        seen.push(line.trim_end().to_owned());
        let out = conn.get_mut();
        out.write_all(b"@badges=subscriber/6;emotes=25:0-4;id=m1;tmi-sent-ts=1507246572675;user-id=7 :ann!ann@ann.tmi.twitch.tv PRIVMSG #shroud :Kappa gg\r\n").unwrap();
        out.write_all(b":bob!bob@bob.tmi.twitch.tv PRIVMSG #lirik :\x01ACTION waves\x01\r\n").unwrap();
        out.flush().unwrap();
        // Keep the connection until the client leaves.
        line.clear();
        let _ = conn.read_line(&mut line);
        seen
    });
    let cluster = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("chat-events", 1, 1).expect("topic");
    let bootstrap = cluster.bootstrap_servers();
    let profiles = d.join("profiles.yml");
    let text = std::fs::read_to_string(&profiles).unwrap();
    std::fs::write(&profiles, text.replace("bootstrap_servers: embedded", &format!("bootstrap_servers: \"{bootstrap}\""))).unwrap();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = silt_env(d, &["produce", "--channels", "shroud,lirik", "--max-messages", "2"], &env);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("Produced 2 messages to `chat-events`"), "{}", out.stderr);
    let seen = server.join().unwrap();
    assert!(seen.iter().any(|l| l == "CAP REQ :twitch.tv/tags twitch.tv/commands"), "{seen:?}");
    assert!(seen.iter().any(|l| l.starts_with("NICK justinfan")), "{seen:?}");
    assert!(seen.iter().any(|l| l == "JOIN #shroud,#lirik"), "{seen:?}");
    assert!(seen.iter().any(|l| l == "PONG :tmi.twitch.tv"), "{seen:?}");
    // The two messages are in Kafka as chat JSON, keyed by channel: ingest them.
    let ingest = silt(d, &["ingest", "--until-caught-up"]);
    assert_eq!(ingest.code, 0, "{}", ingest.stderr);
    let row = show_row(
        d,
        "select count(*) as n, sum(case when parse_status = 'OK' then 1 else 0 end) as ok, max(key) as last_key from bronze.events",
        &[],
    );
    assert_eq!(row["n"], 2);
    assert_eq!(row["ok"], 2);
    assert_eq!(row["last_key"], "shroud");
}

#[test]
fn optimize_compacts_checkpoints_and_vacuums_bronze() {
    let dir = fixture("kafka");
    let d = dir.path();
    assert_eq!(silt(d, &["ingest", "--until-caught-up"]).code, 0);
    let parquet = |d: &Path| -> usize {
        let mut n = 0;
        let mut stack = vec![d.join("warehouse/bronze/events")];
        while let Some(p) = stack.pop() {
            for e in std::fs::read_dir(&p).unwrap().flatten() {
                if e.path().is_dir() && e.file_name() != "_delta_log" {
                    stack.push(e.path());
                } else if e.path().extension().is_some_and(|x| x == "parquet") {
                    n += 1;
                }
            }
        }
        n
    };
    let before = parquet(d);
    assert!(before >= 4, "one file per batch: {before}");
    let out = silt(d, &["optimize", "--select", "source:chat.events", "--zorder", "partition", "--vacuum", "--retention-hours", "0"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains(&format!("bronze.events: {before} files compacted into 1, checkpoint written, {before} files vacuumed")), "{}", out.stderr);
    assert_eq!(parquet(d), 1);
    assert!(std::fs::read_dir(d.join("warehouse/bronze/events/_delta_log")).unwrap().flatten().any(|e| e.file_name().to_string_lossy().ends_with(".checkpoint.parquet")));
    let row = show_row(d, "select count(*) as n from bronze.events", &[]);
    assert_eq!(row["n"], 3000);
    // Exactly once still holds after compaction: nothing new, nothing doubled.
    let again = silt(d, &["ingest", "--until-caught-up"]);
    assert!(again.stderr.contains("chat.events: 0 messages"), "{}", again.stderr);
    // A column that does not exist is an error naming it.
    let bad = silt(d, &["optimize", "--select", "source:chat.events", "--zorder", "nope"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("cannot z-order") && bad.stderr.contains("`nope`"), "{}", bad.stderr);
}

/// Exactly once against a real Kafka-protocol broker running as its own process: tansu
/// (crates.io), which `scripts/test` installs and names in `SILT_TANSU`. Ignored by a
/// plain `cargo test`; `scripts/test` (and so CI) runs it.
///
/// tansu 0.6's group coordinator sometimes never completes a join on a loaded machine
/// (seen here: a consumer with no partitions for 5 minutes, in a fresh group or after
/// members were killed), so the steps that must finish are catch-ups, which assign
/// themselves every partition; the consumer-group steps (killed continuous ingesters, two
/// ingesters through a rebalance) add what they manage, and the count at the end must be
/// exact whatever they did.
#[test]
#[ignore = "needs a tansu broker: run scripts/test"]
fn exactly_once_against_a_real_broker() {
    let tansu = std::env::var("SILT_TANSU").expect("SILT_TANSU names the tansu binary (scripts/test sets it)");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("tcp://127.0.0.1:{port}");
    // The broker's log, shown when a step fails or hangs.
    let logs = tempfile::tempdir().unwrap();
    let log_path = logs.path().join("tansu.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut broker = std::process::Command::new(&tansu)
        .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url, "--storage-engine", "memory://tansu/"])
        .env("RUST_LOG", "warn")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start tansu");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = Kill(std::mem::replace(&mut broker, std::process::Command::new("true").spawn().unwrap()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "tansu did not start");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let created = output_within(
        std::process::Command::new(&tansu).args(["topic", "create", "chat-events", "--broker", &url, "--partitions", "3"]),
        std::time::Duration::from_secs(60),
        "tansu topic create",
    );
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let dir = fixture("kafka");
    let d = dir.path();
    let profiles = d.join("profiles.yml");
    let text = std::fs::read_to_string(&profiles).unwrap();
    // tansu 0.6 numbers a record batch's records as if the batch were one record, so
    // each batch holds one message here (a broker defect, not the client's).
    std::fs::write(
        &profiles,
        text.replace(
            "bootstrap_servers: embedded",
            &format!("bootstrap_servers: \"127.0.0.1:{port}\"\n        properties: {{batch.num.messages: 1, session.timeout.ms: 6000, heartbeat.interval.ms: 500}}"),
        ),
    )
    .unwrap();
    let produce = |start: u64, n: u64| {
        let out = silt(d, &["produce", "--synthetic", &n.to_string(), "--start", &start.to_string(), "--seed", "9"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
    };
    produce(0, 2000);
    // Stopped part-way, then killed at random moments while the producer goes on: a
    // catch-up in even rounds, a continuous ingester in the group in odd ones.
    let part = silt(d, &["ingest", "--until-caught-up", "--max-messages", "700"]);
    assert_eq!(part.code, 0, "{}", part.stderr);
    assert!(part.stderr.contains("chat.events: 700 messages"), "{}", part.stderr);
    let mut seed: u64 = 0x5eed;
    let mut total = 2000;
    for round in 0..6 {
        let args: &[&str] = if round % 2 == 0 { &["ingest", "-q", "--until-caught-up"] } else { &["ingest", "-q"] };
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_silt"))
            .args(args)
            .current_dir(d)
            .env("HOME", d)
            .spawn()
            .expect("spawn ingester");
        produce(total, 500);
        total += 500;
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        std::thread::sleep(std::time::Duration::from_millis(500 + (seed >> 33) % 3000));
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        eprintln!("round {round}: killed");
    }
    // Two ingesters in one group, the second joining (a rebalance) while more arrives.
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_silt"))
            .args(["ingest", "-q"])
            .current_dir(d)
            .env("HOME", d)
            .spawn()
            .expect("spawn ingester")
    };
    let a = spawn();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let b = spawn();
    for _ in 0..4 {
        produce(total, 500);
        total += 500;
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let count = || show_row(d, "select count(*) as n from bronze.events", &[])["n"].as_u64().unwrap_or(0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while count() < total && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let broker_log = || {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        text[text.ceil_char_boundary(start)..].to_owned()
    };
    for child in [a, b] {
        let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let out = wait_within(child, std::time::Duration::from_secs(120), "a terminated `silt ingest`");
        assert!(out.status.success(), "an ingester failed (its messages are above); broker log:\n{}", broker_log());
    }
    let last = silt(d, &["ingest", "--until-caught-up"]);
    assert_eq!(last.code, 0, "{}\nbroker log:\n{}", last.stderr, broker_log());
    assert_exactly_once(d, &[], total);
}

/// The chat functions take their emote list from the seed that `vars: {silt_emotes: ...}`
/// names, in queries and in models; a name that is not a seed is an error naming the seeds.
#[test]
fn chat_functions_use_the_emote_seed_named_in_vars() {
    let dir = fixture("kafka");
    let d = dir.path();
    std::fs::create_dir_all(d.join("seeds")).unwrap();
    std::fs::write(d.join("seeds/channel_emotes.csv"), "emote,provider,sentiment\nCatJAM,7tv,0.9\nmonkaS,bttv,-0.4\n").unwrap();
    let sql = "select emote_count('CatJAM hi CatJAM') as n, is_emote_only('CatJAM monkaS') as only, emote_sentiment('CatJAM monkaS') as mean, sentiment('CatJAM') > 0.5 as happy";
    // Without the variable there is no emote list.
    let row = show_row(d, sql, &[]);
    assert_eq!((row["n"].as_i64(), row["only"].as_bool(), row["happy"].as_bool()), (Some(0), Some(false), Some(false)), "{row}");
    let project = std::fs::read_to_string(d.join("project.yml")).unwrap();
    std::fs::write(d.join("project.yml"), format!("{project}\nvars:\n  silt_emotes: channel_emotes\n")).unwrap();
    let row = show_row(d, sql, &[]);
    assert_eq!(row["n"], 2, "{row}");
    assert_eq!(row["only"], true, "{row}");
    assert!((row["mean"].as_f64().unwrap() - 0.25).abs() < 1e-9, "{row}");
    assert_eq!(row["happy"], true, "{row}");
    // A model calls them too.
    std::fs::write(d.join("models/vibes.sql"), "select emote_count('CatJAM CatJAM') as emotes, sentiment('monkaS') < 0 as worried").unwrap();
    let out = silt(d, &["run", "--select", "vibes"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let row = show_row(d, "select * from main.vibes", &[]);
    assert_eq!((row["emotes"].as_i64(), row["worried"].as_bool()), (Some(2), Some(true)), "{row}");
    std::fs::write(d.join("project.yml"), format!("{project}\nvars:\n  silt_emotes: emotez\n")).unwrap();
    let out = silt(d, &["show", "--inline", sql]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("project.yml: `silt_emotes` names the seed `emotez`, which does not exist (seeds: channel_emotes)"),
        "{}",
        out.stderr
    );
}

/// A streaming table over the Kafka-fed bronze table reads only what was appended since
/// its last run, writes nothing when nothing was, and its commits record what they
/// consumed; --full-refresh rebuilds from everything.
#[test]
fn streaming_table_reads_only_new_bronze_rows() {
    let dir = fixture("kafka");
    let d = dir.path();
    std::fs::write(
        d.join("models/silver.sql"),
        "{{ config(materialized='streaming_table') }}\nselect topic, \"partition\", \"offset\", char_length(payload) as length, sentiment(payload) as mood\nfrom {{ source('chat', 'events') }}\nwhere parse_status = 'OK'\n",
    )
    .unwrap();
    let count = |d: &Path| -> (i64, i64) {
        let row = show_row(d, "select count(*) as n, count(distinct concat(\"partition\", ':', \"offset\")) as distinct_offsets from main.silver", &[]);
        (row["n"].as_i64().unwrap(), row["distinct_offsets"].as_i64().unwrap())
    };
    let ok = |d: &Path| show_row(d, "select count(*) as n from bronze.events where parse_status = 'OK'", &[])["n"].as_i64().unwrap();
    let out = silt(d, &["build", "--threads", "1"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let bronze_ok = ok(d);
    assert!(bronze_ok > 2500, "{bronze_ok}");
    assert_eq!(count(d), (bronze_ok, bronze_ok));
    let silver_log = d.join("warehouse/main/silver/_delta_log");
    let v1 = delta_log_entries(&silver_log);
    // Nothing new: nothing written.
    let out = silt(d, &["build", "--threads", "1", "--select", "silver"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("OK (nothing new)"), "{}", out.stderr);
    assert_eq!(delta_log_entries(&silver_log), v1);
    // 1000 more messages: only they are read.
    let profiles = d.join("profiles.yml");
    let text = std::fs::read_to_string(&profiles).unwrap();
    std::fs::write(&profiles, text.replace("messages: 3000", "messages: 4000")).unwrap();
    let out = silt(d, &["build", "--threads", "1"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("OK (read 1000 new rows)"), "{}", out.stderr);
    let bronze_ok = ok(d);
    assert_eq!(count(d), (bronze_ok, bronze_ok));
    assert_eq!(delta_log_entries(&silver_log), v1 + 1);
    // The commit records the bronze version it consumed.
    let last = std::fs::read_to_string(silver_log.join(format!("{:020}.json", v1))).unwrap();
    assert!(last.contains("\"appId\":\"silt-stream:source.kafka.chat.events\""), "{last}");
    // A full refresh reads everything again and replaces.
    let out = silt(d, &["build", "--threads", "1", "--select", "silver", "--full-refresh"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(count(d), (bronze_ok, bronze_ok));
    // A table built by another materialization records no stream position: the first
    // streaming run rebuilds it.
    let model = std::fs::read_to_string(d.join("models/silver.sql")).unwrap();
    std::fs::write(d.join("models/silver.sql"), model.replace("streaming_table", "table").replace("sentiment(payload) as mood", "1 as other")).unwrap();
    assert_eq!(silt(d, &["run", "--select", "silver"]).code, 0);
    std::fs::write(d.join("models/silver.sql"), &model).unwrap();
    let out = silt(d, &["run", "--select", "silver"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(count(d), (bronze_ok, bronze_ok));
    let out = silt(d, &["run", "--select", "silver"]);
    assert!(out.stderr.contains("OK (nothing new)"), "{}", out.stderr);
}

/// A streaming table killed with SIGKILL at random moments of its runs, with new bronze
/// rows before each, ends with every bronze row exactly once.
#[test]
fn streaming_table_survives_being_killed_at_random_moments() {
    let dir = fixture("kafka");
    let d = dir.path();
    std::fs::write(
        d.join("models/silver.sql"),
        "{{ config(materialized='streaming_table') }}\nselect \"partition\", \"offset\", sentiment(payload) as mood from {{ source('chat', 'events') }} where parse_status = 'OK'\n",
    )
    .unwrap();
    let profiles = d.join("profiles.yml");
    let text = std::fs::read_to_string(&profiles).unwrap();
    let mut seed: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_nanos() as u64)
        .unwrap_or(1);
    eprintln!("streaming crash test seed {seed}");
    let silver_log = d.join("warehouse/main/silver/_delta_log");
    let mut finished = 0;
    for i in 0..12 {
        std::fs::write(&profiles, text.replace("messages: 3000", &format!("messages: {}", 3000 + 300 * i))).unwrap();
        let ingest = silt(d, &["ingest", "--until-caught-up", "-q"]);
        assert_eq!(ingest.code, 0, "{}", ingest.stderr);
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_silt"))
            .args(["run", "--select", "silver", "-q"])
            .current_dir(d)
            .env("HOME", d)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn run");
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        std::thread::sleep(std::time::Duration::from_millis((seed >> 33) % 900));
        if child.try_wait().expect("poll").is_some() {
            finished += 1;
        } else {
            child.kill().expect("SIGKILL");
        }
        child.wait().expect("reap");
    }
    eprintln!("{finished} of 12 runs finished before their kill");
    eprintln!("silver has {} versions before the last run", if silver_log.exists() { delta_log_entries(&silver_log) } else { 0 });
    let last = silt(d, &["run", "--select", "silver"]);
    assert_eq!(last.code, 0, "{}", last.stderr);
    let bronze = show_row(d, "select count(*) as n from bronze.events where parse_status = 'OK'", &[]);
    let silver = show_row(
        d,
        "select count(*) as n, count(distinct concat(\"partition\", ':', \"offset\")) as distinct_offsets from main.silver",
        &[],
    );
    assert_eq!(silver["n"], bronze["n"], "every bronze row once: {silver} vs {bronze}");
    assert_eq!(silver["distinct_offsets"], bronze["n"]);
}

/// `silt docs generate` writes dbt's manifest.json and catalog.json: what dbt tooling reads
/// (nodes, sources, parent and child maps; columns with types, row counts) is there.
#[test]
fn docs_generate_writes_the_manifest_and_the_catalog() {
    let dir = fixture("kafka");
    let d = dir.path();
    std::fs::write(d.join("models/recent.sql"), "{{ config(materialized='view') }}\nselect \"partition\", \"offset\" from {{ source('chat', 'events') }} where \"offset\" > 10").unwrap();
    // Before anything is built the catalog holds nothing, and says so without failing.
    let out = silt(d, &["docs", "generate"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("(0 nodes and 0 sources that exist in the warehouse)"), "{}", out.stderr);
    assert_eq!(silt(d, &["build"]).code, 0);
    let out = silt(d, &["docs", "generate"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let read = |f: &str| -> serde_json::Value { serde_json::from_str(&std::fs::read_to_string(d.join("target").join(f)).unwrap()).unwrap() };
    let catalog = read("catalog.json");
    assert_eq!(catalog["metadata"]["dbt_schema_version"], "https://schemas.getdbt.com/dbt/catalog/v1.json");
    assert!(catalog["errors"].is_null(), "{}", catalog["errors"]);
    let source = &catalog["sources"]["source.kafka.chat.events"];
    assert_eq!(source["metadata"]["type"], "BASE TABLE");
    assert_eq!((source["metadata"]["schema"].as_str(), source["metadata"]["name"].as_str()), (Some("bronze"), Some("events")));
    assert_eq!(source["stats"]["row_count"]["value"], 3000);
    assert!(source["stats"]["bytes"]["value"].as_u64().unwrap() > 0);
    assert_eq!(source["columns"]["offset"]["type"], "bigint");
    assert_eq!(source["columns"]["offset"]["index"], 3);
    assert_eq!(source["columns"]["kafka_ts"]["type"], "timestamp with time zone");
    let model = &catalog["nodes"]["model.kafka.per_partition"];
    assert_eq!(model["stats"]["row_count"]["value"], 3);
    // When and how the table was last written, from its last Delta commit.
    let written = model["stats"]["last_modified"]["value"].as_str().unwrap_or_default();
    assert!(chrono::DateTime::parse_from_rfc3339(written).is_ok(), "{}", model["stats"]);
    assert!(model["stats"]["last_operation"]["value"].as_str().is_some_and(|op| !op.is_empty()), "{}", model["stats"]);
    assert_eq!(model["columns"]["messages"]["type"], "bigint");
    let view = &catalog["nodes"]["model.kafka.recent"];
    assert_eq!(view["metadata"]["type"], "VIEW");
    assert_eq!(view["columns"]["partition"]["type"], "int");
    let manifest = read("manifest.json");
    assert!(manifest["nodes"]["model.kafka.per_partition"]["columns"].is_object());
    assert!(manifest["sources"]["source.kafka.chat.events"].is_object());
    assert_eq!(manifest["parent_map"]["model.kafka.per_partition"], serde_json::json!(["source.kafka.chat.events"]));
    let children = manifest["child_map"]["source.kafka.chat.events"].as_array().unwrap();
    assert!(children.iter().any(|c| c == "model.kafka.per_partition") && children.iter().any(|c| c == "model.kafka.recent"), "{children:?}");
    // Column lineage: each model column's upstream columns, by node.
    let lineage = read("column_lineage.json");
    let source_col = |c: &str| serde_json::json!([{"node": "source.kafka.chat.events", "column": c}]);
    assert_eq!(lineage["model.kafka.per_partition"]["partition"], source_col("partition"));
    assert_eq!(lineage["model.kafka.per_partition"]["first_offset"], source_col("offset"));
    assert_eq!(lineage["model.kafka.per_partition"]["messages"], serde_json::json!([]), "count(*) reads no column");
    assert_eq!(lineage["model.kafka.recent"]["offset"], source_col("offset"));
}

/// A copy of the reference project at the repository root, without its target/ and
/// warehouse/.
fn reference_project() -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    for f in ["project.yml", "profiles.yml"] {
        std::fs::copy(root.join(f), dir.path().join(f)).unwrap();
    }
    for folder in ["models", "macros", "seeds", "data_tests"] {
        copy_dir(&root.join(folder), &dir.path().join(folder));
    }
    dir
}

/// The docs site of the reference project in a real browser (Debian's chromium, headless,
/// through chromedriver; `scripts/test` installs both): from file://, the project graph
/// shows every model, source and seed and opens a node on click, in SVG and on a canvas;
/// search finds a model; a model's page lists its columns with types, tests and upstream
/// columns, and traces a column to the source; `silt docs serve` serves the same site.
/// Saves a screenshot of a model page in the target folder.
#[test]
#[ignore = "needs chromium and chromedriver: run scripts/test"]
fn docs_site_works_in_a_real_browser() {
    use serde_json::json;
    let dir = reference_project();
    let d = dir.path();
    let out = silt(d, &["build"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("Docs: ./target/docs/index.html"), "{}", out.stderr);
    let page = format!("file://{}", d.join("target/docs/index.html").display());
    let b = browser::Browser::start(1400, 1000);

    // The project graph (SVG at this size): every model, source and seed, no tests.
    b.goto(&format!("{page}#/graph"));
    b.wait_for("the page", "return document.documentElement.dataset.ready");
    let ids = b.wait_for("graph nodes", "return [...document.querySelectorAll('svg.lineage .gnode')].map(g => g.dataset.id).sort()");
    let mut expected: Vec<String> = [
        "chat_messages", "chatters", "dim_emotes", "emote_only_analysis", "emote_usage", "engagement_per_minute",
        "messages_per_minute", "sentiment_distribution", "top_chatters",
    ]
    .iter()
    .map(|m| format!("model.twitch.{m}"))
    .collect();
    expected.extend(["seed.twitch.emotes".to_owned(), "source.twitch.twitch.chat_bronze".to_owned()]);
    expected.sort();
    assert_eq!(ids, json!(expected));
    // One edge per parent in the manifest's parent_map, among the nodes drawn.
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("target/manifest.json")).unwrap()).unwrap();
    let edges: usize = expected
        .iter()
        .map(|id| manifest["parent_map"][id].as_array().map_or(0, |ps| ps.iter().filter(|p| expected.iter().any(|e| e == p.as_str().unwrap())).count()))
        .sum();
    assert!(edges >= 10, "{edges}");
    assert_eq!(b.eval("return document.querySelectorAll('svg.lineage path.edge').length", json!([])), json!(edges));
    // A click on a node opens its page.
    let node = b.find(r#".gnode[data-id="model.twitch.chatters"]"#);
    b.click(&node);
    b.wait_for("the chatters page", "return location.hash === '#/node/model.twitch.chatters' && document.querySelector('table.columns')");

    // Search finds a model by part of its name, and by a column.
    b.goto(&format!("{page}#/"));
    b.wait_for("the page", "return document.documentElement.dataset.ready");
    let search = b.find("#search");
    b.type_into(&search, "engagement");
    let first = b.wait_for("search results", "const r = document.querySelector('#list .row'); return r && document.getElementById('count').textContent.includes('match') && r.dataset.id");
    assert_eq!(first, "model.twitch.engagement_per_minute");
    b.eval("const s = document.getElementById('search'); s.value = ''; s.dispatchEvent(new Event('input'))", json!([]));
    b.type_into(&search, "unique_chatters");
    let rows = b.wait_for("column matches", "const c = document.getElementById('count').textContent; return c.includes('match') && [...document.querySelectorAll('#list .row')].map(r => r.dataset.id + ' ' + r.innerText)");
    assert!(rows.as_array().unwrap().iter().any(|r| r.as_str().unwrap().starts_with("model.twitch.messages_per_minute") && r.as_str().unwrap().contains("column unique_chatters")), "{rows}");

    // A model page: columns with types, tests and upstream columns.
    b.goto(&format!("{page}#/node/model.twitch.chatters"));
    b.wait_for("the chatters page", "return document.querySelector('table.columns')");
    let columns = b.eval(
        "return [...document.querySelectorAll('table.columns tbody tr')].map(r => [...r.cells].map(c => c.innerText.trim().replace(/\\s+/g, ' ')))",
        json!([]),
    );
    let row = |name: &str| -> Vec<String> {
        columns.as_array().unwrap().iter().find(|r| r[0] == name).unwrap_or_else(|| panic!("no column {name}: {columns}")).as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect()
    };
    let user_id = row("user_id");
    assert_eq!(user_id[1], "varchar");
    assert!(user_id[3].contains("not_null") && user_id[3].contains("unique"), "{user_id:?}");
    assert!(user_id[4].starts_with("chat_messages.user_id"), "{user_id:?}");
    assert!(row("avg_sentiment")[4].starts_with("chat_messages.sentiment"), "{columns}");
    assert_eq!(row("first_seen")[1], "timestamp");
    // Last run and rows, from the build.
    let facts = b.eval("return document.querySelector('.facts').innerText", json!([]));
    assert!(facts.as_str().unwrap().contains("success") && facts.as_str().unwrap().contains("ROWS"), "{facts}");
    // Traced to the source: chat_messages.user_id comes from the bronze payload.
    b.eval("document.querySelector('tr[data-column=\"user_id\"] .trace-toggle').click()", json!([]));
    let trace = b.wait_for("the trace", "const t = document.querySelector('tr[data-column=\"user_id\"] .trace'); return t && t.innerText.includes('chat_bronze') && t.innerText");
    assert!(trace.as_str().unwrap().contains("chat_messages.user_id") && trace.as_str().unwrap().contains("twitch.chat_bronze.payload"), "{trace}");
    // The neighbourhood graph: the model, its parent and nothing unrelated at depth 1.
    b.eval("const s = document.getElementById('depth'); s.value = '1'; s.dispatchEvent(new Event('change'))", json!([]));
    let near = b.wait_for("the neighbourhood", "return [...document.querySelectorAll('#neigh .gnode')].map(g => g.dataset.id).sort()");
    let id = "model.twitch.chatters";
    let mut around: Vec<&str> = vec![id];
    for map in ["parent_map", "child_map"] {
        around.extend(manifest[map][id].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).filter(|n| !n.starts_with("test.")));
    }
    around.sort();
    assert!(around.len() >= 2, "{around:?}");
    assert_eq!(near, json!(around));
    let png = b.screenshot();
    assert!(png.len() > 10_000 && png.starts_with(b"\x89PNG\r\n\x1a\n"), "a screenshot");
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docs-site.png");
    std::fs::write(&shot, &png).unwrap();
    eprintln!("screenshot: {}", shot.display());

    // The canvas renderer (what large projects get): a click where a node is drawn opens it.
    b.goto(&format!("{page}#/graph?renderer=canvas"));
    b.wait_for("the canvas graph", "return window.siltGraph && window.siltGraph.renderer === 'canvas' && document.querySelector('#graph-host canvas')");
    let at = b.eval("return window.siltGraph.screenPosition('model.twitch.dim_emotes')", json!([]));
    b.click_at(at["x"].as_f64().unwrap(), at["y"].as_f64().unwrap());
    b.wait_for("dim_emotes from the canvas", "return location.hash === '#/node/model.twitch.dim_emotes' && document.querySelector('table.columns')");

    // `silt docs serve`: the same site over HTTP on loopback.
    let server = DocsServer::start(d);
    b.goto(&format!("http://127.0.0.1:{}/#/node/model.twitch.dim_emotes", server.port));
    let title = b.wait_for("the served page", "return document.querySelector('table.columns') && document.querySelector('h1').innerText");
    assert!(title.as_str().unwrap().starts_with("dim_emotes"), "{title}");
}

/// `silt docs serve` of the project in a folder, on a free port, listening; stopped when
/// dropped.
struct DocsServer {
    child: std::process::Child,
    port: u16,
}

impl DocsServer {
    fn start(d: &Path) -> DocsServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(env!("CARGO_BIN_EXE_silt"))
            .args(["docs", "serve", "--port", &port.to_string()])
            .current_dir(d)
            .env("HOME", d)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "silt docs serve did not listen");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        DocsServer { child, port }
    }
}

impl Drop for DocsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `silt docs serve` serves files under target/docs/ only, and says what to do when there
/// is no site yet.
#[test]
fn docs_serve_serves_the_site_and_nothing_else() {
    use std::io::{Read, Write};
    let dir = fixture("dbt_shop");
    let d = dir.path();
    let none = silt(d, &["docs", "serve", "--port", "0"]);
    assert_eq!(none.code, 1);
    assert!(none.stderr.contains("there is no docs site in `./target/docs`: run `silt docs generate` first"), "{}", none.stderr);
    let generated = silt(d, &["docs", "generate"]);
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    let server = DocsServer::start(d);
    let get = |path: &str| -> String {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("silt docs serve");
        write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        reply
    };
    let index = get("/");
    assert!(index.starts_with("HTTP/1.1 200 OK\r\n") && index.contains("Content-Type: text/html") && index.contains("<script src=\"data/index.js\""), "{index}");
    let data = get("/data/index.js");
    assert!(data.contains("text/javascript") && data.contains("model.dbt_shop.customers"), "{}", &data[..data.len().min(400)]);
    assert!(get("/../project.yml").starts_with("HTTP/1.1 404"));
    assert!(get("/%2e%2e/project.yml").starts_with("HTTP/1.1 404"));
}

/// A catch-up (`--until-caught-up`: every partition assigned to itself, no consumer group)
/// beside a continuous ingester of the same table, both committing while a producer
/// writes: each catch-up ends, and bronze holds every message once, with no gaps.
#[test]
fn catch_ups_beside_a_continuous_ingester_stay_exactly_once() {
    let (dir, _cluster, bootstrap) = mock_kafka();
    let d = dir.path();
    let env = [("SILT_TEST_BOOTSTRAP", bootstrap.as_str())];
    let producing = Producing::start(&bootstrap, 5, 200, std::time::Duration::from_millis(50));
    let continuous = spawn_silt(d, &["ingest", "-q"], &env);
    for _ in 0..4 {
        std::thread::sleep(std::time::Duration::from_millis(700));
        let out = silt_env(d, &["ingest", "--until-caught-up"], &env);
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let total = producing.stop();
    let _ = Command::new("kill").args(["-TERM", &continuous.id().to_string()]).status();
    let out = wait_within(continuous, std::time::Duration::from_secs(120), "a terminated `silt ingest`");
    assert!(out.status.success());
    let last = silt_env(d, &["ingest", "--until-caught-up"], &env);
    assert_eq!(last.code, 0, "{}", last.stderr);
    assert_exactly_once(d, &env, total);
}

/// A git repository in `dir` holding a package named `name` (in `sub/` when given), with
/// a first commit tagged `v1` (its model selects 1) and a second on the default branch
/// (selects 2). Returns the file URL and the two commits.
fn git_package(dir: &Path, name: &str, sub: Option<&str>) -> (String, String, String) {
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let pkg = sub.map_or(dir.to_path_buf(), |s| dir.join(s));
    std::fs::create_dir_all(pkg.join("models")).unwrap();
    std::fs::write(pkg.join("dbt_project.yml"), format!("name: {name}\nversion: '1.0.0'\nconfig-version: 2\n")).unwrap();
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(pkg.join("models/g.sql"), "select 1 as v\n").unwrap();
    git(&["add", "-A"]);
    git(&["commit", "-qm", "one"]);
    git(&["tag", "v1"]);
    let first = git(&["rev-parse", "HEAD"]);
    std::fs::write(pkg.join("models/g.sql"), "select 2 as v\n").unwrap();
    git(&["commit", "-qam", "two"]);
    let second = git(&["rev-parse", "HEAD"]);
    (format!("file://{}", dir.display()), first, second)
}

/// A package's code as a gzipped tarball with one top folder, as GitHub serves them.
fn package_tarball(top: &str, files: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()));
    for (path, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, format!("{top}/{path}"), text.as_bytes()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

type Pages = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>>;

/// A stand-in for dbt Hub (hub.getdbt.com cannot be reached here): an HTTP server on
/// localhost answering the Hub API's paths from `pages`, recording each path asked for.
fn serve(pages: Pages) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = asked.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).map_or(true, |n| n == 0) || line == "\r\n" {
                    break;
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("").to_owned();
            log.lock().unwrap().push(path.clone());
            let page = pages.lock().unwrap().get(&path).cloned();
            let (status, body) = match page {
                Some(b) => ("200 OK", b),
                None => ("404 Not Found", b"not found".to_vec()),
            };
            let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    (base, asked)
}

#[test]
fn deps_installs_hub_and_tarball_packages_as_dbt_does() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let helpers = |version: &str| {
        package_tarball(
            &format!("acme-helpers-{version}"),
            &[
                ("dbt_project.yml", "name: helpers_hub\nversion: '1.0.0'\nconfig-version: 2\n"),
                ("macros/v.sql", &format!("{{% macro version() %}}'{version}'{{% endmacro %}}")),
            ],
        )
    };
    let shared = Pages::default();
    let (base, asked) = serve(shared.clone());
    let tarball = |name: &str| format!("{base}/tarballs/{name}.tar.gz");
    let version = |name: &str, tb: &str, packages: serde_json::Value, dbt: serde_json::Value| {
        serde_json::json!({"name": name, "packages": packages, "downloads": {"tarball": tarball(tb)}, "require_dbt_version": dbt})
    };
    let none = || serde_json::json!([]);
    let mut pages = std::collections::HashMap::new();
    pages.insert("/api/v1/index.json".to_owned(), br#"["acme/helpers_hub", "acme/base_hub"]"#.to_vec());
    let helpers_versions = serde_json::json!({"name": "helpers_hub", "versions": {
        "1.0.0": version("helpers_hub", "helpers-1.0.0", none(), serde_json::Value::Null),
        "1.2.0": version("helpers_hub", "helpers-1.2.0", none(), serde_json::json!([">=1.3.0", "<2.0.0"])),
        "1.3.0-b1": version("helpers_hub", "helpers-1.3.0-b1", none(), serde_json::Value::Null),
        "1.9.0": version("helpers_hub", "helpers-1.9.0", none(), serde_json::json!([">=2.0.0"])),
        "2.0.0": version("helpers_hub", "helpers-2.0.0", none(), serde_json::Value::Null),
    }});
    pages.insert("/api/v1/acme/helpers_hub.json".to_owned(), helpers_versions.to_string().into_bytes());
    let needs_helpers = serde_json::json!([{"package": "acme/helpers_hub", "version": [">=1.1.0", "<3.0.0"]}]);
    let base_versions = serde_json::json!({"name": "base_hub", "versions": {
        "0.5.0": version("base_hub", "base-0.5.0", needs_helpers, serde_json::Value::Null),
    }});
    pages.insert("/api/v1/acme/base_hub.json".to_owned(), base_versions.to_string().into_bytes());
    for v in ["1.0.0", "1.2.0", "1.3.0-b1", "1.9.0", "2.0.0"] {
        pages.insert(format!("/tarballs/helpers-{v}.tar.gz"), helpers(v));
    }
    pages.insert(
        "/tarballs/base-0.5.0.tar.gz".to_owned(),
        package_tarball("acme-base-0.5.0", &[("dbt_project.yml", "name: base_hub\nversion: '0.5.0'\nconfig-version: 2\n")]),
    );
    pages.insert(
        "/tarballs/tb.tar.gz".to_owned(),
        package_tarball(
            "tb-main",
            &[
                ("dbt_project.yml", "name: tarred\nversion: '1.0.0'\nconfig-version: 2\n"),
                ("models/from_tarball.sql", "select 7 as n\n"),
            ],
        ),
    );
    shared.lock().unwrap().extend(pages);
    std::fs::create_dir_all(d.join("models")).unwrap();
    std::fs::write(d.join("dbt_project.yml"), "name: hubbed\nprofile: hubbed\n").unwrap();
    std::fs::write(
        d.join("profiles.yml"),
        "hubbed:\n  target: dev\n  outputs:\n    dev:\n      type: datafusion\n      warehouse: warehouse\n      schema: main\n",
    )
    .unwrap();
    std::fs::write(d.join("models/which.sql"), "select {{ helpers_hub.version() }} as v, n from {{ ref('from_tarball') }}\n").unwrap();
    let declared = format!(
        "packages:\n  - package: acme/base_hub\n    version: 0.5.0\n  - package: acme/helpers_hub\n    version: [\">=1.0.0\", \"<2.0.0\"]\n  - tarball: {base}/tarballs/tb.tar.gz\n    name: tb\n"
    );
    std::fs::write(d.join("packages.yml"), &declared).unwrap();
    let hub = [("DBT_PACKAGE_HUB_URL", format!("{base}/")), ("NO_PROXY", "127.0.0.1".to_owned())];
    let env: Vec<(&str, &str)> = hub.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = silt_env(d, &["deps"], &env);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The highest version both ranges admit that is no prerelease and whose
    // require_dbt_version admits dbt 1.11: 1.2.0 (1.9.0 needs dbt 2, 2.0.0 is out of range).
    assert!(out.stderr.contains("Installing acme/helpers_hub\n[time]  Installed from version 1.2.0\n[time]  Updated version available: 2.0.0"), "{}", out.stderr);
    assert!(out.stderr.contains("Installed from version 0.5.0\n[time]  Up to date!"), "{}", out.stderr);
    assert!(out.stderr.contains("Updates available for packages: acme/helpers_hub"), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("Installed from tarball (url: {base}/tarballs/tb.tar.gz)")), "{}", out.stderr);
    let lock = std::fs::read_to_string(d.join("package-lock.yml")).unwrap();
    // The hash dbt-core 1.11.16's `_create_sha1_hash` gives these declarations.
    let expected_lock = format!(
        "packages:\n  - name: base_hub\n    package: acme/base_hub\n    version: 0.5.0\n  - name: helpers_hub\n    package: acme/helpers_hub\n    version: 1.2.0\n  - name: tarred\n    tarball: {base}/tarballs/tb.tar.gz\n"
    );
    assert!(lock.starts_with(&expected_lock), "{lock}");
    assert_eq!(std::fs::read_to_string(d.join("dbt_packages/helpers_hub/macros/v.sql")).unwrap(), "{% macro version() %}'1.2.0'{% endmacro %}");
    assert!(d.join("dbt_packages/tarred/models/from_tarball.sql").is_file());
    assert!(!asked.lock().unwrap().iter().any(|p| p.contains("helpers-2.0.0") || p.contains("helpers-1.9.0")), "only what is installed is downloaded");
    // The installed packages build.
    let out = silt(d, &["run"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = silt(d, &["show", "--inline", "select * from which"]);
    assert!(out.stdout.contains("1.2.0") && out.stdout.contains('7'), "{}", out.stdout);

    // The lock is used as it is: the same versions, even once the Hub has a newer one.
    std::fs::remove_dir_all(d.join("dbt_packages")).unwrap();
    let out = silt_env(d, &["deps"], &env);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("Installed from version 1.2.0"), "{}", out.stderr);

    // What cannot be resolved is an error naming the package and what was asked.
    for (packages, message) in [
        ("packages:\n  - package: acme/helpers_hub\n    version: \">=3.0.0\"\n", "could not find a matching compatible version for package `acme/helpers_hub`"),
        ("packages:\n  - package: acme/helpers_hub\n    version: [\"1.0.0\", \"1.2.0\"]\n", "version error for package `acme/helpers_hub`"),
        ("packages:\n  - package: acme/helper_hub\n    version: 1.0.0\n", "package `acme/helper_hub` was not found in the package index"),
        ("packages:\n  - package: acme/helpers_hub\n", "a Hub package needs a `version`"),
    ] {
        std::fs::write(d.join("packages.yml"), packages).unwrap();
        let out = silt_env(d, &["deps", "--upgrade"], &env);
        assert_eq!(out.code, 1, "{packages}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{packages}: {}", out.stderr);
    }
    // An unreachable Hub says which address failed.
    std::fs::write(d.join("packages.yml"), "packages:\n  - package: acme/helpers_hub\n    version: 1.0.0\n").unwrap();
    let out = silt_env(d, &["deps", "--upgrade"], &[("DBT_PACKAGE_HUB_URL", "http://127.0.0.1:9/")]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("cannot download `http://127.0.0.1:9/api/v1/index.json`"), "{}", out.stderr);
}

#[test]
fn deps_locks_and_installs_local_and_git_packages_as_dbt_does() {
    let dir = fixture("packages");
    let d = dir.path();
    // Local packages (one also declared by the other): the lock is byte for byte the one
    // dbt-core 1.11 wrote for the same packages.yml.
    let out = silt(d, &["deps"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("Updating lock file in file path:"), "{}", out.stderr);
    assert!(out.stderr.contains("Installing local_packages/marts\n[time]  Installed from <local @ local_packages/marts>"), "{}", out.stderr);
    let lock = std::fs::read_to_string(d.join("package-lock.yml")).unwrap();
    let dbt = std::fs::read_to_string(common::fixtures().join("packages/expected/package-lock.yml")).unwrap();
    assert_eq!(lock, dbt);
    let installed = d.join("dbt_packages/marts/models/base_orders.sql");
    assert!(std::fs::symlink_metadata(d.join("dbt_packages/marts")).unwrap().file_type().is_symlink());
    assert!(installed.is_file(), "{}", installed.display());
    // The lock matches the declarations: it is used as it is.
    let out = silt(d, &["deps"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("Updating lock file"), "{}", out.stderr);

    // Git packages: at a tag (pinned to its commit), and a folder of a repository at its
    // default branch.
    let repos = tempfile::tempdir().unwrap();
    let (one, two) = (repos.path().join("one"), repos.path().join("two"));
    std::fs::create_dir_all(&one).unwrap();
    std::fs::create_dir_all(&two).unwrap();
    let (url_one, v1, _) = git_package(&one, "git_one", None);
    let (url_two, _, head_two) = git_package(&two, "git_two", Some("pkg"));
    let declared = format!(
        "packages:\n  - local: local_packages/marts\n  - git: \"{url_one}\"\n    revision: v1\n  - git: \"{url_two}\"\n    subdirectory: pkg\n    warn-unpinned: false\n"
    );
    std::fs::write(d.join("packages.yml"), &declared).unwrap();
    let out = silt(d, &["deps"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("Updating lock file"), "changed declarations are locked again: {}", out.stderr);
    assert!(out.stderr.contains(&format!("Installed from revision {v1}")), "{}", out.stderr);
    assert!(out.stderr.contains("and subdirectory pkg"), "{}", out.stderr);
    let lock = std::fs::read_to_string(d.join("package-lock.yml")).unwrap();
    assert!(lock.contains(&format!("  - git: {url_one}\n    name: git_one\n    revision: {v1}\n")), "{lock}");
    assert!(lock.contains(&format!("    name: git_two\n    revision: {head_two}\n    subdirectory: pkg\n")), "{lock}");
    assert!(lock.contains("    name: helpers\n"), "marts' own package is locked too: {lock}");
    let read = |p: &str| std::fs::read_to_string(d.join("dbt_packages").join(p)).unwrap();
    assert_eq!(read("git_one/models/g.sql"), "select 1 as v\n", "the tag's content, not the branch's");
    assert_eq!(read("git_two/models/g.sql"), "select 2 as v\n");
    assert!(d.join("dbt_packages/git_two/dbt_project.yml").is_file());
    // The lock pins the commit: a new commit on the branch is not taken until --upgrade.
    std::fs::write(two.join("pkg/models/g.sql"), "select 3 as v\n").unwrap();
    let commit = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "three"])
        .current_dir(&two)
        .status()
        .unwrap();
    assert!(commit.success());
    assert_eq!(silt(d, &["deps"]).code, 0);
    assert_eq!(read("git_two/models/g.sql"), "select 2 as v\n");
    assert_eq!(silt(d, &["deps", "--upgrade"]).code, 0);
    assert_eq!(read("git_two/models/g.sql"), "select 3 as v\n");
    // --lock writes the lock only.
    std::fs::remove_dir_all(d.join("dbt_packages")).unwrap();
    std::fs::write(d.join("packages.yml"), format!("{declared}  - local: local_packages/helpers\n")).unwrap();
    let out = silt(d, &["deps", "--lock"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("Updating lock file") && !d.join("dbt_packages").exists(), "{}", out.stderr);

    // What cannot be installed is the project's error, naming the declaration.
    for (packages, message) in [
        ("packages:\n  - git: x\n    revison: v1\n", "unknown key `revison` in a `git` package"),
        ("packages:\n  - local: no_such_folder\n", "local package `no_such_folder` is not a folder"),
        (
            &format!("packages:\n  - git: \"{url_one}\"\n    revision: v9\n"),
            "cannot check out revision `v9`",
        ),
    ] {
        std::fs::write(d.join("packages.yml"), packages).unwrap();
        let out = silt(d, &["deps", "--upgrade"]);
        assert_eq!(out.code, 1, "{packages}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{packages}: {}", out.stderr);
    }
}

#[test]
fn seed_show_prints_a_random_sample_of_each_seed() {
    let dir = fixture("dbt_shop");
    let d = dir.path();
    let out = silt(d, &["seed", "--show"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for seed in ["raw_customers", "raw_orders", "raw_payments"] {
        let header = format!("Random sample of table: main.{seed}");
        let rule = "-".repeat(header.len());
        assert!(out.stderr.contains(&format!("{header}\n[time]  {rule}\n")), "{}", out.stderr);
    }
    // Each table: its header, the rule, then its rows; at most ten, then a row of `...`.
    let tables: Vec<&str> = out.stdout.split("\n| id ").collect();
    let rows = |table: &str| table.lines().skip(2).filter(|l| l.starts_with('|')).count();
    assert_eq!(tables.len(), 3, "{}", out.stdout);
    assert!(out.stdout.starts_with("| id | first_name | last_name | signed_up  |\n"), "{}", out.stdout);
    assert_eq!(rows(tables[0]), 6, "six customers, all shown: {}", tables[0]);
    assert_eq!(rows(tables[2]), 11, "seventeen payments: ten and `...`: {}", tables[2]);
    assert!(tables[2].trim_end().ends_with("| ... | ...      | ...            | ...    | ...   |"), "{}", tables[2]);
}

#[test]
fn empty_runs_every_model_reading_no_rows() {
    let dir = fixture("dbt_shop");
    let d = dir.path();
    assert_eq!(silt(d, &["seed"]).code, 0);
    // As dbt's `render_limited`: each `ref` and `source` is a subquery reading no rows.
    let out = silt(d, &["compile", "--empty", "-s", "stg_orders"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("from (select * from \"main\".\"raw_orders\" where false limit 0)"), "{}", out.stdout);
    let out = silt(d, &["run", "--empty", "--vars", "{batch: 1}"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let count = |table: &str| {
        let out = silt(d, &["show", "--inline", &format!("select count(*) as n from {table}"), "--output", "csv"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout.lines().nth(1).unwrap_or_default().to_owned()
    };
    // The tables exist with their columns and no rows; the seeds keep theirs.
    assert_eq!(count("customers"), "0");
    assert_eq!(count("payments_incremental"), "0");
    assert_eq!(count("raw_orders"), "12");
    let out = silt(d, &["run", "--vars", "{batch: 1}"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_ne!(count("customers"), "0");
}

#[test]
fn state_modified_selects_what_changed_since_an_earlier_run() {
    let dir = fixture("dbt_shop");
    let d = dir.path();
    assert_eq!(silt(d, &["seed"]).code, 0);
    let out = silt(d, &["run", "--vars", "{batch: 1}"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Production's artifacts, kept; then one model changes.
    std::fs::create_dir_all(d.join("prod")).unwrap();
    std::fs::copy(d.join("target/manifest.json"), d.join("prod/manifest.json")).unwrap();
    let ls = |args: &[&str]| {
        let out = silt(d, &[&["ls", "-q", "--output", "name"], args].concat());
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout
    };
    assert_eq!(ls(&["-s", "state:modified", "--state", "prod"]), "");
    let model = d.join("models/staging/stg_orders.sql");
    let sql = std::fs::read_to_string(&model).unwrap();
    std::fs::write(&model, format!("{sql}\n-- reworded\n")).unwrap();
    assert_eq!(ls(&["-s", "state:modified", "--state", "prod"]), "stg_orders\n");
    assert_eq!(
        ls(&["-s", "state:modified+", "--state", "prod", "--resource-type", "model"]),
        "customer_orders\ncustomers\nrecent_orders\nstg_orders\n"
    );
    // DBT_STATE stands for --state, as in dbt.
    let out = silt_env(d, &["ls", "-q", "--output", "name", "-s", "state:modified"], &[("DBT_STATE", "prod")]);
    assert_eq!(out.stdout, "stg_orders\n", "{}", out.stderr);
    let out = silt(d, &["run", "-s", "state:modified", "--state", "prod", "--vars", "{batch: 1}"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("TOTAL=1"), "{}", out.stderr);
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("target/run_results.json")).unwrap()).unwrap();
    assert_eq!(results["results"][0]["unique_id"], "model.dbt_shop.stg_orders");
    assert_eq!(results["args"]["state"], "prod");

    let out = silt(d, &["ls", "-s", "state:modified"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("error: `state:modified` compares the project with an earlier run, and no --state was given"), "{}", out.stderr);
    let out = silt(d, &["ls", "-s", "state:new", "--state", "nowhere"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("error: --state: cannot read `nowhere/manifest.json`"), "{}", out.stderr);
    let out = silt(d, &["ls", "-s", "state:changed", "--state", "prod"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("`state:` takes one of `new`, `old`, `modified`"), "{}", out.stderr);
}

/// The hooks fixture after `seed`, `run`, `run`: every invocation reports the nodes and
/// hooks dbt-duckdb reports, with the same statuses, and the tables the hooks wrote
/// (on-run-start/end with `results` and `schemas`, model and seed hooks with `this`,
/// `thread_id`, `is_incremental()`, a hook that refs a model, `before_begin`/`after_commit`
/// order, a failing pre-hook) hold what they hold under dbt (tests/fixtures/hooks/make_expected.py).
#[test]
fn hooks_run_as_in_dbt() {
    let dir = fixture("hooks");
    let outputs = same_as_dbt(dir.path(), "hooks", &[("seed", &["seed"], 0), ("run1", &["run"], 1), ("run2", &["run"], 1)]);
    for out in &outputs[1..] {
        assert!(out.stderr.contains("pre-hook 1 of 1 failed: table `main.no_such_table` does not exist"), "{}", out.stderr);
    }
}

/// The queries fixture after `seed`, `run` (from an empty warehouse), `run`: run_query,
/// statement blocks and load_result, get_columns_in_relation, get_relation, load_relation,
/// api.Relation and a post-hook that queries give the tables dbt-duckdb gives, and a ref
/// that only a statement block makes fails its model as in dbt
/// (tests/fixtures/queries/make_expected.py).
#[test]
fn queries_while_compiling_as_in_dbt() {
    let dir = fixture("queries");
    let outputs = same_as_dbt(dir.path(), "queries", &[("seed", &["seed"], 0), ("run1", &["run"], 1), ("run2", &["run"], 1)]);
    for out in &outputs[1..] {
        assert!(
            out.stderr.contains("Silt was unable to infer all dependencies for the model \"unhinted\""),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("-- depends_on: {{ ref('base') }}"), "{}", out.stderr);
    }
}

/// The snapshots fixture built three times as its source changes (rows change, vanish and
/// come back): every snapshot (timestamp and check strategies, `check_cols: all`, a
/// two-column key, hard deletes ignored, invalidated or recorded, `target_schema`, renamed
/// meta columns, `dbt_valid_to_current`, one defined in YAML) holds the history dbt-duckdb
/// keeps (tests/fixtures/snapshots/make_expected.py). `silt snapshot` with nothing new
/// changes nothing.
#[test]
fn snapshots_as_in_dbt() {
    let dir = fixture("snapshots");
    let d = dir.path();
    let outputs = same_as_dbt(
        d,
        "snapshots",
        &[
            ("build1", &["build", "--no-docs", "--vars", "{batch: 1}"], 0),
            ("build2", &["build", "--no-docs", "--vars", "{batch: 2}"], 0),
            ("build3", &["build", "--no-docs", "--vars", "{batch: 3}"], 0),
        ],
    );
    assert!(outputs[0].stderr.contains("OK snapshotted main.orders_ts"), "{}", outputs[0].stderr);
    let before = silt(d, &["show", "-q", "--inline", "select count(*) as n from main.orders_all", "--output", "csv"]);
    let out = silt(d, &["snapshot", "--vars", "{batch: 3}"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("Finished running 5 snapshots"), "{}", out.stderr);
    assert!(out.stderr.contains("OK snapshotted main.orders_all") && out.stderr.contains("[MERGE 0 in"), "{}", out.stderr);
    let after = silt(d, &["show", "-q", "--inline", "select count(*) as n from main.orders_all", "--output", "csv"]);
    assert_eq!(before.stdout, after.stdout);
    // Snapshots are selected by compile and ls like models.
    let out = silt(d, &["compile", "-q", "-s", "orders_ts", "--vars", "{batch: 3}"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("select * from \"main\".\"current_orders\""), "{}", out.stdout);
    let out = silt(d, &["ls", "-q", "--resource-type", "snapshot", "--output", "name"]);
    assert_eq!(out.stdout, "orders_all\norders_check\norders_keyed\norders_ts\norders_yaml\n", "{}", out.stderr);
}

/// Runs `invocations` (name in the oracle, arguments, exit code) in the fixture copy `d`:
/// each must report the unique ids and statuses dbt-duckdb reported, and after the last,
/// each query of the fixture's checks.sql must give the rows its expected CSV holds.
fn same_as_dbt(d: &Path, fixture_name: &str, invocations: &[(&str, &[&str], i32)]) -> Vec<Output> {
    let expected = common::fixtures().join(fixture_name).join("expected");
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(expected.join("run_results.json")).unwrap()).unwrap();
    let mut outputs = Vec::new();
    for (invocation, args, code) in invocations {
        let out = silt(d, args);
        assert_eq!(out.code, *code, "{invocation}: {}", out.stderr);
        let results: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("target/run_results.json")).unwrap()).unwrap();
        let mut got: Vec<serde_json::Value> = results["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| serde_json::json!({"unique_id": r["unique_id"], "status": r["status"]}))
            .collect();
        got.sort_by_key(|r| r["unique_id"].as_str().unwrap_or_default().to_owned());
        assert_eq!(serde_json::Value::Array(got), want[*invocation], "{invocation}:\n{}", out.stderr);
        outputs.push(out);
    }
    let checks = std::fs::read_to_string(common::fixtures().join(fixture_name).join("checks.sql")).unwrap();
    let lines: Vec<&str> = checks.lines().collect();
    for pair in lines.chunks(2) {
        let (name, sql) = (pair[0].trim_start_matches("-- ").trim(), pair[1]);
        let out = silt(d, &["show", "-q", "--inline", sql, "--limit", "-1", "--output", "csv"]);
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        // Silt's CSV writes null as an empty cell; the oracle as \N.
        let mut got: Vec<String> = out
            .stdout
            .lines()
            .map(|l| l.split(',').map(|c| if c.is_empty() { "\\N" } else { c }).collect::<Vec<_>>().join(","))
            .collect();
        got[1..].sort();
        let want = std::fs::read_to_string(expected.join(format!("{name}.csv"))).unwrap();
        let want: Vec<&str> = want.lines().collect();
        assert_eq!(got, want, "{name}: {sql}");
    }
    outputs
}

/// Exposures are nodes that build nothing: `build` reports them `NO-OP` once what they
/// read is built (skipped when it failed), `exposure:` selects them, and the manifest lists
/// them as dbt does.
#[test]
fn exposures_are_no_ops_downstream_of_what_they_read() {
    let dir = fixture("mat");
    let d = dir.path();
    std::fs::write(
        d.join("models/exposures.yml"),
        "version: 2
exposures:
  - name: weekly_report
    label: Weekly report
    type: dashboard
    maturity: high
    url: https://bi.example.com/weekly
    owner: {name: Ana, email: ana@example.com}
    depends_on:
      - ref('tbl')
      - ref('vw')
  - name: broken_feed
    type: application
    owner: {email: ops@example.com}
    depends_on: [ref('failing')]
",
    )
    .unwrap();
    assert_eq!(silt(d, &["seed", "-q"]).code, 0);
    let names = silt(d, &["ls", "-q", "--select", "+exposure:weekly_report", "--output", "name"]);
    assert_eq!(names.code, 0, "{}", names.stderr);
    let mut listed: Vec<&str> = names.stdout.lines().collect();
    listed.sort_unstable();
    assert_eq!(listed, vec!["events", "tbl", "vw", "weekly_report"]);
    let build = silt(d, &["build", "--no-docs", "--vars", "{break: true}"]);
    assert_eq!(build.code, 1, "{}", build.stderr);
    assert!(build.stderr.contains("NO-OP exposure weekly_report"), "{}", build.stderr);
    assert!(build.stderr.contains("SKIP exposure broken_feed"), "{}", build.stderr);
    assert!(build.stderr.contains("SKIP=2 NO-OP=1 TOTAL="), "{}", build.stderr);
    assert!(build.stderr.contains("macros, 2 exposures"), "{}", build.stderr);
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("target/run_results.json")).unwrap()).unwrap();
    let status = |id: &str| {
        results["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["unique_id"] == id)
            .map(|r| r["status"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(status("exposure.mat.weekly_report").as_deref(), Some("no-op"));
    assert_eq!(status("exposure.mat.broken_feed").as_deref(), Some("skipped"));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("target/manifest.json")).unwrap()).unwrap();
    let e = &manifest["exposures"]["exposure.mat.weekly_report"];
    assert_eq!(e["type"], "dashboard");
    assert_eq!(e["owner"]["email"], "ana@example.com");
    assert_eq!(e["label"], "Weekly report");
    assert_eq!(e["depends_on"]["nodes"], serde_json::json!(["model.mat.tbl", "model.mat.vw"]));
    assert!(manifest["nodes"].get("exposure.mat.weekly_report").is_none());
    assert_eq!(manifest["child_map"]["model.mat.vw"], serde_json::json!(["exposure.mat.weekly_report"]));
    // `run` builds models only.
    let run = silt(d, &["run", "-s", "+exposure:weekly_report"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("NO-OP exposure") && run.stderr.contains("TOTAL=2"), "{}", run.stderr);
    // A bad exposure names its file and line.
    std::fs::write(
        d.join("models/exposures.yml"),
        "version: 2\nexposures:\n  - name: weekly_report\n    type: report\n    owner: {name: Ana}\n",
    )
    .unwrap();
    let bad = silt(d, &["ls", "-q"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("models/exposures.yml:4"), "{}", bad.stderr);
    assert!(bad.stderr.contains("has type `report`; dbt's types are dashboard, notebook, analysis, ml, application"), "{}", bad.stderr);
}

/// `run-operation` calls a macro with `--args` against the warehouse (what it runs through
/// `run_query` is done), records it in run_results.json, and fails clearly.
#[test]
fn run_operation_calls_a_macro_against_the_warehouse() {
    let dir = fixture("mat");
    let d = dir.path();
    std::fs::create_dir_all(d.join("macros")).unwrap();
    std::fs::write(
        d.join("macros/ops.sql"),
        "{% macro log_rows(table, days=7) %}
  {% set n = run_query('select count(*) as n from ' ~ ref(table)) %}
  {{ log('rows in ' ~ table ~ ': ' ~ n.columns[0].values()[0] ~ ' over ' ~ days ~ ' days', info=True) }}
  {% do run_query('create table if not exists main.op_log as select 0 as days') %}
  {% do run_query('insert into main.op_log values (' ~ days ~ ')') %}
{% endmacro %}
{% macro boom() %}
  {{ exceptions.raise_compiler_error('not today') }}
{% endmacro %}
",
    )
    .unwrap();
    assert_eq!(silt(d, &["seed", "-q"]).code, 0);
    assert_eq!(silt(d, &["run", "-q", "-s", "tbl"]).code, 0);
    let ok = silt(d, &["run-operation", "log_rows", "--args", "{table: tbl, days: 3}"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stderr.contains("rows in tbl: 6 over 3 days"), "{}", ok.stderr);
    assert_eq!(show_row(d, "select sum(days) as s, count(*) as n from main.op_log", &[])["s"], 3);
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("target/run_results.json")).unwrap()).unwrap();
    assert_eq!(results["results"][0]["unique_id"], "macro.mat.log_rows");
    assert_eq!(results["results"][0]["status"], "success");
    let boom = silt(d, &["run-operation", "mat.boom"]);
    assert_eq!(boom.code, 1);
    assert!(boom.stderr.contains("Encountered an error while running operation:"), "{}", boom.stderr);
    assert!(boom.stderr.contains("error: not today") && boom.stderr.contains("macros/ops.sql:8"), "{}", boom.stderr);
    let missing = silt(d, &["run-operation", "log_row"]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("no macro named `log_row`") && missing.stderr.contains("did you mean `log_rows`?"), "{}", missing.stderr);
    let bad_args = silt(d, &["run-operation", "log_rows", "--args", "[1, 2]"]);
    assert_eq!(bad_args.code, 1);
    assert!(bad_args.stderr.contains("`--args` must be a mapping"), "{}", bad_args.stderr);
}

/// `result:<status>` selects by the `--state` run's run_results.json, as dbt's.
#[test]
fn result_selection_reads_the_earlier_runs_results() {
    let dir = fixture("mat");
    let d = dir.path();
    assert_eq!(silt(d, &["seed", "-q"]).code, 0);
    assert_eq!(silt(d, &["run", "-q", "--vars", "{break: true}"]).code, 1);
    let state = d.join("prev");
    std::fs::create_dir_all(&state).unwrap();
    for f in ["manifest.json", "run_results.json"] {
        std::fs::copy(d.join("target").join(f), state.join(f)).unwrap();
    }
    let names = |sel: &str| {
        let out = silt(d, &["ls", "-q", "--select", sel, "--state", "prev", "--output", "name"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let mut v: Vec<String> = out.stdout.lines().map(str::to_owned).collect();
        v.sort();
        v
    };
    assert_eq!(names("result:error"), vec!["failing"]);
    assert_eq!(names("result:skipped"), vec!["child_of_failing"]);
    assert_eq!(names("result:error+"), vec!["child_of_failing", "failing"]);
    // Re-running what failed, as dbt users do after fixing it.
    let rerun = silt(d, &["run", "-q", "--select", "result:error+", "--state", "prev"]);
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    std::fs::remove_file(state.join("run_results.json")).unwrap();
    let missing = silt(d, &["ls", "-q", "--select", "result:error", "--state", "prev"]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("the --state folder has no run_results.json"), "{}", missing.stderr);
    let bad = silt(d, &["ls", "-q", "--select", "result:broken", "--state", "prev"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("`result:` takes a status"), "{}", bad.stderr);
}

/// `selectors.yml`: `--selector` runs a named selection, the `default: true` one applies
/// when nothing is selected, and a wrong name is a clear error.
#[test]
fn selectors_yml_names_selections() {
    let dir = fixture("selection");
    let d = dir.path();
    std::fs::write(
        d.join("selectors.yml"),
        "selectors:
  - name: marts
    definition:
      union:
        - method: fqn
          value: fct
          parents: true
        - exclude: ['stg_b']
  - name: only_a
    default: true
    definition: 'stg_a'
",
    )
    .unwrap();
    let names = |args: &[&str]| {
        let mut all = vec!["ls", "-q", "--output", "name"];
        all.extend_from_slice(args);
        let out = silt(d, &all);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let mut v: Vec<String> = out.stdout.lines().map(str::to_owned).collect();
        v.sort();
        v
    };
    assert_eq!(names(&["--selector", "marts"]), vec!["fct", "raw_a", "stg_a"]);
    assert_eq!(names(&[]), vec!["stg_a"]);
    assert_eq!(names(&["-s", "fct"]), vec!["fct"]);
    let bad = silt(d, &["ls", "-q", "--selector", "mart"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("no selector named `mart` in selectors.yml") && bad.stderr.contains("did you mean `marts`?"), "{}", bad.stderr);
    let both = silt(d, &["ls", "-q", "--selector", "marts", "-s", "fct"]);
    assert_eq!(both.code, 1);
    assert!(both.stderr.contains("--selector and --select cannot be used together"), "{}", both.stderr);
}

/// As dbt, a change that breaks a model's enforced contract is warned of whenever `state:`
/// compares: columns removed, data types changed, enforced constraints dropped.
#[test]
fn a_breaking_contract_change_is_warned_of() {
    let dir = fixture("contracts");
    let d = dir.path();
    assert_eq!(silt(d, &["compile", "-q"]).code, 0);
    std::fs::create_dir_all(d.join("prev")).unwrap();
    std::fs::copy(d.join("target/manifest.json"), d.join("prev/manifest.json")).unwrap();
    let unchanged = silt(d, &["ls", "-s", "state:modified", "--state", "prev"]);
    assert!(!unchanged.stderr.contains("breaking change"), "{}", unchanged.stderr);
    let schema = d.join("models/schema.yml");
    let text = std::fs::read_to_string(&schema).unwrap();
    let changed = text.replacen(
        "      - name: id\n        data_type: bigint\n        constraints:\n          - type: primary_key\n      - name: name\n        data_type: string\n        constraints:\n          - type: not_null\n      - name: price\n        data_type: double\n",
        "      - name: id\n        data_type: int\n        constraints:\n          - type: primary_key\n      - name: name\n        data_type: string\n",
        1,
    );
    assert_ne!(changed, text, "the fixture's `kept` contract moved");
    std::fs::write(&schema, changed).unwrap();
    let ls = silt(d, &["ls", "-s", "state:modified", "--state", "prev", "--output", "name"]);
    assert_eq!(ls.code, 0, "{}", ls.stderr);
    assert!(
        ls.stderr.contains("warning: breaking change to the contract of model `kept`: columns removed: price; data types changed: id (bigint -> int); enforced column constraints removed: name (not_null)"),
        "{}",
        ls.stderr
    );
    assert!(ls.stdout.lines().any(|l| l == "kept"), "{}", ls.stdout);
}
