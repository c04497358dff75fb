#!/usr/bin/env bash
# A repeatable count for the delivery path: instructions the server executes per delivery,
# from valgrind's callgrind (this VM has no hardware counters for `perf stat`). Two short
# fixed runs of scenario 1's shape (10 rooms x 10 SSE subscribers, posts at 50/s) differ only
# in how many messages they post; the difference in instructions over the difference in
# deliveries is the cost of one more delivery, with start-up and connection setup cancelled
# out. Same flags, same count on any run (give or take the timers' share).
#   bench/callgrind.sh <sqlite|postgres> [sse|ws|poll]
set -euo pipefail
cd "$(dirname "$0")/.."
db=$1 transport=${2:-sse}
target=${CARGO_TARGET_DIR:-target}/release
port=${BENCH_PORT:-8404}
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

run() { # <messages> -> prints "<instructions> <deliveries>"
  local messages=$1 url name="" dir=""
  case $db in
    sqlite) dir=$(mktemp -d); url="sqlite://$dir/bench.db" ;;
    postgres) name="gifchat_cg_$$_$messages"; psql -q postgres://root@127.0.0.1:5432/test -c "CREATE DATABASE $name"
      url="postgres://root@127.0.0.1:5432/$name" ;;
  esac
  PORT=$port DATABASE_URL=$url PRESENCE_GRACE=60s RATE_LIMIT_BURST=0 MAX_STREAMS_PER_SESSION=0 NEW_SESSION_BURST=0 \
    MAX_STREAMS_PER_ADDRESS=0 RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out/cg.$messages" \
    "$target/gif-chat" 2>"$out/valgrind.$messages.log" &
  local server=$!
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  "$target/gif-chat-load" --url "http://127.0.0.1:$port" --transport "$transport" --rooms 10 --subscribers 10 \
    --messages "$messages" --rate 50 --timeout 600 --json "$out/report.$messages.json" >/dev/null
  kill -TERM "$server"; wait "$server" || true
  [ -n "$name" ] && psql -q postgres://root@127.0.0.1:5432/test -c "DROP DATABASE IF EXISTS $name"
  [ -n "$dir" ] && rm -rf "$dir"
  local ir deliveries
  ir=$(grep -m1 '^summary:' "$out/cg.$messages" | awk '{print $2}')
  deliveries=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["deliveries"]["delivered"])' "$out/report.$messages.json")
  echo "$ir $deliveries"
}

read -r ir_small d_small < <(run 200)
read -r ir_large d_large < <(run 600)
python3 - "$ir_small" "$d_small" "$ir_large" "$d_large" "$db" "$transport" <<'PY'
import sys
ir_s, d_s, ir_l, d_l = map(int, sys.argv[1:5])
print(f"{sys.argv[5]} {sys.argv[6]}: {ir_s:,} instructions for {d_s:,} deliveries, {ir_l:,} for {d_l:,}: "
      f"{(ir_l - ir_s) / (d_l - d_s):,.0f} instructions per delivery")
PY
