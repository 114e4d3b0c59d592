#!/usr/bin/env bash
# Tests the image `make image` builds (localhost/switchboard:<version>, or $SWITCHBOARD_IMAGE) with Debian's podman,
# installed with apt-get when missing: the layout the Dockerfile promises (no shell, the data dir 0700 and owned by
# 65532, /tmp 1777, the console and the model in place), `switchboard --version`, `certs init` without a volume as
# the image's user, then `switchboard up` on a read-only root filesystem with tmpfs for /tmp and the data dir, as
# the Helm chart runs it: the plaintext health port must report SERVING, `switchboard health` inside the container
# every service SERVING, the console must be served, the embedding model must load, and SIGTERM must stop it cleanly.
#
# Whether podman can run a container here is found out first, with a probe that does not depend on the image (the
# host's dynamic loader, a static program, imported as an image of its own): engine defaults, then the ulimits this
# process may grant (without CAP_SYS_RESOURCE none can be raised, and podman asks for 1048576), then runc instead
# of crun (crun refuses a cgroup v1/v2 hybrid with controllers on both sides), then no cgroups at all. When none of
# them runs the probe, the machine cannot run containers: the test says why and exits 0. Any other failure fails.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
image=${SWITCHBOARD_IMAGE:-localhost/switchboard:${SWITCHBOARD_IMAGE_VERSION:-$version}}
probe_image=localhost/switchboard-podman-probe:$$
name=switchboard-image-test-$$
started=$(date +%s)

fail() {
  echo "test-image: FAILED: $*" >&2
  exit 1
}

need_apt=()
command -v podman >/dev/null 2>&1 || need_apt+=(podman)
# The runtime for machines whose cgroups crun refuses (see above).
command -v runc >/dev/null 2>&1 || need_apt+=(runc)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
# shellcheck source=scripts/apt-install.sh
. scripts/apt-install.sh
apt_install test-image "${need_apt[@]}"

podman image exists "$image" || fail "no image $image: \`make image\` builds it"

cleanup() {
  podman "${global[@]}" rm --force --time 0 "$name" >/dev/null 2>&1 || true
  podman rmi --force "$probe_image" >/dev/null 2>&1 || true
}
global=()
trap cleanup EXIT

# === Can podman run a container here? ===
loader=$(ldd "$(type -P true)" | awk '$1 ~ /^\// { print $1 }')
[ -n "$loader" ] || fail "no dynamic loader found for the probe (ldd $(type -P true))"
tar --dereference --numeric-owner --owner=0 --group=0 -cf - "$loader" 2>/dev/null | podman import --quiet - "$probe_image" >/dev/null

hard_nofile=$(ulimit -Hn)
[ "$hard_nofile" != unlimited ] || hard_nofile=1048576
# Debian's podman 4.3 lowers its own nproc limit to 32768 before it starts the runtime.
hard_nproc=$(ulimit -Hu)
{ [ "$hard_nproc" != unlimited ] && [ "$hard_nproc" -le 32768 ]; } || hard_nproc=32768
limits="--ulimit nofile=$hard_nofile:$hard_nofile --ulimit nproc=$hard_nproc:$hard_nproc"
# "podman's own flags|run's flags"
candidates=(
  "|"
  "|$limits"
  "--runtime runc|$limits"
  "|--cgroups=disabled $limits"
)
# words ARG...: the arguments joined by single spaces.
words() { echo "$*"; }
chosen="" tried=""
for candidate in "${candidates[@]}"; do
  read -ra global <<<"${candidate%%|*}"
  read -ra run_flags <<<"${candidate#*|}"
  if output=$(podman "${global[@]}" run --rm "${run_flags[@]}" "$probe_image" "$loader" --version 2>&1) \
    && [[ $output == *"ld.so"* ]]; then
    chosen=$candidate
    break
  fi
  tried+=$'\n'"  $(words podman "${global[@]}" run "${run_flags[@]}"): $(tail -n 1 <<<"$output")"
done
if [ -z "$chosen" ]; then
  global=()
  echo "test-image: SKIPPED: podman cannot run a container on this machine, so the image was not run. Tried:$tried"
  exit 0
fi
podman=(podman "${global[@]}")
run=("${podman[@]}" run "${run_flags[@]}")
echo "test-image: podman runs containers here as: $(words "${podman[@]}" run "${run_flags[@]}")"

# === What the image holds ===
user=$(podman image inspect --format '{{.Config.User}}' "$image")
[ "$user" = 65532:65532 ] || fail "the image runs as '$user', not 65532:65532"
listing=$("${podman[@]}" create --name "$name" "$image" >/dev/null && "${podman[@]}" export "$name" | tar --numeric-owner -tvf -)
"${podman[@]}" rm "$name" >/dev/null
expect_entry() {
  grep -Eq "$1" <<<"$listing" || fail "the image lacks $2"
}
expect_entry '^drwx------ 65532/65532 .* var/lib/switchboard/$' "/var/lib/switchboard as a directory 0700 owned by 65532"
expect_entry '^drwxrwxrwt 0/0 .* tmp/$' "/tmp with mode 1777"
expect_entry '^-rwxr-xr-x 0/0 .* usr/local/bin/switchboard$' "/usr/local/bin/switchboard"
expect_entry ' usr/share/switchboard/console/index.html$' "the console's index.html in /usr/share/switchboard/console"
expect_entry ' usr/share/switchboard/models/all-minilm-l6-v2/model.safetensors$' "the embedding model"
expect_entry ' etc/ssl/certs/ca-certificates.crt$' "CA certificates"
expect_entry '^-.* etc/passwd$' "/etc/passwd"
shells=$(grep -E ' (usr/)?s?bin/(sh|bash|dash|busybox)( -> .*)?$' <<<"$listing" || true)
[ -z "$shells" ] || fail "the image has a shell: $shells"

