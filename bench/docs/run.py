"""Docs site benchmark: how long the generated site of a large project (default 10,000
models, each with a `unique` test: 20,000 nodes) takes to become usable in headless
Chromium, and how fast it answers once open.

    python3 bench/docs/run.py [--models N] [--runs R] [--keep DIR]

Builds Silt in release mode, generates the project with bench/compile/gen_project.py,
times `silt docs generate` on it (with --build, after `silt build`, so the catalog and the
column lineage are filled; --tables makes every model a table, since the generated project
nests views on views, which planning expands: tens of minutes of build at this size), then
opens the site from file:// R times, each in a fresh
headless Chromium (Debian's chromium and chromedriver, driven over WebDriver), and records
from the page's own clock (performance.now(), from navigation start):

- usable: the list is rendered, search answers, and the browser has painted it (the
  page's data-ready, then the next frame);
- search: one query over every node (typed through WebDriver; the page's time to filter,
  rank and render the list);
- node page: a model's page with its columns, tests, lineage and neighbourhood graph, its
  detail chunk loaded on demand;
- project graph: layout of every model, seed and source and its first paint (canvas).

Medians over the runs; also the reference project's site for comparison, in the same run.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHROMIUM = os.environ.get("SILT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SILT_CHROMEDRIVER", "/usr/bin/chromedriver")


def run(cmd, cwd):
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}")
    return time.perf_counter() - start


class Driver:
    """The few WebDriver calls the benchmark makes."""

    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.session = None

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=300) as r:
            value = json.loads(r.read())["value"]
        if isinstance(value, dict) and "error" in value:
            raise RuntimeError(f"{method} {path}: {value['error']}: {value.get('message')}")
        return value

    def start(self, profile):
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
                f"--user-data-dir={profile}"]
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {"binary": CHROMIUM, "args": args}}}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def quit(self):
        self.call("DELETE", f"/session/{self.session}")

    def s(self, method, path, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def eval(self, script, args=None):
        return self.s("POST", "/execute/sync", {"script": script, "args": args or []})

    def wait(self, script, limit=120):
        deadline = time.time() + limit
        while True:
            v = self.eval(script)
            if v:
                return v
            if time.time() > deadline:
                raise RuntimeError(f"timed out waiting for: {script}")
            time.sleep(0.02)


def measure(driver, page, node_id, query):
    profile = tempfile.mkdtemp()
    driver.start(profile)
    try:
        driver.s("POST", "/url", {"url": page + "#/"})
        usable = driver.wait("return document.documentElement.dataset.ready && siltTimings.painted")
        el = driver.s("POST", "/element", {"using": "css selector", "value": "#search"})
        el = next(iter(el.values()))
        driver.eval("siltTimings.lastSearch = null")
        driver.s("POST", f"/element/{el}/value", {"text": query})
        search = driver.wait("return siltTimings.lastSearch != null && document.getElementById('count').textContent.includes('match') && siltTimings.lastSearch")
        matches = driver.eval("return document.getElementById('count').textContent")
        driver.eval("location.hash = arguments[0]", ["#/node/" + node_id])
        node = driver.wait("return siltTimings.node && siltTimings.node.id === arguments[0] && document.querySelector('#neigh .gnode') && siltTimings.node.ms".replace("arguments[0]", json.dumps(node_id)))
        driver.eval("siltTimings.graph = null; location.hash = '#/graph'")
        graph = driver.wait("return siltTimings.graph && siltTimings.graph.painted && siltTimings.graph")
        return {"usable": usable, "search": search, "node": node, "graph_layout": graph["ms"], "graph_painted": graph["painted"],
                "graph_nodes": graph["nodes"], "renderer": graph["renderer"], "matches": matches}
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def site_size(docs):
    total = 0
    for dirpath, _, files in os.walk(docs):
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    index = os.path.getsize(os.path.join(docs, "data", "index.js"))
    return total, index


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", default=None, help="generate the project here and keep it")
    ap.add_argument("--build", action="store_true", help="build the project first (seeds, models, tests), so the catalog and column lineage are filled")
    ap.add_argument("--tables", action="store_true", help="every model a table (the generated project nests views on views, which makes a build take tens of minutes)")
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    silt = os.path.join(ROOT, "target", "release", "silt")
    work = args.keep or tempfile.mkdtemp()
    project = os.path.join(work, "big")
    if not os.path.exists(os.path.join(project, "target", "docs", "index.html")):
        shutil.rmtree(project, ignore_errors=True)
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "compile", "gen_project.py"), project, str(args.models), "1"], check=True)
        if args.tables:
            path = os.path.join(project, "dbt_project.yml")
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(text.replace("+materialized: view", "+materialized: table"))
        if args.build:
            built = run([silt, "build", "-q", "--no-docs"], project)
            print(f"silt build of {args.models} models: {built:.1f} s")
    generate = [run([silt, "docs", "generate", "-q"], project) for _ in range(3)]
    total, index = site_size(os.path.join(project, "target", "docs"))
    print(f"silt docs generate: median {statistics.median(generate):.2f} s of {len(generate)}; site {total / 1e6:.1f} MB, data/index.js {index / 1e6:.1f} MB")

    # The reference project, for comparison in the same session.
    ref = os.path.join(work, "reference")
    if not os.path.exists(os.path.join(ref, "target", "docs", "index.html")):
        shutil.rmtree(ref, ignore_errors=True)
        os.makedirs(ref)
        for f in ["project.yml", "profiles.yml"]:
            shutil.copy(os.path.join(ROOT, f), ref)
        for d in ["models", "macros", "seeds", "data_tests"]:
            shutil.copytree(os.path.join(ROOT, d), os.path.join(ref, d))
        run([silt, "build", "-q"], ref)

    port = 9600 + os.getpid() % 300
    driver_proc = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        driver = Driver(port)
        for _ in range(100):
            try:
                driver.call("GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        results = {"big": [], "reference": []}
        pages = {
            "big": ("file://" + os.path.join(project, "target", "docs", "index.html"), f"model.big.m{args.models - 1}", "m4242"),
            "reference": ("file://" + os.path.join(ref, "target", "docs", "index.html"), "model.twitch.chatters", "chatters"),
        }
        # Interleaved, so both see the same machine.
        for r in range(args.runs):
            for name, (page, node, query) in pages.items():
                m = measure(driver, page, node, query)
                results[name].append(m)
                print(f"run {r + 1} {name}: " + ", ".join(f"{k} {v:.0f} ms" if isinstance(v, (int, float)) and k not in ("graph_nodes",) else f"{k} {v}" for k, v in m.items()), flush=True)
    finally:
        driver_proc.kill()

    print()
    print("| site | nodes in graph | usable | search | node page | graph layout | graph painted |")
    print("|---|---|---|---|---|---|---|")
    for name, runs in results.items():
        med = lambda k: statistics.median(m[k] for m in runs)
        print(f"| {name} | {runs[0]['graph_nodes']} ({runs[0]['renderer']}) | {med('usable'):.0f} ms | {med('search'):.1f} ms | {med('node'):.0f} ms | {med('graph_layout'):.0f} ms | {med('graph_painted'):.0f} ms |")


if __name__ == "__main__":
    main()
