#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs and starts what the tests need (PostgreSQL,
# Debian's Chromium, nginx, the browser suite's npm packages, schemathesis), each only if it is
# missing, so a second run goes straight to the tests; then clippy and `cargo test` over the workspace (the server and the load generator).
# Debian (or Ubuntu) with a Rust toolchain, as root (it may apt-get install). CI runs exactly
# this (.ci/run). Extra arguments go to `cargo test` (say `./test.sh --test api`).
set -euo pipefail
cd "$(dirname "$0")"

# Share one build cache between runs (a cold run works too, only slower).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/gif-chat-target}"
export CARGO_TERM_COLOR=never

# --- PostgreSQL: the postgres half of the suite must run, never be skipped. ---
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "installing PostgreSQL"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start || true
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 || { echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://root@127.0.0.1:5432/test}"
# Databases left by earlier runs (each test makes its own).
psql "$TEST_DATABASE_URL" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'gifchat_test_%'" \
  | while read -r db; do psql "$TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS \"$db\"" || true; done

# --- The browser suite: Debian's Chromium (never a downloaded build) and playwright-core. ---
if [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v node >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -f tests/browser/node_modules/.package-lock.json ] \
  || [ tests/browser/package-lock.json -nt tests/browser/node_modules/.package-lock.json ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi

# --- The multi-instance suite (tests/instances.rs): Debian's nginx as the load balancer. ---
# The test starts its own nginx on a loopback port; the system one is never started (where
# no policy-rc.d exists, one is put in place for the install so the package cannot start it).
if [ ! -x /usr/sbin/nginx ]; then
  echo "installing nginx"
  deny_start=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && deny_start=1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
  if [ -n "$deny_start" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi

# --- schemathesis for the OpenAPI-driven fuzz test (tests/openapi_fuzz.rs), in its own venv. ---
VENV=/var/tmp/gif-chat-venv
if [ ! -x "$VENV/bin/schemathesis" ]; then
  echo "installing schemathesis"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q schemathesis==4.32.5
fi
export SCHEMATHESIS="$VENV/bin/schemathesis"

# --- Formatting and lints, then the suite. ---
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace "$@"
