"""Generates a dbt-style project with N models for the compile benchmark.

    python3 bench/compile/gen_project.py OUT_DIR [N] [TESTS]

Each model reads one to three earlier models (so the graph is deep and wide), calls a
macro with a default argument, loops over a list var, and half set `config()` inline.
Every folder of 100 models has a properties file describing each model and its columns;
with TESTS=2 each model's `id` also has `unique` and `not_null` data tests (1: `unique`).
"""

import os
import random
import sys

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
tests = ["unique", "not_null"][: int(sys.argv[3]) if len(sys.argv) > 3 else 0]
rng = random.Random(7)
per_folder = 100

os.makedirs(os.path.join(out, "models"), exist_ok=True)
os.makedirs(os.path.join(out, "macros"), exist_ok=True)
os.makedirs(os.path.join(out, "seeds"), exist_ok=True)

with open(os.path.join(out, "dbt_project.yml"), "w") as f:
    f.write("""name: big
profile: big
config-version: 2
vars:
  metrics: ["a", "b", "c"]
models:
  big:
    +materialized: view
    f0:
      +materialized: table
""")
with open(os.path.join(out, "profiles.yml"), "w") as f:
    f.write("big:\n  target: dev\n  outputs:\n    dev:\n      type: datafusion\n      warehouse: warehouse\n      schema: main\n      threads: 4\n")
with open(os.path.join(out, "profiles_dbt.yml"), "w") as f:
    f.write("big:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: big.duckdb\n      schema: main\n      threads: 4\n")
with open(os.path.join(out, "macros", "helpers.sql"), "w") as f:
    f.write("""{% macro scaled(column, factor=2) -%}
    ({{ column }} * {{ factor }})
{%- endmacro %}
""")
with open(os.path.join(out, "seeds", "base.csv"), "w") as f:
    f.write("id,a,b,c\n" + "".join(f"{i},{i},{i * 2},{i * 3}\n" for i in range(10)))

for i in range(n):
    folder = f"f{i // per_folder}"
    d = os.path.join(out, "models", folder)
    os.makedirs(d, exist_ok=True)
    if i == 0:
        parents = []
    else:
        parents = sorted(set(rng.randrange(max(0, i - 300), i) for _ in range(rng.randint(1, 3))))
    lines = []
    if i % 2 == 0:
        lines.append("{{ config(tags=['even'], materialized='table') }}")
    source = "{{ ref('base') }}" if not parents else "{{ ref('m%d') }}" % parents[0]
    lines.append("select")
    lines.append("    t.id,")
    lines.append("    {%- for m in var('metrics') %}")
    lines.append("    {{ scaled('t.' ~ m) }} as {{ m }}{{ ',' if not loop.last }}")
    lines.append("    {%- endfor %}")
    lines.append(f"from {source} t")
    for p in parents[1:]:
        lines.append("join {{ ref('m%d') }} using (id)" % p)
    with open(os.path.join(d, f"m{i}.sql"), "w") as f:
        f.write("\n".join(lines) + "\n")

for folder_index in range((n + per_folder - 1) // per_folder):
    folder = f"f{folder_index}"
    with open(os.path.join(out, "models", folder, "schema.yml"), "w") as f:
        f.write("version: 2\nmodels:\n")
        for i in range(folder_index * per_folder, min(n, (folder_index + 1) * per_folder)):
            f.write(f"  - name: m{i}\n    description: \"Model {i}\"\n    columns:\n")
            for c in ["id", "a", "b", "c"]:
                f.write(f"      - name: {c}\n        description: \"{c} of model {i}\"\n")
                if c == "id" and tests:
                    f.write(f"        data_tests: [{', '.join(tests)}]\n")
