"""dbt's adapter test suite (PyPI `dbt-tests-adapter`) as a differential harness.

Every test class of the suite's directories below declares a dbt project in its fixtures
(`models`, `seeds`, `macros`, `snapshots`, `tests`, `analyses`, `project_config_update`).
`harvest` writes each distinct project into cases.json (committed, so the check needs no
dbt). Each project is run as the suite's tests mostly run it (`seed`, then `build`), and
what happened is recorded: each node's status and the rows of every relation it built.
`expected` does that with dbt-core + dbt-duckdb and writes expected.json (committed);
`check` does it with Silt, compares, and writes results.md. With `--require passing.txt`,
`check` fails when a case listed there no longer gives dbt-duckdb's results (the README's
test command runs it so).

It runs the suite's projects, not its Python assertions (those drive dbt in-process and read
DuckDB through dbt's adapter); a case passes when Silt reports the same statuses as
dbt-duckdb and builds the same rows.

    python -m venv /tmp/dbtvenv
    /tmp/dbtvenv/bin/pip install "dbt-core<1.12" dbt-duckdb dbt-tests-adapter "pytest<9"
    /tmp/dbtvenv/bin/python bench/dbt_adapter_suite/harness.py harvest
    /tmp/dbtvenv/bin/python bench/dbt_adapter_suite/harness.py expected
    python3 bench/dbt_adapter_suite/harness.py check --silt target/debug/silt
"""

import argparse
import datetime
import decimal
import hashlib
import importlib
import inspect
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SUITES = [
    "basic", "utils", "incremental", "ephemeral", "aliases", "simple_seed", "constraints",
    "unit_testing", "dbt_show", "empty", "hooks", "simple_snapshot", "store_test_failures_tests",
]
FILE_FIXTURES = ["models", "seeds", "macros", "snapshots", "tests", "analyses"]
SCHEMA = "test_schema"


def fixture_function(attr):
    """The function behind a pytest fixture defined on a class, or None."""
    wrapped = getattr(attr, "__pytest_wrapped__", None)
    if wrapped is not None:
        return wrapped.obj
    get = getattr(attr, "_get_wrapped_function", None)
    if get is not None:
        return get()
    return None


def call_fixture(cls, name, module_dir):
    """Calls fixture `name` of `cls` with what the suite's own fixtures would give for
    `unique_schema` and `test_data_dir`; (value, problem)."""
    attr = getattr(cls, name, None)
    if attr is None:
        return None, None
    func = fixture_function(attr)
    if func is None:
        return None, None
    known = {"unique_schema": SCHEMA, "test_data_dir": os.path.join(module_dir, "data")}
    params = [p for p in inspect.signature(func).parameters if p != "self"]
    unknown = [p for p in params if p not in known]
    if unknown:
        return None, f"fixture `{name}` needs {', '.join(unknown)}"
    try:
        return func(cls(), **{p: known[p] for p in params}), None
    except Exception as e:  # a fixture that reads files the suite ships, say
        return None, f"fixture `{name}` failed: {e}"


def harvest():
    """Every class with a project: {case name: {"files": {path: text}, "config": {...}}}."""
    cases = {}
    seen = {}
    for suite in SUITES:
        package = importlib.import_module(f"dbt.tests.adapter.{suite}")
        modules = [package]
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            try:
                modules.append(importlib.import_module(info.name))
            except Exception as e:
                print(f"skip {info.name}: {e}", file=sys.stderr)
        for module in modules:
            for name, cls in inspect.getmembers(module, inspect.isclass):
                if cls.__module__ != module.__name__ or not (name.startswith("Test") or name.startswith("Base")):
                    continue
                files, problems = {}, []
                module_dir = os.path.dirname(inspect.getfile(cls))
                for kind in FILE_FIXTURES:
                    value, problem = call_fixture(cls, kind, module_dir)
                    if problem:
                        problems.append(problem)
                    if isinstance(value, dict):
                        flatten(files, kind, value)
                config, problem = call_fixture(cls, "project_config_update", module_dir)
                if problem:
                    problems.append(problem)
                if isinstance(config, str):
                    import yaml

                    config = yaml.safe_load(config)
                if not files:
                    continue
                key = hashlib.sha256(json.dumps([files, config], sort_keys=True, default=str).encode()).hexdigest()
                case = f"{module.__name__.removeprefix('dbt.tests.adapter.')}.{name}"
                if key in seen:
                    continue
                seen[key] = case
                cases[case] = {"files": files, "config": config or {}, "problems": problems}
    return cases


