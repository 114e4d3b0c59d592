#!/usr/bin/env bash
# The Helm chart's tests (charts/switchboard), offline: Helm's own engine renders the chart for the default values,
# ci/production-values.yaml and charts/tests/values/every-setting.yaml; `helm lint --strict` must find nothing;
# every manifest must validate strictly against the Kubernetes 1.30 and 1.37 schemas; charts/tests/ checks the
# result (hardened pods with gRPC probes, network policies that mirror the contracts' mesh rights, no secret outside
# a Secret, the schema refusing wrong values, every setting of `switchboard serve <role> --help` reachable from
# values) and hadolint checks the Dockerfile.
#
# The tools live in a virtualenv of their own, charts/.venv (gitignored), made from the pinned
# charts/tests/requirements.txt the first time and again only when that file changes. The binary whose settings
# are checked is $SWITCHBOARD_BIN (the file, or the directory holding it), by default the debug build in
# ${CARGO_TARGET_DIR:-~/.cache/switchboard-target}/debug. Extra arguments go to pytest (`-k secrets`, `-x`).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=charts/.venv
requirements=charts/tests/requirements.txt
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "test-chart: installing the chart's test tools into $venv (pinned by $requirements)"
  rm -rf "$venv"
  if ! python3 -m venv "$venv"; then
    echo "test-chart: python3 -m venv failed: install python3 and its venv module (Debian: python3-venv)" >&2
    exit 1
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$requirements"
  echo "$want" >"$stamp"
fi

export SWITCHBOARD_BIN="${SWITCHBOARD_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/switchboard-target}/debug}"
export PYTHONDONTWRITEBYTECODE=1
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider charts/tests "$@"
