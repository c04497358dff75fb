#!/usr/bin/env bash
# The database's own cost of one group-commit batch (append_posts, 4 posts), with pgbench:
#   bench/pgbench_append.sh
# Prints pgbench's average latency for: the function as migrated (generic plan, migration
# 0005), the same function planned per call (0005 undone), and the former with
# synchronous_commit=off (to separate the commit's WAL flush from the rest; the server never
# runs so). One client, 3,000 calls each, on a fresh database on the local PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}/release
admin=postgres://root@127.0.0.1:5432/test
name="gifchat_pgbench_$$"
url="postgres://root@127.0.0.1:5432/$name"
port=${BENCH_PORT:-8403}
psql -q "$admin" -c "CREATE DATABASE $name"
script=$(mktemp)
trap 'rm -f "$script"; psql -q "$admin" -c "DROP DATABASE IF EXISTS $name"' EXIT

# The server applies the migrations at start-up.
PORT=$port DATABASE_URL=$url RUST_LOG=warn "$target/gif-chat" &
server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
kill "$server"; wait "$server" 2>/dev/null || true

room=$(cat /proc/sys/kernel/random/uuid) user=$(cat /proc/sys/kernel/random/uuid)
psql -q "$url" -c "INSERT INTO rooms (id, title, max_members, owner_id) VALUES ('$room', 'bench', 10, '$user')" \
  -c "INSERT INTO seats (room_id, user_id, expires_at) VALUES ('$room', '$user', now() + interval '1 day')"
u="'$user'"
cat > "$script" <<SQL
SELECT o_last_seq FROM append_posts('$room', ARRAY[$u,$u,$u,$u]::uuid[], ARRAY[NULL,NULL,NULL,NULL]::text[],
  ARRAY['chat','chat','chat','chat'], ARRAY[NULL,NULL,NULL,NULL]::uuid[], ARRAY[NULL,NULL,NULL,NULL]::text[],
  ARRAY['hello world 1','hello 2','hello 3','hello 4'], ARRAY[NULL,NULL,NULL,NULL]::text[],
  now() + interval '10 seconds', now());
SQL
run() { pgbench -n -f "$script" -t 3000 -c 1 "$url" 2>&1 | grep 'latency average' | sed "s/^/$1: /"; }
run "generic plan (as migrated)"
signature="uuid, uuid[], text[], text[], uuid[], text[], text[], text[], timestamptz, timestamptz"
psql -q "$url" -c "ALTER FUNCTION append_posts($signature) RESET plan_cache_mode"
run "planned per call (before 0005)"
psql -q "$url" -c "ALTER FUNCTION append_posts($signature) SET plan_cache_mode = force_generic_plan"
PGOPTIONS="-c synchronous_commit=off" run "generic plan, synchronous_commit=off"