def flatten(out, prefix, tree):
    for k, v in tree.items():
        if isinstance(v, dict):
            flatten(out, f"{prefix}/{k}", v)
        else:
            out[f"{prefix}/{k}"] = v


def write_project(root, case, profile):
    os.makedirs(root, exist_ok=True)
    for path, text in case["files"].items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
    config = {"name": "test", "profile": "test", "config-version": 2}
    config.update(case["config"])
    config.pop("flags", None)
    # JSON is YAML: the project file needs no YAML library to write.
    with open(os.path.join(root, "dbt_project.yml"), "w") as f:
        json.dump(config, f, indent=1, sort_keys=True)
    with open(os.path.join(root, "profiles.yml"), "w") as f:
        f.write(profile)


# The database file by its absolute path: dbt-duckdb keeps connections by path, and every
# case has a file of its own.
DBT_PROFILE = """test:
  target: default
  outputs:
    default:
      type: duckdb
      path: {root}/test.duckdb
      schema: %s
      threads: 4
""" % SCHEMA

SILT_PROFILE = f"""test:
  target: default
  outputs:
    default:
      type: datafusion
      warehouse: warehouse
      schema: {SCHEMA}
      threads: 4
"""

COMMANDS = [["seed"], ["build"]]


def statuses(root):
    path = os.path.join(root, "target", "run_results.json")
    try:
        with open(path) as f:
            results = json.load(f)["results"]
    except (OSError, ValueError, KeyError):
        return None
    return sorted([r["unique_id"], r["status"]] for r in results)


def relations(root):
    """The relations the last invocation built or loaded: schema.name per node."""
    path = os.path.join(root, "target", "manifest.json")
    try:
        with open(path) as f:
            nodes = json.load(f)["nodes"]
    except (OSError, ValueError, KeyError):
        return []
    out = []
    for node in nodes.values():
        if node.get("resource_type") not in ("model", "seed", "snapshot"):
            continue
        if node.get("config", {}).get("materialized") == "ephemeral" or not node.get("config", {}).get("enabled", True):
            continue
        out.append(f"{node['schema']}.{node.get('alias') or node['name']}")
    return sorted(set(out))


def cell(v):
    """A value as both engines' results compare: numbers as rounded floats, times as text
    without a `T`, booleans and nulls as JSON."""
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, (int, float, decimal.Decimal)):
        return round(float(v), 6)
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        v = str(v)
    if isinstance(v, str):
        if re.fullmatch(r"-?\d+(\.\d+)?", v):
            return round(float(v), 6)
        if re.match(r"\d{4}-\d{2}-\d{2}[T ]\d", v):
            v = v.replace("T", " ")
            v = re.sub(r"\.0+$", "", v)
            v = re.sub(r"(\.\d*?)0+$", r"\1", v)
        return v
    return str(v)


def run_case(root, runner):
    out = {"invocations": [], "tables": {}}
    for args in COMMANDS:
        code = runner(root, args)
        out["invocations"].append({"args": args, "code": code, "results": statuses(root)})
    return out


def run_dbt_in_process(root, args):
    """Runs dbt in this process (dbt's own test utilities do; a process per command would
    spend most of its time starting Python): 0 when it succeeded, 1 when nodes failed, 2
    when it could not run."""
    from dbt.cli.main import dbtRunner

    cwd = os.getcwd()
    os.chdir(root)
    try:
        res = dbtRunner().invoke([*args, "--profiles-dir", root, "--project-dir", root, "--quiet"])
    finally:
        os.chdir(cwd)
    if res.exception is not None:
        return 2
    return 0 if res.success else 1


def load_cases():
    with open(os.path.join(HERE, "cases.json")) as f:
        return json.load(f)


def write_cases(args):
    cases = harvest()
    with open(os.path.join(HERE, "cases.json"), "w") as f:
        json.dump(cases, f, indent=0, sort_keys=True)
        f.write("\n")
    print(f"{len(cases)} cases", file=sys.stderr)


