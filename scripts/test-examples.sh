#!/usr/bin/env bash
# The client examples (examples/) against a live platform, started here and stopped on exit, so that they cannot rot
# (part of `make test`): the curl walk-through of the REST API, the Python gRPC client and the TypeScript client; then
# the official MCP conformance suite against the gateway's MCP endpoint (/mcp, Streamable HTTP, with the owner's
# access token; scripts/mcp-conformance.sh). The suite has no stdio transport, so `switchboard mcp` on stdio is not
# run through it.
#
#   SWITCHBOARD_BIN=/path/to/dir scripts/test-examples.sh
#
# SWITCHBOARD_BIN holds the `switchboard` and `switchboard-sandbox` binaries (default: the debug build in
# ${CARGO_TARGET_DIR:-~/.cache/switchboard-target}/debug; this script does not build them). Like web/scripts/e2e.sh, it
# starts the sandbox and `switchboard up` in a fresh temporary data dir on free ports, with the same settings as
# scripts/run.sh, runs `switchboard demo`, adds a viewer user and waits for the demo's first syncs. Meanwhile it
# prepares the clients with their pinned dependencies: a venv in examples/python/.venv (pip, PyPI),
# examples/typescript/node_modules and tools/mcp-conformance/node_modules (npm ci), stubs generated from proto/
# (grpcio-tools, the pinned buf). Then it runs each example and the MCP suite, all of them even when one fails, and
# exits non-zero when any did. EXAMPLES_KEEP=1 keeps the data dir and the logs.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
started=$SECONDS

bin="${SWITCHBOARD_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/switchboard-target}/debug}"
for b in switchboard switchboard-sandbox; do
  [[ -x "$bin/$b" ]] || { echo "examples: $bin/$b is missing (build it: cargo build -p switchboard -p switchboard-sandbox)" >&2; exit 1; }
done
bin="$(cd "$bin" && pwd)"
python="${PYTHON:-python3}"
for tool in curl node npm "$python"; do
  command -v "$tool" >/dev/null || { echo "examples: $tool is missing (scripts/setup.sh installs what the platform needs)" >&2; exit 1; }
done

# Free ports, unless given.
read -r -a ports <<<"$(node -e '
  const net = require("net");
  const take = () => new Promise((ok) => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; ok([s, p]); }); });
  (async () => { const got = []; for (let i = 0; i < 7; i++) got.push(await take()); got.forEach(([s]) => s.close()); console.log(got.map(([, p]) => p).join(" ")); })();
')"
export SWITCHBOARD_GATEWAY_ADDR="${SWITCHBOARD_GATEWAY_ADDR:-127.0.0.1:${ports[0]}}"
export SWITCHBOARD_GATEWAY_ADMIN_ADDR="${SWITCHBOARD_GATEWAY_ADMIN_ADDR:-127.0.0.1:${ports[1]}}"
export SWITCHBOARD_AUDIT_ADDR="${SWITCHBOARD_AUDIT_ADDR:-127.0.0.1:${ports[2]}}"
export SWITCHBOARD_CONNECTORS_ADDR="${SWITCHBOARD_CONNECTORS_ADDR:-127.0.0.1:${ports[3]}}"
export SWITCHBOARD_ORCHESTRATOR_ADDR="${SWITCHBOARD_ORCHESTRATOR_ADDR:-127.0.0.1:${ports[4]}}"
export SWITCHBOARD_METRICS_ADDR="${SWITCHBOARD_METRICS_ADDR:-127.0.0.1:${ports[5]}}"
export SWITCHBOARD_SANDBOX_LISTEN="${SWITCHBOARD_SANDBOX_LISTEN:-127.0.0.1:${ports[6]}}"

# The sandbox's URL and app credentials (shared with the other scripts that start the platform).
# shellcheck source=/dev/null
source scripts/sandbox-env.sh

work="$(mktemp -d -t switchboard-examples.XXXXXX)"
export SWITCHBOARD_DATA_DIR="$work/data"
mkdir -p "$work/logs"
pids=()
stop() {
  local status=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $status -ne 0 ]]; then
    echo "examples: the platform's log ends with:" >&2
    tail -n 30 "$work/logs/platform.log" >&2 || true
  fi
  if [[ "${EXAMPLES_KEEP:-0}" == 1 ]]; then echo "examples: kept $work"; else rm -rf "$work"; fi
  exit $status
}
trap stop EXIT
trap 'exit 130' INT TERM

