#!/usr/bin/env bash
# A service's user-space instructions per request (the gateway's, or the audit service's), counted by callgrind:
# repeatable to a fraction of a percent for one binary and one request, whatever else the machine is doing, so a
# change of 1 µs that the wall-clock `layers` benchmark cannot tell from its noise still shows. System calls and
# waiting are not counted: the `layers` benchmark remains the measure of CPU per request; this one says where the
# user-space part goes.
#
#   benches/instructions.sh <switchboard binary> static   # GET /.well-known/jwks.json (row 3 of `layers`)
#   benches/instructions.sh <switchboard binary> read     # GET /v1/audit/events?pageSize=1 with a token (row 6)
#   benches/instructions.sh <switchboard binary> audit    # the same read, counting the audit service instead
#
# Needs valgrind and wrk (Debian's packages). Starts the gateway under callgrind (and, for `read`, the audit
# service normally; for `audit`, the other way round) on free ports in a temporary data directory, warms up,
# counts 20 s of 8 connections, and prints the count per request; `callgrind_annotate --inclusive=yes <dir>/cg.out.1` shows where it went.
set -euo pipefail
bin=$(realpath "$1")
mode=${2:-static}
dir=$(mktemp -d /tmp/switchboard-instructions.XXXXXX)
port=$((20000 + RANDOM % 20000))
export SWITCHBOARD_DATA_DIR=$dir/data SWITCHBOARD_GATEWAY_ADDR=127.0.0.1:$port \
  SWITCHBOARD_GATEWAY_ADMIN_ADDR=127.0.0.1:$((port + 1)) SWITCHBOARD_AUDIT_ADDR=127.0.0.1:$((port + 2)) \
  SWITCHBOARD_CONNECTORS_ADDR=127.0.0.1:$((port + 3)) SWITCHBOARD_ORCHESTRATOR_ADDR=127.0.0.1:$((port + 4)) \
  SWITCHBOARD_PUBLIC_URL=http://127.0.0.1:$port SWITCHBOARD_METRICS_ADDR= \
  SWITCHBOARD_RATE_LIMIT_PER_MINUTE=1000000000 RUST_LOG=info,h2=warn,hyper=warn,sqlx=warn,sea_orm=warn,rustls=warn
mkdir -p "$dir/data"
"$bin" certs init > /dev/null
pids=()
trap 'kill "${pids[@]}" 2> /dev/null || true' EXIT
callgrind=(valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out")
case "$mode" in
  static) ;;
  read)
    "$bin" serve audit > "$dir/audit.log" 2>&1 &
    pids+=($!)
    sleep 2
    ;;
  audit)
    "${callgrind[@]}" "$bin" serve audit > "$dir/audit.log" 2> "$dir/valgrind.log" &
    counted=$!
    pids+=("$counted")
    sleep 10
    ;;
  *)
    echo "usage: $0 <switchboard binary> static|read|audit" >&2
    exit 2
    ;;
esac
if [ "$mode" = audit ]; then
  "$bin" serve gateway > /dev/null 2>&1 &
  pids+=($!)
else
  "${callgrind[@]}" "$bin" serve gateway > /dev/null 2> "$dir/valgrind.log" &
  counted=$!
  pids+=("$counted")
fi
for _ in $(seq 1 120); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/.well-known/jwks.json" && break
  sleep 1
done
args=()
url="http://127.0.0.1:$port/.well-known/jwks.json"
if [ "$mode" != static ]; then
  password="correct horse battery staple"
  "$bin" tenant create bench > /dev/null
  echo "$password" | "$bin" user create --tenant bench --email owner@bench.example --role owner > /dev/null
  token=$(curl -sf -X POST "http://127.0.0.1:$port/v1/auth:login" -H 'content-type: application/json' \
    -d "{\"tenant\":\"bench\",\"email\":\"owner@bench.example\",\"password\":\"$password\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["accessToken"])')
  args=(-H "authorization: Bearer $token")
  url="http://127.0.0.1:$port/v1/audit/events?pageSize=1"
  # The first page needs the login's audit event, which arrives through the outbox.
  sleep 2
fi
wrk -t1 -c8 -d5s "${args[@]}" "$url" > /dev/null
callgrind_control -z "$counted" > /dev/null 2>&1
wrk -t1 -c8 -d20s "${args[@]}" "$url" > "$dir/wrk.txt"
callgrind_control -d "$counted" > /dev/null 2>&1
if grep -q 'Non-2xx' "$dir/wrk.txt"; then
  echo "some requests failed:" >&2
  cat "$dir/wrk.txt" >&2
  exit 1
fi
requests=$(awk '/requests in/ {print $1}' "$dir/wrk.txt")
total=$(callgrind_annotate "$dir/cg.out.1" 2> /dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "$mode: $requests requests, $((total / requests)) instructions a request (profile: $dir/cg.out.1)"