def expected(args):
    cases = load_cases()
    work = tempfile.mkdtemp()
    results = {}
    try:
        import duckdb
    except ImportError:
        sys.exit("expected needs dbt-duckdb (duckdb) installed")
    for name, case in sorted(cases.items()):
        root = os.path.join(work, name)
        write_project(root, case, DBT_PROFILE.replace("{root}", root))
        runner = lambda r, a: run_dbt_in_process(r, a)
        out = run_case(root, runner)
        db = os.path.join(root, "test.duckdb")
        from dbt.adapters.factory import reset_adapters

        reset_adapters()  # closes dbt's connection to the file
        if os.path.exists(db):
            con = duckdb.connect(db)
            for rel in relations(root):
                try:
                    cur = con.execute(f"select * from {rel}")
                    cols = [d[0] for d in cur.description]
                    rows = sorted(([cell(v) for v in row] for row in cur.fetchall()), key=json.dumps)
                    out["tables"][rel] = {"columns": cols, "rows": rows}
                except Exception as e:
                    out["tables"][rel] = {"error": str(e).splitlines()[0]}
            con.close()
        out["problems"] = case["problems"]
        results[name] = out
        print(name, [i["code"] for i in out["invocations"]], file=sys.stderr)
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
        f.write("\n")
    shutil.rmtree(work)


def silt_rows(silt, root, rel):
    p = subprocess.run(
        [silt, "show", "-q", "--inline", f"select * from {rel}", "--limit", "-1", "--output", "json"],
        cwd=root, capture_output=True, text=True,
    )
    if p.returncode != 0:
        return {"error": p.stderr.strip().splitlines()[0] if p.stderr.strip() else "failed"}
    data = json.loads(p.stdout)
    rows = data if isinstance(data, list) else data.get("show", [])
    if rows and isinstance(rows[0], dict):
        cols = list(rows[0].keys())
        rows = [[r[c] for c in cols] for r in rows]
    else:
        cols = []
    return {"columns": cols, "rows": sorted(([cell(v) for v in r] for r in rows), key=json.dumps)}


# Cases whose tables hold the time they were built: their rows are not compared.
RUN_TIME_CASES = {
    "utils.test_current_timestamp.BaseCurrentTimestamp",
    "utils.test_timestamps.BaseCurrentTimestamps",
    "basic.test_incremental.BaseIncrementalNotSchemaChange",
}


RUN_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{4,}([+-]\d{2}(:\d{2})?)?$")


def masked(table):
    """Rows with what differs by engine and by run masked: `dbt_scd_id` (a hash of text
    whose timestamp format differs) and times with sub-millisecond digits (the time of the
    run, from `now()`)."""
    ids = [i for i, c in enumerate(table.get("columns", [])) if c.lower() == "dbt_scd_id"]
    out = []
    for row in table["rows"]:
        row = ["<id>" if i in ids and v is not None else ("<run time>" if isinstance(v, str) and RUN_TIME.match(v) else v) for i, v in enumerate(row)]
        out.append(row)
    return sorted(out, key=json.dumps)


def first_difference(want, got, compare_rows=True):
    for i, (w, g) in enumerate(zip(want["invocations"], got["invocations"])):
        cmd = " ".join(w["args"])
        if w["results"] != g["results"]:
            wd = dict(map(tuple, w["results"] or []))
            gd = dict(map(tuple, g["results"] or []))
            for uid in sorted(set(wd) | set(gd)):
                if wd.get(uid) != gd.get(uid):
                    return f"`{cmd}`: {uid} is {gd.get(uid, 'absent')} (dbt: {wd.get(uid, 'absent')})" + (
                        f" — {g.get('messages', {}).get(uid, '')}" if g.get("messages", {}).get(uid) else "")
        if w["code"] != g["code"] and w["results"] is not None:
            return f"`{cmd}` exits {g['code']} (dbt: {w['code']})"
    for rel, w in sorted(want["tables"].items()):
        if "error" in w or not compare_rows:
            continue
        g = got["tables"].get(rel)
        if g is None or "error" in g:
            return f"{rel}: not readable ({(g or {}).get('error', 'absent')})"
        if [c.lower() for c in g["columns"]] != [c.lower() for c in w["columns"]] and g["rows"]:
            return f"{rel}: columns {g['columns']} (dbt: {w['columns']})"
        if masked(g) != masked(w):
            return f"{rel}: {len(g['rows'])} rows differ from dbt's {len(w['rows'])} (first: {next((x for x in g['rows'] if x not in w['rows']), None)} vs {next((x for x in w['rows'] if x not in g['rows']), None)})"
    return None


