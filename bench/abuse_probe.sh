#!/usr/bin/env bash
# Starts a release gif-chat with its default limits (and a second one over TLS), runs
# bench/abuse_probe.py against both, and stops them. Loopback only.
#   cargo build --release --workspace && bench/abuse_probe.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CARGO_TARGET_DIR:-target}/release/gif-chat
[ -x "$bin" ] || { echo "build first: cargo build --release --workspace" >&2; exit 1; }
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
common=(HOST=127.0.0.1 RUST_LOG=warn COOKIE_SECRET=abuse-probe-cookie-secret-0123456789abcdef)
env "${common[@]}" PORT=8401 DATABASE_URL="sqlite://$dir/plain.db" "$bin" &
env "${common[@]}" PORT=8402 DATABASE_URL="sqlite://$dir/tls.db" TLS_CERT="$dir/cert.pem" TLS_KEY="$dir/key.pem" "$bin" &
for _ in $(seq 1 100); do
  curl -sf http://127.0.0.1:8401/healthz >/dev/null && curl -skf https://127.0.0.1:8402/healthz >/dev/null && break
  sleep 0.1
done
python3 bench/abuse_probe.py --url http://127.0.0.1:8401 --tls-url https://127.0.0.1:8402
# 10: HTTP/2 names its target in :authority, not Host.
code=$(curl -sk --http2 -o /dev/null -w '%{http_version} %{http_code}' -X POST -H 'Origin: https://evil.example' \
  -H 'Content-Type: application/json' -d '{"title":"csrf"}' https://127.0.0.1:8402/api/rooms)
hsts=$(curl -sk -D - -o /dev/null https://127.0.0.1:8402/healthz | grep -i '^strict-transport-security' | tr -d '\r')
echo "10. POST /api/rooms over HTTP/$code with Origin: https://evil.example (403 expected); $hsts"
