#!/usr/bin/env bash
# Every scenario of BENCHMARKS.md on both databases, each run RUNS times (default 3) on a fresh
# server and database, the runs of one configuration interleaved with the others' so that a
# slow spell of this VM does not land on one configuration alone. Reports go to
# bench/results/matrix/<scenario>-<db>-<transport>-<run>.json; `bench/summary.py --median
# bench/results/matrix` prints the table of medians.
#   bench/matrix.sh [configuration...]   (default: all; a configuration is scenario:db:transport)
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
all=(
  1:sqlite:sse 1:postgres:sse 1:sqlite:ws 1:postgres:ws 1:sqlite:poll 1:postgres:poll
  2:sqlite:sse 2:postgres:sse 2:sqlite:ws 2:postgres:ws
  3:sqlite:sse 3:postgres:sse
  4:sqlite:ws 4:postgres:ws 4:sqlite:sse
  5:sqlite:sse 5:postgres:sse
)
configs=("${@:-${all[@]}}")
mkdir -p bench/results/matrix
for run in $(seq "$runs"); do
  for config in "${configs[@]}"; do
    IFS=: read -r scenario db transport <<<"$config"
    out="bench/results/matrix/$scenario-$db-$transport-$run.json"
    echo "$(date -u +%T) scenario $scenario $db $transport, run $run"
    BENCH_OUT=$out bench/run.sh "$scenario" "$db" "$transport" > "${out%.json}.log" 2>&1 \
      || echo "  exit $? (see ${out%.json}.log)"
  done
done