def check(args):
    with open(os.path.join(HERE, "expected.json")) as f:
        want_all = json.load(f)
    cases = load_cases()
    work = tempfile.mkdtemp()
    silt = os.path.abspath(args.silt)
    rows = []
    for name in sorted(want_all):
        if args.only and not any(o in name for o in args.only):
            continue
        case = cases.get(name)
        if case is None:
            rows.append((name, "missing", "the suite no longer has this case"))
            continue
        root = os.path.join(work, name)
        write_project(root, case, SILT_PROFILE)
        messages = {}

        def runner(r, a):
            extra = ["--no-docs"] if a[0] == "build" else []
            p = subprocess.run([silt, *a, *extra], cwd=r, capture_output=True, text=True)
            path = os.path.join(r, "target", "run_results.json")
            if os.path.exists(path):
                with open(path) as f:
                    for res in json.load(f)["results"]:
                        if res["status"] in ("error", "fail") and res.get("message"):
                            messages[res["unique_id"]] = res["message"].strip().splitlines()[0][:200]
            if p.returncode not in (0, 1) or not os.path.exists(path):
                messages["<load>"] = (p.stderr.strip().splitlines() or ["?"])[-1][:200]
                if os.path.exists(path):
                    os.remove(path)
            return p.returncode

        got = run_case(root, runner)
        got["messages"] = messages
        want = want_all[name]
        for rel in want["tables"]:
            got["tables"][rel] = silt_rows(silt, root, rel)
        diff = first_difference(want, got, compare_rows=name not in RUN_TIME_CASES)
        if diff is None:
            rows.append((name, "pass", ""))
        else:
            if "<load>" in messages and all(i["results"] is None for i in got["invocations"]):
                diff = f"does not load: {messages['<load>']}"
            rows.append((name, "FAIL", diff))
        print(name, rows[-1][1], rows[-1][2][:150], file=sys.stderr)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    passed = sum(1 for r in rows if r[1] == "pass")
    # A partial or required-cases run leaves the committed results.md alone.
    out_path = os.path.join(work, "results.md") if args.only or args.require else os.path.join(HERE, "results.md")
    with open(out_path, "w") as f:
        f.write(f"# dbt-tests-adapter cases under Silt\n\n{passed} of {len(rows)} cases give dbt-duckdb's statuses and rows "
                f"(`harness.py check`, {datetime.date.today()}).\n\n| case | result | first difference |\n| --- | --- | --- |\n")
        for name, result, why in rows:
            f.write(f"| {name} | {result} | {why.replace('|', '/').replace(chr(10), ' ')} |\n")
    print(f"{passed} of {len(rows)} pass; see {out_path}", file=sys.stderr)
    if args.require:
        with open(args.require) as f:
            required = [line.strip() for line in f if line.strip() and not line.startswith("#")]
        result = {name: (r, why) for name, r, why in rows}
        lost = [(n, result.get(n, ("missing", ""))[1]) for n in required if result.get(n, ("missing",))[0] != "pass"]
        for n, why in lost:
            print(f"REGRESSION {n}: {why}", file=sys.stderr)
        if lost:
            sys.exit(1)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("harvest")
    e = sub.add_parser("expected")
    e.add_argument("--dbt", default="dbt")
    c = sub.add_parser("check")
    c.add_argument("--silt", default="target/debug/silt")
    c.add_argument("--only", nargs="*")
    c.add_argument("--keep", action="store_true")
    c.add_argument("--require", help="a file of case names that must pass")
    args = p.parse_args()
    if args.cmd == "harvest":
        write_cases(args)
    elif args.cmd == "expected":
        expected(args)
    else:
        check(args)


if __name__ == "__main__":
    main()
