#!/usr/bin/env bash
# The web console's tests (part of `make test`): its component tests (Vitest, jsdom), then its end-to-end tests
# (Playwright driving Debian's Chromium) against a live platform that web/scripts/e2e.sh starts from this
# checkout's debug binaries and stops: sign in, OAuth-connect Stripe in the sandbox, a sync, a question, an
# approved refund in the audit log, a viewer's view, phone width, axe, the service worker. Screenshots land in
# web/test-results/.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard-target}"
scripts/build-console.sh
echo "console: component tests"
npm test --prefix web --silent
echo "console: end-to-end tests"
CARGO_TARGET_DIR="$target" "${CARGO:-cargo}" build -q --locked -p switchboard -p switchboard-sandbox
SWITCHBOARD_BIN="$target/debug" E2E_BUILD=0 bash web/scripts/e2e.sh
