#!/usr/bin/env bash
# Runs one benchmark scenario from BENCHMARKS.md against a fresh release server and database.
#   bench/run.sh <scenario> <sqlite|postgres> [sse|ws|poll] [extra gif-chat-load flags...]
# Scenarios: 1 many rooms, 2 one big room, 3 write throughput, 4 many idle connections,
# 5 join storm (2,000 members open one room's stream at once).
# Writes the generator's JSON report to bench/results/<scenario>-<db>-<transport>.json (or $BENCH_OUT).
# Needs `cargo build --release --workspace` first (GIF_CHAT_SERVER=path picks another server build); PostgreSQL runs need the local server (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=$1 db=$2 transport=${3:-sse}
shift $(( $# < 3 ? $# : 3 ))
target=${CARGO_TARGET_DIR:-target}/release
# GIF_CHAT_SERVER runs another build of the server (an older commit's, to compare the two).
server_bin=${GIF_CHAT_SERVER:-$target/gif-chat}
port=${BENCH_PORT:-8402}

case $scenario in
  1) flags=(--rooms 100 --subscribers 10 --messages 5000 --rate 500) ;;
  2) flags=(--rooms 1 --subscribers 2000 --room-max 2001 --messages 500 --rate 50 --settle 10 --timeout 300) ;;
  3) flags=(--rooms 1 --subscribers 1 --messages 20000 --rate 0 --posters 8) ;;
  # 19,800 rather than 20,000: this machine caps open files at 20,000 per process (hard limit,
  # no CAP_SYS_RESOURCE to raise it), and the server needs a few descriptors of its own.
  4) flags=(--rooms 200 --subscribers 99 --messages 200 --rate 10 --settle 5 --source-addrs 2 --timeout 600) ;;
  # Everyone at once: the report's "joins" line is when every join had reached every member.
  5) flags=(--rooms 1 --subscribers 2000 --room-max 2001 --messages 100 --rate 50 --connect-concurrency 2000 --timeout 300) ;;
  *) echo "unknown scenario $scenario" >&2; exit 2 ;;
esac

# One descriptor per connection on both sides (scenario 4 holds 20,000).
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

case $db in
  sqlite)
    dir=$(mktemp -d)
    url="sqlite://$dir/bench.db" ;;
  postgres)
    name="gifchat_bench_$$"
    psql -q postgres://root@127.0.0.1:5432/test -c "CREATE DATABASE $name"
    url="postgres://root@127.0.0.1:5432/$name" ;;
  *) echo "unknown database $db" >&2; exit 2 ;;
esac

# Scenario 4's 200 room owners hold no stream; the generator renews their seats by joining
# again, but while 19,800 subscribers connect it can fall behind the 10 s grace period and
# rooms would be reaped empty before their subscribers arrive. A longer grace avoids that.
grace=10s
if [ "$scenario" = 4 ]; then grace=120s; fi

# The generator opens every session and stream from one or two addresses: the per-address
# limits on new sessions and open streams are off, like the write limits.
PORT=$port DATABASE_URL=$url PRESENCE_GRACE=$grace MAX_ROOM_CAPACITY=2100 RATE_LIMIT_BURST=0 MAX_STREAMS_PER_SESSION=0 \
  NEW_SESSION_BURST=0 MAX_STREAMS_PER_ADDRESS=0 RUST_LOG=warn "$server_bin" &
server=$!
cleanup() {
  kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true
  if [ "$db" = postgres ]; then psql -q postgres://root@127.0.0.1:5432/test -c "DROP DATABASE IF EXISTS $name"; fi
  if [ "$db" = sqlite ]; then rm -rf "$dir"; fi
}
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

mkdir -p bench/results
"$target/gif-chat-load" --url "http://127.0.0.1:$port" --server-pid "$server" --transport "$transport" \
  "${flags[@]}" --json "${BENCH_OUT:-bench/results/$scenario-$db-$transport.json}" "$@"
