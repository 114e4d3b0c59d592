#!/usr/bin/env bash
# Runs a command with a Kafka-compatible broker on 127.0.0.1:9092 (tansu, in memory), then stops the broker if
# this script started it. Installs tansu from crates.io the first time (about 9 minutes; without the dynostore
# feature it has no storage engine). Usage: scripts/with-kafka.sh <command> [args...]
set -euo pipefail
port=9092
open() { (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; }

tansu=$(command -v tansu || true)
[ -n "$tansu" ] || tansu="$HOME/.cargo/bin/tansu"
if ! open && [ ! -x "$tansu" ]; then
  echo "with-kafka: installing the tansu broker (cargo install tansu --locked --features dynostore, ~9 min once)"
  cargo install tansu --locked --features dynostore --quiet
fi

started=""
log="${TMPDIR:-/tmp}/switchboard-tansu.log"
if ! open; then
  echo "with-kafka: starting tansu on 127.0.0.1:$port (log: $log)"
  "$tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine memory://tansu/ >"$log" 2>&1 &
  started=$!
  for _ in $(seq 1 100); do
    open && break
    if ! kill -0 "$started" 2>/dev/null; then
      echo "with-kafka: tansu exited at start; its log:" >&2
      cat "$log" >&2
      exit 1
    fi
    sleep 0.2
  done
  if ! open; then
    echo "with-kafka: tansu did not open port $port in 20 s; its log:" >&2
    tail -50 "$log" >&2
    kill "$started" 2>/dev/null || true
    exit 1
  fi
fi
# shellcheck disable=SC2317 # called by the EXIT trap
stop() { if [ -n "$started" ]; then kill "$started" 2>/dev/null || true; wait "$started" 2>/dev/null || true; fi; }
trap stop EXIT
status=0
"$@" || status=$?
exit $status
