#!/usr/bin/env bash
# Builds the web console (web/) into web/dist with its pinned dependencies (`npm ci`), offline once installed.
# Skips the build when web/dist is newer than every source file, so `make run` stays quick.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules ]; then
  echo "console: installing web/ dependencies (npm ci, pinned)"
  npm ci --prefix web --no-audit --no-fund --loglevel=error >/dev/null
  touch web/node_modules
fi
stamp=web/dist/index.html
if [ -f "$stamp" ] && [ -z "$(find web/src web/public web/index.html web/package.json web/vite.config.* proto -newer "$stamp" -print -quit 2>/dev/null)" ]; then
  exit 0
fi
echo "console: building web/ into web/dist"
npm run --prefix web build --silent
