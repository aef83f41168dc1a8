#!/usr/bin/env bash
# Ingestion benchmark (issue 4): N synthetic chat messages (default 1,000,000) in
# librdkafka's in-process mock cluster, consumed side by side in one process
#   (a) raw: an rdkafka consumer that discards each message;
#   (b) silt: `silt ingest --until-caught-up` into a bronze Delta table, exactly once;
# RUNS times (default 5), interleaved, then the medians. BENCHMARKS.md quotes the last line.
#
#     bench/ingest/run.sh [N] [RUNS]
#
# Environment: BENCH_PROPS="k=v,k=v" passes librdkafka properties to Silt's consumer (as
# `properties:` in a profile would); BENCH_FLUSH=messages,bytes sets the batch limits;
# BENCH_SKIP_RAW=1 skips (a).
set -euo pipefail
cd "$(dirname "$0")/../.."
n="${1:-1000000}"
runs="${2:-5}"
echo "$(date -u +%FT%TZ) $(nproc) cores, $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty')" >&2
cargo bench --locked --bench ingest -- "$n" "$runs"
