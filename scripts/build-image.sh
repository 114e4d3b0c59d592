#!/usr/bin/env bash
# Builds the Switchboard image offline, for machines that cannot pull the Dockerfile's base images: Debian's buildah
# (installed with apt-get when missing) builds it from scratch out of files this machine already has, and nothing is
# pulled. `make image` builds the release binary first, then runs this.
#
# The image keeps what the Dockerfile's run-time stage promises. That stage is used as it is written: only its
# FROM line changes, from the distroless base to a stand-in built here from scratch (the libraries `ldd` finds for
# the binary, at the paths it finds them, and the loader; Debian's CA certificates; /etc/passwd and /etc/group with
# the nonroot user 65532; /home/nonroot; /tmp 1777; distroless's PATH, SSL_CERT_FILE, USER and WORKDIR). Its
# `COPY --from=<stage>` sources come from the machine instead of the other stages: the binary, an empty data dir
# (0700), web/dist (scripts/build-console.sh builds it) and the embedding model (scripts/fetch-embedding-model.sh
# fetches it). So LABEL, ENV, USER, EXPOSE, ENTRYPOINT and CMD are the Dockerfile's own, and a COPY this script
# does not know how to provide stops the build. No shell goes in.
#
# Settings (environment):
#   SWITCHBOARD_IMAGE_BINARY   the binary to put in, by default $CARGO_TARGET_DIR/release/switchboard
#   SWITCHBOARD_IMAGE_VERSION  the tag and the version label, by default the workspace's version (Cargo.toml)
#   CARGO_TARGET_DIR           default ~/.cache/switchboard-target; the build's files and the OCI archive go to
#                              $CARGO_TARGET_DIR/image/
#
# Result: localhost/switchboard:<version> in the local containers storage (podman sees it) and
# $CARGO_TARGET_DIR/image/switchboard-<version>.oci.tar (`podman load -i`, `skopeo copy oci-archive:...`).
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir=${CARGO_TARGET_DIR:-$HOME/.cache/switchboard-target}
binary=${SWITCHBOARD_IMAGE_BINARY:-$target_dir/release/switchboard}
model_dir=${SWITCHBOARD_EMBEDDING_MODEL_DIR:-$HOME/.cache/switchboard/models/all-minilm-l6-v2}
version=${SWITCHBOARD_IMAGE_VERSION:-$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)}
image=localhost/switchboard:$version
out=$target_dir/image
archive=$out/switchboard-$version.oci.tar

fail() {
  echo "build-image: $*" >&2
  exit 1
}

[ -n "$version" ] || fail "no version in Cargo.toml's [workspace.package]; set SWITCHBOARD_IMAGE_VERSION"
if [ ! -x "$binary" ]; then
  fail "no binary at $binary: \`make image\` builds it (cargo build --release --locked -p switchboard --bin switchboard), or set SWITCHBOARD_IMAGE_BINARY"
fi

need_apt=()
command -v buildah >/dev/null 2>&1 || need_apt+=(buildah)
[ -f /etc/ssl/certs/ca-certificates.crt ] || need_apt+=(ca-certificates)
# shellcheck source=scripts/apt-install.sh
. scripts/apt-install.sh
apt_install build-image "${need_apt[@]}"

# The two other inputs; both return at once when they are already in place.
scripts/build-console.sh
scripts/fetch-embedding-model.sh

started=$(date +%s)
context=$out/context
rm -rf "$context"
mkdir -p "$context"

# === The run-time stage, and what its COPY --from lines take ===
# Everything after the Dockerfile's last FROM line.
stage=$(awk 'toupper($1) == "FROM" { n = NR } { line[NR] = $0 } END { for (i = n + 1; i <= NR; i++) print line[i] }' Dockerfile)

# provide STAGE SOURCE: puts into $context/STAGE/SOURCE what the Dockerfile's STAGE stage would have left at SOURCE.
provide() {
  local dest=$context/$1$2
  mkdir -p "$(dirname "$dest")"
  case "$1:$2" in
    # Without debug info: the build's line tables stop at Rust code, and the C libraries and std bring full DWARF
    # (355 MB in all, 68 MB stripped). Symbols stay, so a backtrace still names its functions.
    build:/out/switchboard) install -m 0755 "$binary" "$dest" && objcopy --strip-debug "$dest" ;;
    build:/out/data) mkdir -m 0700 "$dest" ;;
    console:/src/web/dist) cp -a web/dist "$dest" ;;
    model:/out/all-minilm-l6-v2) cp -a "$model_dir" "$dest" ;;
    *) fail "the Dockerfile's run-time stage copies $2 from its '$1' stage, which build-image.sh cannot provide: add it to provide()" ;;
  esac
}

