#!/usr/bin/env bash
# A walk through Switchboard's REST API with curl: sign in, see who you are, list the connections, query synced
# records, ask a question (the run streams back as NDJSON, one JSON object per event), ask for a refund, approve it
# from another request, re-attach to the run to watch it finish, then refresh the token and log out.
#
#   SWITCHBOARD_URL=http://127.0.0.1:8080 examples/curl/walkthrough.sh
#
# Settings (environment): SWITCHBOARD_URL (the gateway, default http://127.0.0.1:8080), SWITCHBOARD_TENANT (demo),
# SWITCHBOARD_EMAIL (owner@demo.example), SWITCHBOARD_PASSWORD (demo-password-1). Needs bash, curl and python3 (only
# to read JSON). Exits non-zero on any unexpected status or answer. The exact field names are in the gateway's
# OpenAPI document: curl -s $SWITCHBOARD_URL/openapi.json
set -euo pipefail

base="${SWITCHBOARD_URL:-http://127.0.0.1:8080}"
tenant="${SWITCHBOARD_TENANT:-demo}"
email="${SWITCHBOARD_EMAIL:-owner@demo.example}"
password="${SWITCHBOARD_PASSWORD:-demo-password-1}"
# The first question after `switchboard up` waits for the intent router to be built (about half a minute).
ask_timeout=180

work="$(mktemp -d -t switchboard-curl.XXXXXX)"
stream_pid=""
cleanup() {
  if [[ -n "$stream_pid" ]]; then kill "$stream_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "curl walkthrough: $*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }

# json EXPR < body: evaluates a Python expression over the JSON document `d` on standard input and prints the result
# (strings as they are, anything else as JSON). Fails when a key or index is missing.
json() {
  python3 -c '
import json, sys
d = json.load(sys.stdin)
v = eval(sys.argv[1], {"d": d})
print(v if isinstance(v, str) else json.dumps(v))' "$1"
}

# call METHOD PATH STATUS [BODY]: one request, with the access token when there is one. Shows the request, keeps the
# response in $work/body and fails unless the HTTP status is STATUS.
call() {
  local method="$1" path="$2" want="$3" body="${4:-}" status
  local args=(-sS -X "$method" -o "$work/body" -w '%{http_code}' "$base$path")
  [[ -n "${token:-}" ]] && args+=(-H "authorization: Bearer $token")
  [[ -n "$body" ]] && args+=(-H 'content-type: application/json' -d "$body")
  # shellcheck disable=SC2016 # the single quotes are printed; the command substitution is inside double quotes
  echo "\$ curl -X $method $path${token:+ -H 'authorization: Bearer …'}${body:+ -d '$(redact "$body")'}"
  status="$(curl "${args[@]}")" || fail "$method $path: curl failed"
  if [[ "$status" != "$want" ]]; then
    fail "$method $path answered HTTP $status, expected $want: $(head -c 600 "$work/body")"
  fi
  [[ "$status" == 200 ]] || echo "   HTTP $status, as expected: $(json 'd.get("message", "")' <"$work/body")"
}

# Passwords and tokens stay off the screen.
redact() { sed -E 's/"(password|refreshToken)":"[^"]*"/"\1":"…"/g' <<<"$1"; }

# ask BODY UNTIL: POST /v1/orchestrator:ask and print the run's events as they stream, until the event named UNTIL
# (`runFinished`, or `approvalNeeded`). The stream stays open while a step waits for approval, so it is closed here
# once the wanted event is in: the run belongs to the server and carries on. Leaves the run's name and the last
# event's sequence in $last_run and $last_seq, and that event in $work/event.
ask() {
  local body="$1" until="$2" fd line
  last_run="" last_seq="" last_kind=""
  echo "\$ curl -N -X POST /v1/orchestrator:ask -H 'authorization: Bearer …' -H 'accept: application/x-ndjson' -d '$body'"
  exec {fd}< <(exec curl -sS -N --max-time "$ask_timeout" -X POST "$base/v1/orchestrator:ask" \
    -H "authorization: Bearer $token" -H 'accept: application/x-ndjson' -H 'content-type: application/json' \
    -d "$body")
  stream_pid=$!
  while IFS= read -r line <&"$fd" || [[ -n "$line" ]]; do
    [[ -z "$line" ]] && continue
    printf '%s' "$line" >"$work/event"
    describe "$work/meta" <"$work/event" || fail "unexpected answer to the question: $line"
    { read -r last_run; read -r last_seq; read -r last_kind; } <"$work/meta"
    [[ "$last_kind" == "$until" ]] && break
  done
  kill "$stream_pid" 2>/dev/null || true
  wait "$stream_pid" 2>/dev/null || true
  stream_pid=""
  exec {fd}<&-
  [[ "$last_kind" == "$until" ]] || fail "the stream ended before $until"
}

