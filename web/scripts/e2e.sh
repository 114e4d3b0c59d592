#!/usr/bin/env bash
# The console's end-to-end tests against a live platform, started here and stopped on exit:
#
#   SWITCHBOARD_BIN=/path/to/dir web/scripts/e2e.sh [playwright test arguments]
#
# SWITCHBOARD_BIN holds the `switchboard` and `switchboard-sandbox` binaries (a `cargo build` target dir such as
# ~/.cache/switchboard-target/debug). The script builds the console (npm run build) unless E2E_BUILD=0, starts the
# sandbox and `switchboard up` in a fresh temporary data dir on free ports (or the ports named by
# SWITCHBOARD_GATEWAY_ADDR and friends), with the same settings as scripts/run.sh, plus
# SWITCHBOARD_CONSOLE_DIR=web/dist so the gateway serves the console; runs `switchboard demo`, adds a viewer user,
# then runs Playwright in the system's Chromium (CHROMIUM, default /usr/bin/chromium; `apt-get install chromium`).
#
# E2E_SERVER=preview serves dist/ with `vite preview` (same CSP, API proxied to the gateway) instead of the
# gateway, for platform builds that do not serve the console yet. E2E_KEEP=1 keeps the data dir and logs.
set -euo pipefail
cd "$(dirname "$0")/.."
web="$PWD"

bin="${SWITCHBOARD_BIN:?set SWITCHBOARD_BIN to the directory holding switchboard and switchboard-sandbox}"
bin="$(cd "$bin" && pwd)"
for b in switchboard switchboard-sandbox; do
  [[ -x "$bin/$b" ]] || { echo "e2e: $bin/$b is missing (build it: cargo build -p switchboard -p switchboard-sandbox)" >&2; exit 1; }
done
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
[[ -x "$CHROMIUM" ]] || { echo "e2e: no Chromium at $CHROMIUM (apt-get update && apt-get install -y chromium)" >&2; exit 1; }
[[ -d node_modules ]] || npm ci
[[ "${E2E_BUILD:-1}" == 0 ]] || npm run build

# Free ports, unless given.
read -r -a ports <<<"$(node -e '
  const net = require("net");
  const take = () => new Promise((ok) => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; ok([s, p]); }); });
  (async () => { const got = []; for (let i = 0; i < 8; i++) got.push(await take()); got.forEach(([s]) => s.close()); console.log(got.map(([, p]) => p).join(" ")); })();
')"
export SWITCHBOARD_GATEWAY_ADDR="${SWITCHBOARD_GATEWAY_ADDR:-127.0.0.1:${ports[0]}}"
export SWITCHBOARD_GATEWAY_ADMIN_ADDR="${SWITCHBOARD_GATEWAY_ADMIN_ADDR:-127.0.0.1:${ports[1]}}"
export SWITCHBOARD_AUDIT_ADDR="${SWITCHBOARD_AUDIT_ADDR:-127.0.0.1:${ports[2]}}"
export SWITCHBOARD_CONNECTORS_ADDR="${SWITCHBOARD_CONNECTORS_ADDR:-127.0.0.1:${ports[3]}}"
export SWITCHBOARD_ORCHESTRATOR_ADDR="${SWITCHBOARD_ORCHESTRATOR_ADDR:-127.0.0.1:${ports[4]}}"
export SWITCHBOARD_METRICS_ADDR="${SWITCHBOARD_METRICS_ADDR:-127.0.0.1:${ports[5]}}"
export SWITCHBOARD_SANDBOX_LISTEN="${SWITCHBOARD_SANDBOX_LISTEN:-127.0.0.1:${ports[6]}}"
preview_port="${E2E_PREVIEW_PORT:-${ports[7]}}"

# The sandbox's URL and app credentials (shared with the other scripts that start the platform).
# shellcheck source=/dev/null
source "$web/../scripts/sandbox-env.sh"
export SWITCHBOARD_CONSOLE_DIR="$web/dist"
# Short-lived access tokens, so the console rotates them (every 15 s) many times during the run.
export SWITCHBOARD_ACCESS_TOKEN_TTL="${SWITCHBOARD_ACCESS_TOKEN_TTL:-30}"

server="${E2E_SERVER:-gateway}"
if [[ "$server" == preview ]]; then
  base="http://127.0.0.1:$preview_port"
  # The console's OAuth callback is on the preview's origin; `switchboard demo` still uses the gateway's.
  export SWITCHBOARD_OAUTH_REDIRECT_URIS="${SWITCHBOARD_OAUTH_REDIRECT_URIS:-$SWITCHBOARD_PUBLIC_URL/oauth/callback,$base/oauth/callback}"
else
  base="$SWITCHBOARD_PUBLIC_URL"
fi

work="$(mktemp -d -t switchboard-e2e.XXXXXX)"
export SWITCHBOARD_DATA_DIR="$work/data"
mkdir -p "$work/logs" test-results/screens
pids=()
stop() {
  local status=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ "${E2E_KEEP:-0}" == 1 || $status -ne 0 ]]; then
    cp "$work"/logs/*.log test-results/ 2>/dev/null || true
  fi
  [[ "${E2E_KEEP:-0}" == 1 ]] && echo "e2e: kept $work" || rm -rf "$work"
  exit $status
}
trap stop EXIT
trap 'exit 130' INT TERM

"$bin/switchboard-sandbox" >"$work/logs/sandbox.log" 2>&1 &
pids+=($!)
"$bin/switchboard" up >"$work/logs/platform.log" 2>&1 &
platform=$!
pids+=($platform)

for _ in $(seq 1 240); do
  if "$bin/switchboard" health >/dev/null 2>&1; then break; fi
  if ! kill -0 "$platform" 2>/dev/null; then
    echo "e2e: switchboard up stopped:" >&2
    tail -n 40 "$work/logs/platform.log" >&2
    exit 1
  fi
  sleep 0.5
done
"$bin/switchboard" health >/dev/null
"$bin/switchboard" demo >"$work/logs/demo.log" 2>&1 || { cat "$work/logs/demo.log" >&2; exit 1; }
echo "viewer-password-1" | "$bin/switchboard" user create --tenant demo --email viewer@demo.example --role viewer \
  >>"$work/logs/demo.log" 2>&1

if [[ "$server" == preview ]]; then
  # Vite itself, not through npx: the PID stopped on exit must be the server's.
  SWITCHBOARD_URL="$SWITCHBOARD_PUBLIC_URL" node_modules/.bin/vite preview --host 127.0.0.1 --port "$preview_port" \
    --strictPort >"$work/logs/preview.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 60); do curl -fsS "$base/" >/dev/null 2>&1 && break; sleep 0.25; done
fi

echo "e2e: platform on $SWITCHBOARD_PUBLIC_URL, console on $base ($server), sandbox on $SWITCHBOARD_SANDBOX_URL"
E2E_BASE_URL="$base" E2E_SERVER="$server" npx playwright test "$@"
