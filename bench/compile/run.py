"""Compile benchmark: times `silt compile` on a generated project (default 10,000 models).

    python3 bench/compile/run.py [--models N] [--runs R] [--dbt /path/to/dbt]

Builds Silt in release mode, generates the project with gen_project.py, runs
`silt compile` R times with target/ left from the previous compile and R times from a
clean target/, interleaved, and prints the median wall time of each, the median of each
stage (SILT_TIMINGS) and the peak memory. With --dbt, also times `dbt compile` on the same
files (dbt-core with dbt-duckdb), side by side in the same run, and prints the ratio.
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def timed(cmd, cwd, env=None):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, proc.stderr, max(after.ru_maxrss, before.ru_maxrss)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--tests-per-model", type=int, default=0, help="data tests on each model's id (0-2)")
    ap.add_argument("--dbt", default=None, help="path to a dbt executable (dbt-core + dbt-duckdb)")
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    silt = os.path.join(ROOT, "target", "release", "silt")
    work = tempfile.mkdtemp()
    project = os.path.join(work, "big")
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "compile", "gen_project.py"), project, str(args.models), str(args.tests_per_model)], check=True)

    env = dict(os.environ, SILT_TIMINGS="1")
    timed([silt, "compile", "-q"], project, env)  # warm the file cache
    target = os.path.join(project, "target")
    # Interleaved, so both see the same machine: a compile with target/ from the last one
    # (unchanged SQL is neither re-checked nor rewritten), and a cold one without target/.
    results = {"warm": ([], {}), "cold": ([], {})}
    rss = 0
    for _ in range(args.runs):
        for mode in ("warm", "cold"):
            if mode == "cold":
                shutil.rmtree(target, ignore_errors=True)
            wall, err, peak = timed([silt, "compile", "-q"], project, env)
            walls, stages = results[mode]
            walls.append(wall)
            rss = max(rss, peak)
            for line in err.splitlines():
                if line.startswith("timing "):
                    name, secs = line[len("timing "):].split(": ")
                    stages.setdefault(name, []).append(float(secs.rstrip("s")))
    for mode, (walls, stages) in results.items():
        print(f"silt compile ({mode} target/), {args.models} models, {args.models * args.tests_per_model} tests, {args.runs} runs: median {statistics.median(walls):.3f}s "
              f"(min {min(walls):.3f}s, max {max(walls):.3f}s)")
        for name, values in stages.items():
            print(f"  {name:9s} median {statistics.median(values):.3f}s")
    print(f"peak RSS {rss / 1024:.0f} MiB")
    walls = results["cold"][0]

    if args.dbt:
        shutil.copy(os.path.join(project, "profiles_dbt.yml"), os.path.join(project, "profiles.yml"))
        dbt_walls = []
        for _ in range(max(1, args.runs // 3)):
            wall, _, _ = timed([args.dbt, "compile", "--profiles-dir", ".", "--no-partial-parse", "-q"], project)
            dbt_walls.append(wall)
        d = statistics.median(dbt_walls)
        print(f"dbt compile (dbt-duckdb), same project: median {d:.3f}s over {len(dbt_walls)} runs; "
              f"silt is {d / statistics.median(walls):.1f}x faster")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