# describe META < event: prints one streamed event for a person (a line or a few) and writes its run, sequence and
# kind (`plan`, `approvalNeeded`, ...) to the file META, a line each. Fails on an error line or anything that is not
# an event.
describe() { python3 -c "$describe_py" "$1"; }
read -r -d '' describe_py <<'PY' || true
import json, sys

line = json.load(sys.stdin)
if "error" in line:
    print("   stream error:", line["error"].get("message"))
    sys.exit(1)
if "result" not in line:
    # Not a stream at all: the request was refused before the run started (an HTTP error's JSON body).
    print("   refused:", line.get("message", line))
    sys.exit(1)
e = line["result"]
kind = next(k for k in e if k not in ("run", "sequence", "eventTime"))
with open(sys.argv[1], "w") as meta:
    meta.write("%s\n%s\n%s\n" % (e["run"], e["sequence"], kind))
at = "   [%s]" % e["sequence"]


def short(value, limit=140):
    text = json.dumps(value, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


if "runStarted" in e:
    print(at, "run %s started (%s)" % (e["run"], e["runStarted"]["run"]["model"]))
elif "plan" in e:
    print(at, "plan:", e["plan"]["summary"])
    for s in e["plan"]["steps"]:
        approval = " (needs approval)" if s.get("needsApproval") else ""
        print("         %s. %s: %s%s" % (s["id"], s["tool"], s["description"], approval))
elif "stepStarted" in e:
    print(at, "step %s started: %s" % (e["stepStarted"]["stepId"], e["stepStarted"]["tool"]))
elif "stepFinished" in e:
    f = e["stepFinished"]
    print(at, "step %s finished %s: %s" % (f["stepId"], f["status"], short(f.get("output", f.get("error")))))
elif "approvalNeeded" in e:
    a = e["approvalNeeded"]
    print(at, "waiting for approval of %s: %s (%s %s)" % (a["step"], a["description"], a["tool"], short(a["input"])))
elif "answerDelta" in e:
    print(at, "writing:", repr(e["answerDelta"]["text"]))
elif "answer" in e:
    print(at, "answer:")
    for text in e["answer"]["text"].strip().splitlines():
        print(("     " + text).rstrip())
    for n, c in enumerate(e["answer"].get("citations", []), 1):
        print("     [%d] %s (%s)" % (n, c["title"], c["step"]))
elif "runFinished" in e:
    print(at, "run finished:", e["runFinished"]["status"])
else:
    print(at, short(e))
PY

step "Sign in: POST /v1/auth:login"
call POST /v1/auth:login 200 "{\"tenant\":\"$tenant\",\"email\":\"$email\",\"password\":\"$password\"}"
token="$(json 'd["accessToken"]' <"$work/body")"
refresh="$(json 'd["refreshToken"]' <"$work/body")"
echo "   $(json 'd["tokenType"]' <"$work/body") token, expires in $(json 'd["expiresIn"]' <"$work/body") s"

step "Without a token the API answers 401"
token="" call GET /v1/auth/me 401

step "Who am I: GET /v1/auth/me"
call GET /v1/auth/me 200
echo "   $(json 'd["user"]["email"] + " in " + d["tenant"]["slug"] + ", " + ", ".join(d["roles"])' <"$work/body")"
[[ "$(json 'd["user"]["email"]' <"$work/body")" == "$email" ]] || fail "whoami names someone else"

step "Connections: GET /v1/connections"
call GET /v1/connections 200
json '"\n".join("   %-10s %s  %s  %s" % (c["provider"], c["name"], c["account"], c["status"]) for c in d.get("connections", []))' <"$work/body"
[[ "$(json 'sum(1 for c in d.get("connections", []) if c["provider"] == "stripe")' <"$work/body")" -ge 1 ]] ||
  fail "no Stripe connection (run \`switchboard demo\`)"

step "Records: POST /v1/records:query (the latest refundable Stripe charges)"
query='{"kind":"charge","provider":"stripe","filter":"status = \"succeeded\" AND refunded = false","orderBy":"created desc","pageSize":5}'
for attempt in $(seq 1 60); do
  call POST /v1/records:query 200 "$query"
  [[ "$(json 'len(d.get("records", []))' <"$work/body")" -gt 0 ]] && break
  [[ $attempt == 60 ]] && fail "no Stripe charges were synced within two minutes"
  echo "   none yet; waiting for the first Stripe sync…"
  sleep 2
done
json '"\n".join("   %s  %8.2f %s  %s" % (r["id"], r["data"]["amount"] / 100, r["data"]["currency"], r["data"].get("receipt_email")) for r in d["records"])' <"$work/body"
customer="$(json 'next(r["data"]["receipt_email"] for r in d["records"] if r["data"].get("receipt_email"))' <"$work/body")"

step "Ask: POST /v1/orchestrator:ask, read as NDJSON until runFinished"
ask '{"question":"How much revenue did we make last week?"}' runFinished
[[ "$(json 'd["result"]["runFinished"]["status"]' <"$work/event")" == RUN_STATUS_SUCCEEDED ]] || fail "the question's run did not succeed"

step "Ask for a write: the refund waits for a person's approval"
ask "{\"question\":\"Refund the last charge of $customer\"}" approvalNeeded
run="$last_run"
seq="$last_seq"
approval="$(json 'd["result"]["approvalNeeded"]["step"]' <"$work/event")"
[[ "$(json 'd["result"]["approvalNeeded"]["tool"]' <"$work/event")" == stripe.refund.create ]] ||
  fail "the approval is not for a Stripe refund"

step "Approve it: POST /v1/$approval:approve"
call POST "/v1/$approval:approve" 200 '{"comment":"approved by the curl walkthrough"}'
echo "   $(json 'd["step"]["name"] + " is now " + d["step"]["status"]' <"$work/body")"
[[ "$(json 'd["step"]["name"]' <"$work/body")" == "$approval" ]] || fail "the approval names another step"

step "Re-attach to $run after sequence $seq and follow it to the end"
ask "{\"run\":\"$run\",\"afterSequence\":\"$seq\"}" runFinished
[[ "$(json 'd["result"]["runFinished"]["status"]' <"$work/event")" == RUN_STATUS_SUCCEEDED ]] || fail "the refund's run did not succeed"

step "The run as stored: GET /v1/$run"
call GET "/v1/$run" 200
json '"\n".join("   step %s %s: %s" % (s["id"], s["tool"], s["status"]) + (" (reviewed by user %s)" % s["reviewer"] if s.get("reviewer") else "") for s in d["run"]["steps"])' <"$work/body"
[[ "$(json '[s["status"] for s in d["run"]["steps"] if s["tool"] == "stripe.refund.create"]' <"$work/body")" == '["STEP_STATUS_SUCCEEDED"]' ]] ||
  fail "the refund step did not succeed"

step "Refresh the session: POST /v1/auth:refresh (the refresh token rotates)"
token="" call POST /v1/auth:refresh 200 "{\"refreshToken\":\"$refresh\"}"
token="$(json 'd["accessToken"]' <"$work/body")"
new_refresh="$(json 'd["refreshToken"]' <"$work/body")"
[[ "$new_refresh" != "$refresh" ]] || fail "the refresh token did not rotate"
refresh="$new_refresh"
call GET /v1/auth/me 200
echo "   the new access token works for $(json 'd["user"]["email"]' <"$work/body")"

step "Log out: POST /v1/auth:logout; the refresh token stops working"
token="" call POST /v1/auth:logout 200 "{\"refreshToken\":\"$refresh\"}"
token="" call POST /v1/auth:refresh 401 "{\"refreshToken\":\"$refresh\"}"

printf '\ncurl walkthrough: ok\n'
