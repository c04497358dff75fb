#!/usr/bin/env bash
# Issue 17's "side by side": the same wrk run (8 connections, one room, POST a chat as fast as
# the answers come) against the bare one-INSERT-per-chat server (load/src/bin/bare-insert.rs)
# and against gif-chat, on one database, then counts the stored rows: every 201 must be there.
#   bench/side_by_side.sh <sqlite|postgres> [seconds]
# gif-chat is run twice: 8 users (one per connection) and one user on all 8 connections.
# Needs `cargo build --release --workspace` and wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
db=$1 seconds=${2:-10}
target=${CARGO_TARGET_DIR:-target}/release
port=${BENCH_PORT:-8403}
base=http://127.0.0.1:$port
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 2; }
lua=$(mktemp --suffix=.lua)
trap 'rm -f "$lua"' EXIT

fresh_db() {
  case $db in
    sqlite) dir=$(mktemp -d); url="sqlite://$dir/bench.db" ;;
    postgres) name="gifchat_sbs_$$_$RANDOM"; psql -q postgres://root@127.0.0.1:5432/test -c "CREATE DATABASE $name"
      url="postgres://root@127.0.0.1:5432/$name" ;;
  esac
}
drop_db() {
  case $db in
    sqlite) rm -rf "$dir" ;;
    postgres) psql -q postgres://root@127.0.0.1:5432/test -c "DROP DATABASE IF EXISTS $name" ;;
  esac
}
count_rows() { # <sql>
  case $db in
    sqlite) python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])" "$dir/bench.db" "$1" ;;
    postgres) psql -At "$url" -c "$1" ;;
  esac
}
wait_up() { for _ in $(seq 100); do curl -s -o /dev/null "$base/api/rooms/x/messages" && return; sleep 0.1; done; }
# wrk's script: each connection (one per thread) posts with cookie number <thread id> (all the
# same cookie when one is given), and counts its 201s.
write_lua() { # <room> <cookie>...
  local room=$1; shift
  local list; list=$(printf '"%s",' "$@")
  cat > "$lua" <<LUA
local cookies = { ${list%,} }
local counter = 0
local threads = {}
function setup(thread)
  counter = counter + 1
  thread:set("cookie", cookies[(counter - 1) % #cookies + 1])
  table.insert(threads, thread)
end
function init(args) created = 0 end
function request()
  return wrk.format("POST", "/api/rooms/$room/messages",
    { ["Content-Type"] = "application/json", ["Cookie"] = "gif_chat_session=" .. cookie },
    '{"text":"side by side"}')
end
function response(status, headers, body) if status == 201 then created = created + 1 end end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("created") end
  io.write(string.format("created %d in %.2f s: %.0f/s, p50 %.2f ms, p99 %.2f ms, errors %d\n",
    total, summary.duration / 1e6, total / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
}
run_wrk() { wrk -t8 -c8 -d"${seconds}s" -s "$lua" "$base" | grep '^created'; }

echo "== $db, $(date -u +%FT%TZ), ${seconds} s each"
# 1. The bare server.
fresh_db
DATABASE_URL=$url PORT=$port "$target/bare-insert" & server=$!
wait_up
write_lua "0f0f0f0f-0000-4000-8000-000000000000" none
echo -n "bare INSERT per chat, 8 connections: "; run_wrk
kill $server; wait $server 2>/dev/null || true
echo "  rows stored: $(count_rows 'SELECT count(*) FROM bare_messages')"
drop_db

# 2. gif-chat, 8 users then one user on 8 connections (fresh server and database each).
for users in 8 1; do
  fresh_db
  PORT=$port DATABASE_URL=$url PRESENCE_GRACE=60s RATE_LIMIT_BURST=0 NEW_SESSION_BURST=0 RUST_LOG=warn \
    "$target/gif-chat" & server=$!
  for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done
  cookies=()
  for _ in $(seq "$users"); do
    cookies+=("$(curl -s -D - -o /dev/null "$base/api/me" | sed -n 's/^[Ss]et-[Cc]ookie: gif_chat_session=\([^;]*\).*/\1/p')")
  done
  room=$(curl -sf -H "Cookie: gif_chat_session=${cookies[0]}" -H 'Content-Type: application/json' \
    -d '{"title":"side by side","max":20}' "$base/api/rooms" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  for cookie in "${cookies[@]:1}"; do
    curl -sf -o /dev/null -H "Cookie: gif_chat_session=$cookie" -H 'Content-Type: application/json' -d '{}' "$base/api/rooms/$room/join"
  done
  write_lua "$room" "${cookies[@]}"
  echo -n "gif-chat, $users user(s) on 8 connections: "; run_wrk
  kill $server; wait $server 2>/dev/null || true
  echo "  chats stored: $(count_rows "SELECT count(*) FROM messages WHERE kind = 'chat'")"
  drop_db
done