"$bin/switchboard-sandbox" >"$work/logs/sandbox.log" 2>&1 &
pids+=("$!")
"$bin/switchboard" up >"$work/logs/platform.log" 2>&1 &
platform=$!
pids+=("$platform")

# While the platform starts (its intent router takes half a minute to build): the clients and their generated stubs.
echo "examples: preparing the clients (pinned dependencies, stubs from proto/)"
if [[ ! -x tools/buf/node_modules/.bin/buf ]]; then
  npm ci --prefix tools/buf --no-audit --no-fund --loglevel=error >/dev/null
fi
py=examples/python
if [[ ! -x "$py/.venv/bin/python" ]]; then
  "$python" -m venv "$py/.venv"
fi
if [[ ! -f "$py/.venv/installed" || "$py/requirements.txt" -nt "$py/.venv/installed" ]]; then
  "$py/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$py/requirements.txt"
  touch "$py/.venv/installed"
fi
PYTHON="$root/$py/.venv/bin/python" "$py/generate.sh" >/dev/null
ts=examples/typescript
if [[ ! -d "$ts/node_modules" || "$ts/package-lock.json" -nt "$ts/node_modules" ]]; then
  npm ci --prefix "$ts" --no-audit --no-fund --loglevel=error >/dev/null
  touch "$ts/node_modules"
fi
npm run --prefix "$ts" --silent gen
npm run --prefix "$ts" --silent typecheck
mcp=tools/mcp-conformance
if [[ ! -d "$mcp/node_modules" || "$mcp/package-lock.json" -nt "$mcp/node_modules" ]]; then
  npm ci --prefix "$mcp" --no-audit --no-fund --loglevel=error >/dev/null
  touch "$mcp/node_modules"
fi

for _ in $(seq 1 240); do
  if "$bin/switchboard" health >/dev/null 2>&1; then break; fi
  if ! kill -0 "$platform" 2>/dev/null; then
    echo "examples: switchboard up stopped" >&2
    exit 1
  fi
  sleep 0.5
done
"$bin/switchboard" health >/dev/null
"$bin/switchboard" demo >"$work/logs/demo.log" 2>&1 || { cat "$work/logs/demo.log" >&2; exit 1; }
echo "viewer-password-1" | "$bin/switchboard" user create --tenant demo --email viewer@demo.example --role viewer \
  >>"$work/logs/demo.log" 2>&1

# The demo's first syncs: every connection has finished one (`lastSyncTime`) before the questions are asked.
export SWITCHBOARD_URL="$SWITCHBOARD_PUBLIC_URL"
token="$(curl -fsS "$SWITCHBOARD_URL/v1/auth:login" -d '{"tenant":"demo","email":"owner@demo.example","password":"demo-password-1"}' |
  "$python" -c 'import json, sys; print(json.load(sys.stdin)["accessToken"])')"
for attempt in $(seq 1 60); do
  pending="$(curl -fsS "$SWITCHBOARD_URL/v1/connections" -H "authorization: Bearer $token" |
    "$python" -c 'import json, sys; print(" ".join(c["provider"] for c in json.load(sys.stdin).get("connections", []) if not c.get("lastSyncTime")) or "none")' ||
    echo "unknown")"
  [[ "$pending" == none ]] && break
  [[ $attempt == 60 ]] && { echo "examples: the demo's first syncs did not finish within two minutes ($pending)" >&2; exit 1; }
  sleep 2
done
echo "examples: platform on $SWITCHBOARD_URL, demo synced ($((SECONDS - started)) s)"

passed=0
failed=0
run() {
  local name="$1" at=$SECONDS
  shift
  echo
  echo "examples: --- $name ---"
  if "$@"; then
    echo "examples: $name passed ($((SECONDS - at)) s)"
    passed=$((passed + 1))
  else
    echo "examples: $name FAILED ($((SECONDS - at)) s)" >&2
    failed=$((failed + 1))
  fi
}
run curl examples/curl/walkthrough.sh
run python "$py/.venv/bin/python" "$py/client.py"
run typescript env SWITCHBOARD_VIEWER_EMAIL=viewer@demo.example SWITCHBOARD_VIEWER_PASSWORD=viewer-password-1 \
  npm start --prefix "$ts" --silent
run mcp-http scripts/mcp-conformance.sh http "$SWITCHBOARD_URL/mcp" "$token"

echo
echo "examples: ran in $((SECONDS - started)) s"
echo "examples: $passed passed, $failed failed"
[[ $failed == 0 ]]