# === One-shot commands ===
printed=$("${run[@]}" --rm --read-only "$image" --version) || fail "switchboard --version failed: $printed"
[[ $printed == *"$version"* ]] || fail "switchboard --version printed '$printed', not version $version"
echo "test-image: --version: $printed"
"${run[@]}" --rm --read-only "$image" >/dev/null || fail "the image's default command (CMD --help) failed"
# Without a volume the image's own data dir must be writable by its user.
"${run[@]}" --rm "$image" certs init >/dev/null || fail "certs init into the image's own data dir failed"

# === up, read-only, as the Helm chart runs it ===
# grpc.health.v1 Check over HTTP/2 with curl: an empty request (a 5-byte gRPC frame), and the reply's status
# field: 08 01 is SERVING, 08 02 NOT_SERVING.
health() {
  local reply
  reply=$(printf '\0\0\0\0\0' | curl -sS --max-time 3 --http2-prior-knowledge -H 'content-type: application/grpc' \
    -H 'te: trailers' --data-binary @- "http://$1/grpc.health.v1.Health/Check" 2>/dev/null | od -An -tx1 | tr -d ' \n')
  case $reply in
    00000000020801) echo SERVING ;;
    00000000020802) echo NOT_SERVING ;;
    *) echo "no answer ($reply)" ;;
  esac
}

# U: the data dir's tmpfs belongs to the container's user (podman 4.3 takes no uid= for a tmpfs).
up_started=$(date +%s)
"${run[@]}" --detach --name "$name" --read-only --read-only-tmpfs=false \
  --tmpfs /tmp:rw,mode=1777 --tmpfs /var/lib/switchboard:rw,mode=0700,U \
  -e SWITCHBOARD_GATEWAY_ADDR=0.0.0.0:8080 -e SWITCHBOARD_HEALTH_ADDR=0.0.0.0:8081 \
  -p 127.0.0.1::8080 -p 127.0.0.1::8081 "$image" up >/dev/null
probe_addr=$("${podman[@]}" port "$name" 8081/tcp)
public_addr=$("${podman[@]}" port "$name" 8080/tcp)

logs() { "${podman[@]}" logs "$name" 2>&1 | tail -n 40; }
status="" deadline=$(($(date +%s) + 90))
while :; do
  status=$(health "$probe_addr")
  [ "$status" != SERVING ] || break
  if [ "$("${podman[@]}" inspect --format '{{.State.Running}}' "$name")" != true ]; then
    fail "up exited before its health port reported SERVING:"$'\n'"$(logs)"
  fi
  [ "$(date +%s)" -lt "$deadline" ] || fail "the health port still reports '$status' after 90 s:"$'\n'"$(logs)"
  sleep 0.5
done
echo "test-image: up on a read-only root filesystem: the health port reports SERVING after $(($(date +%s) - up_started)) s"
pid=$("${podman[@]}" inspect --format '{{.State.Pid}}' "$name")
uid=$(stat -c %u "/proc/$pid")
[ "$uid" = 65532 ] || fail "the container's process runs as uid $uid, not 65532"

services=$("${podman[@]}" exec "$name" /usr/local/bin/switchboard health) \
  || fail "switchboard health inside the container:"$'\n'"$services"
while IFS= read -r line; do echo "test-image:   $line"; done <<<"$services"

page=$(curl -sS --max-time 5 "http://$public_addr/") || fail "the gateway did not serve the console at /"
[[ $page == *"<html"* ]] || fail "the gateway's / is not the console's index.html: ${page:0:200}"

deadline=$(($(date +%s) + 60))
until "${podman[@]}" logs "$name" 2>&1 | grep -q "loaded the all-MiniLM-L6-v2 embedding model"; do
  if "${podman[@]}" logs "$name" 2>&1 | grep -q "embedding model is not installed\|embedding model failed to load"; then
    fail "the embedding model did not load:"$'\n'"$(logs)"
  fi
  [ "$(date +%s)" -lt "$deadline" ] || fail "no 'loaded the all-MiniLM-L6-v2 embedding model' in the logs after 60 s"
  sleep 0.5
done

"${podman[@]}" stop --time 20 "$name" >/dev/null
code=$("${podman[@]}" inspect --format '{{.State.ExitCode}}' "$name")
[ "$code" = 0 ] || fail "up exited with $code on SIGTERM:"$'\n'"$(logs)"
if "${podman[@]}" logs "$name" 2>&1 | grep -q '"level":"ERROR"\| ERROR '; then
  fail "up logged errors:"$'\n'"$("${podman[@]}" logs "$name" 2>&1 | grep '"level":"ERROR"\| ERROR ')"
fi

echo "test-image: ok: $image ($(podman image inspect --format '{{.Size}}' "$image" | numfmt --to=si)B) in $(($(date +%s) - started)) s"
