#!/usr/bin/env bash
# The image's two bases, made here from Debian's packages with no container registry:
#   runtime  debootstrap --variant=minbase SUITE + python3 python3-venv ca-certificates
#   build    the runtime base + gcc libc6-dev python3-dev (the build stage compiles with mypyc)
# Each is tagged by a hash of its inputs (suite, variant, package lists, RECIPE), so a base is
# made once and later runs find it in the project's container storage (image/containers.sh).
# Prints the two references, runtime first.
#   bash image/base.sh          # DEBIAN_MIRROR=URL: another mirror; IMAGE_BASE_REFRESH=1: remake
#                               # both (the suite's packages move on; the tag stays the same)
set -euo pipefail
cd "$(dirname "$0")/.."
source image/containers.sh

SUITE="${SUITE:-bookworm}"
VARIANT=minbase
RUNTIME_PACKAGES=(ca-certificates python3 python3-venv)
BUILD_PACKAGES=(gcc libc6-dev python3-dev)
# Bump when the steps below change what a base holds.
RECIPE=2

key="$(printf '%s\n' "$SUITE" "$VARIANT" "${RUNTIME_PACKAGES[*]}" "${BUILD_PACKAGES[*]}" \
         "$RECIPE" | sha256sum | cut -c1-12)"
runtime="localhost/modelrollout-base:$SUITE-$key"
build="localhost/modelrollout-build-base:$SUITE-$key"

log() { echo "[image/base] $*" >&2; }
exists() { buildah_ inspect --type image "$1" >/dev/null 2>&1; }

# What a base does not need, and logs and caches that differ from one run to the next.
trim() {
  local root="$1"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
         "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/var/cache/ldconfig/aux-cache \
         "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
         "$root"/tmp/* "$root"/root/.cache
}

# debootstrap installs the suite as released; its -updates and (on a mirror laid out as Debian's,
# URL ending in /debian) -security suites bring it to date, as the public bases are.
# shellcheck disable=SC2016  # expanded inside the base
UPDATE='
set -e
read -r _ mirror suite _ </etc/apt/sources.list
{
  echo "deb $mirror $suite-updates main"
  case "$mirror" in */debian) echo "deb $mirror-security $suite-security main" ;; esac
} >/etc/apt/sources.list.d/updates.list
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq >/dev/null
apt-get clean'

make_runtime() {
  need debootstrap buildah
  local work ctr
  work="$(mktemp -d "${TMPDIR:-/tmp}/modelrollout-base.XXXXXX")"
  trap 'rm -rf "$work"' RETURN
  log "debootstrap --variant=$VARIANT $SUITE with ${RUNTIME_PACKAGES[*]} (about a minute)"
  local include
  include="$(IFS=,; echo "${RUNTIME_PACKAGES[*]}")"
  # shellcheck disable=SC2086  # DEBIAN_MIRROR is one word or none
  debootstrap --variant="$VARIANT" --include="$include" "$SUITE" "$work/rootfs" \
    ${DEBIAN_MIRROR:-} >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; return 1; }
  trim "$work/rootfs"
  tar --sort=name --numeric-owner --xattrs -C "$work/rootfs" -cf "$work/rootfs.tar" .
  ctr="$(buildah_ from scratch)"
  buildah_ add "$ctr" "$work/rootfs.tar" / >/dev/null
  log "$runtime: $SUITE-updates and -security"
  buildah_ run --isolation chroot "$ctr" -- sh -c "$UPDATE"
  buildah_ run --isolation chroot "$ctr" -- sh -c "$(declare -f trim); trim ''"
  buildah_ config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 --cmd /bin/bash \
    --label "org.opencontainers.image.description=Debian $SUITE ($VARIANT) + ${RUNTIME_PACKAGES[*]}" \
    "$ctr"
  buildah_ commit --rm --quiet "$ctr" "$runtime" >/dev/null
}

make_build() {
  need buildah
  local ctr
  log "$build: the runtime base + ${BUILD_PACKAGES[*]}"
  ctr="$(buildah_ from --pull-never "$runtime")"
  buildah_ run --isolation chroot "$ctr" -- sh -ec "
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ${BUILD_PACKAGES[*]} >/dev/null
    apt-get clean"
  buildah_ run --isolation chroot "$ctr" -- sh -c "$(declare -f trim); trim ''"
  buildah_ config --label \
    "org.opencontainers.image.description=Debian $SUITE ($VARIANT) + ${RUNTIME_PACKAGES[*]} ${BUILD_PACKAGES[*]}" \
    "$ctr"
  buildah_ commit --rm --quiet "$ctr" "$build" >/dev/null
}

if [ -n "${IMAGE_BASE_REFRESH:-}" ] || ! exists "$runtime"; then
  # A new runtime base: the build base must be remade on it (both stages share one Python).
  buildah_ rmi "$build" >/dev/null 2>&1 || true
  make_runtime
fi
exists "$build" || make_build
echo "$runtime"
echo "$build"
