#!/usr/bin/env bash
# Generates the Python message and gRPC stubs for the public services (auth, connectors, orchestrator, audit) from
# the repository's contracts (../../proto) into gen/ (not committed). google/api and google/rpc are vendored under
# proto/google; the well-known types (google/protobuf/*) come with grpcio-tools.
#
#   PYTHON=.venv/bin/python ./generate.sh
set -euo pipefail
cd "$(dirname "$0")"
python="${PYTHON:-python3}"
proto=../../proto
wkt="$("$python" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')"

rm -rf gen
mkdir -p gen
files=()
for dir in switchboard/auth/v1 switchboard/connectors/v1 switchboard/orchestrator/v1 switchboard/audit/v1 google/api google/rpc; do
  for f in "$proto/$dir"/*.proto; do files+=("${f#"$proto"/}"); done
done
"$python" -m grpc_tools.protoc -I "$proto" -I "$wkt" --python_out=gen --pyi_out=gen --grpc_python_out=gen "${files[@]}"
echo "generated the stubs of ${#files[@]} contracts into $PWD/gen"
