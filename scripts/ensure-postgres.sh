#!/usr/bin/env bash
# Makes sure the PostgreSQL the tests use is accepting connections, starting the machine's cluster if it is not.
# The URL comes from SWITCHBOARD_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
url="${SWITCHBOARD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"

ready() { psql "$url" -qtAc 'select 1' >/dev/null 2>&1; }

if ready; then exit 0; fi
echo "ensure-postgres: $url is not answering; starting the local cluster"
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  for dir in /etc/postgresql/*/; do
    [ -d "$dir" ] || continue
    pg_ctlcluster --skip-systemctl-redirect "$(basename "$dir")" main start || true
  done
fi
for _ in $(seq 1 50); do
  if ready; then exit 0; fi
  sleep 0.2
done
echo "ensure-postgres: PostgreSQL at $url is not reachable; the PostgreSQL half of the test suite needs it" >&2
exit 1
