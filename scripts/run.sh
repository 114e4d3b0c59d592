#!/usr/bin/env bash
# `make run`: the whole platform on embedded defaults, beside the provider sandbox (fake Stripe, Shopify, QuickBooks
# and HubSpot APIs on their real wire formats), with a demo tenant connected to the sandbox's demo Stripe account and
# Shopify shop; its first syncs start at once. Ctrl-C stops both. Any SWITCHBOARD_* variable already set wins.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard-target}"
CARGO_TARGET_DIR="$target" "${CARGO:-cargo}" build --release -p switchboard -p switchboard-sandbox
bin="$target/release"

export SWITCHBOARD_SANDBOX_LISTEN="${SWITCHBOARD_SANDBOX_LISTEN:-127.0.0.1:8099}"
export SWITCHBOARD_GATEWAY_ADDR="${SWITCHBOARD_GATEWAY_ADDR:-127.0.0.1:8080}"
# The sandbox's URL and app credentials (shared with the other scripts that start the platform).
# shellcheck source=/dev/null
source scripts/sandbox-env.sh

# The web console (web/, React): built once per change of its sources, then served by the gateway at /.
if [ -z "${SWITCHBOARD_CONSOLE_DIR:-}" ] && [ -f web/package.json ]; then
  if scripts/build-console.sh; then
    export SWITCHBOARD_CONSOLE_DIR="$PWD/web/dist"
  else
    echo "run: the web console did not build (see above); the API runs without it" >&2
  fi
fi

"$bin/switchboard-sandbox" &
sandbox=$!
"$bin/switchboard" up &
platform=$!
trap 'kill -TERM $platform $sandbox 2>/dev/null || true; wait $platform 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 1 240); do
  if "$bin/switchboard" health >/dev/null 2>&1; then break; fi
  if ! kill -0 $platform 2>/dev/null; then echo "run: switchboard up stopped; see its log above" >&2; exit 1; fi
  sleep 0.5
done
"$bin/switchboard" demo || echo "run: seeding the demo tenant failed (see above); the platform keeps running" >&2
echo "run: the web API is on http://$SWITCHBOARD_GATEWAY_ADDR; the sandbox on http://$SWITCHBOARD_SANDBOX_LISTEN"
wait $platform