stages=()
while IFS= read -r line; do
  read -ra words <<<"$line"
  [ ${#words[@]} -gt 0 ] || continue
  case "${words[0]^^}" in
    COPY) ;;
    RUN) fail "the Dockerfile's run-time stage has a RUN line, which an image without a shell cannot run: $line" ;;
    *) continue ;;
  esac
  from="" sources=()
  for word in "${words[@]:1}"; do
    case $word in
      --from=*) from=${word#--from=} ;;
      --*) ;;
      *) sources+=("$word") ;;
    esac
  done
  [ -n "$from" ] || fail "the Dockerfile's run-time stage copies from the build context, which build-image.sh does not provide: $line"
  [ ${#sources[@]} -eq 2 ] || fail "expected one source and one destination in: $line"
  provide "$from" "${sources[0]}"
  [[ " ${stages[*]} " == *" $from "* ]] || stages+=("$from")
done <<<"$stage"

# === The stand-in for gcr.io/distroless/cc-debian12:nonroot ===
# Two tar archives, because ADD keeps the owners and modes an archive records (COPY cannot give one directory
# another owner than its parents): everything owned by root, then the two directories that belong to 65532.
base=$out/runtime-base
rm -rf "$base"
mkdir -p "$base/etc/ssl/certs" "$base/tmp" "$base/home/nonroot" "$base/var/lib/switchboard"
chmod 1777 "$base/tmp"
# The data dir is here already, 0700: buildah gives a COPY's new destination directory mode 0755 whatever the
# source's (BuildKit keeps the source's 0700), and the Dockerfile's COPY onto an existing directory keeps its mode.
chmod 0700 "$base/home/nonroot" "$base/var/lib/switchboard"
# glibc, libgcc, OpenSSL: exactly what the binary links, at the paths ldd reports, the loader included. A static
# binary needs none of them.
if linked=$(ldd "$binary" 2>&1); then
  if grep -q "not found" <<<"$linked"; then
    fail "$binary needs libraries this machine lacks:"$'\n'"$linked"
  fi
  # "name => /path (address)" for libraries, "/path (address)" for the loader, "linux-vdso.so.1 (address)" for
  # the kernel's own.
  while IFS= read -r lib; do
    mkdir -p "$base$(dirname "$lib")"
    cp -L --preserve=mode "$lib" "$base$lib"
  done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$linked")
elif ! grep -q "not a dynamic executable\|statically linked" <<<"$linked"; then
  fail "ldd $binary: $linked"
fi
cp -L /etc/ssl/certs/ca-certificates.crt "$base/etc/ssl/certs/"
# distroless's accounts: root, nobody and nonroot (65532), none with a login shell.
cat >"$base/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat >"$base/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
EOF
cat >"$base/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files dns
EOF
tar --numeric-owner --owner=0 --group=0 -C "$base" -cf "$context/runtime-base.tar" .
tar --numeric-owner --owner=65532 --group=65532 --no-recursion -C "$base" -cf "$context/runtime-nonroot.tar" \
  ./home/nonroot ./var/lib/switchboard
rm -rf "$base"

# === The Containerfile: one scratch stage per input, the stand-in, then the Dockerfile's run-time stage ===
containerfile=$out/Containerfile
{
  echo "# Generated by scripts/build-image.sh from the Dockerfile's run-time stage; not for editing."
  for name in "${stages[@]}"; do
    printf 'FROM scratch AS %s\nCOPY %s/ /\n' "$name" "$name"
  done
  cat <<'EOF'
FROM scratch AS runtime-base
ADD runtime-base.tar /
ADD runtime-nonroot.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532
WORKDIR /home/nonroot
FROM runtime-base
EOF
  printf '%s\n' "$stage"
} >"$containerfile"

echo "build-image: building $image from $binary"
previous=$(buildah images --quiet --no-trunc "$image" 2>/dev/null || true)
buildah build --quiet --format oci --build-arg "VERSION=$version" -f "$containerfile" -t "$image" "$context" >/dev/null
current=$(buildah images --quiet --no-trunc "$image")
# The image this tag named before, unless a container still uses it.
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then
  buildah rmi "$previous" >/dev/null 2>&1 || true
fi

rm -f "$archive"
buildah push --quiet "$image" "oci-archive:$archive:$image"
rm -rf "$context"

size=$(buildah images --format '{{.Size}}' "$image")
echo "build-image: $image built in $(($(date +%s) - started)) s: $size unpacked; $archive: $(du -h "$archive" | cut -f1)"
