# Sourced by image/*.sh: buildah and podman with the flags that work on the project's machines
# (root in a VM, no Docker engine, no container registry, cgroup v1 with a cgroup v2 mount
# beside it, and no CAP_SYS_RESOURCE):
# - a storage of the project's own under ~/.cache/modelrollout/containers, so that the bases and
#   the build's layer cache survive between runs and nothing else's images are touched; the
#   overlay driver works here (ext4), IMAGE_STORAGE_DRIVER=vfs is the fallback where it does not;
# - `buildah bud --isolation chroot`: RUN steps need no OCI runtime and use the host's network;
# - `podman run --runtime runc` (crun 1.8 refuses this cgroup layout: "cgroups in hybrid mode not
#   supported") and rlimits no higher than podman's own (podman asks for 1048576 open files by
#   default, and setrlimit fails without CAP_SYS_RESOURCE).
# shellcheck shell=bash
MODELROLLOUT_CACHE="${MODELROLLOUT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelrollout}"
IMAGE_STORAGE_ROOT="${IMAGE_STORAGE_ROOT:-$MODELROLLOUT_CACHE/containers/storage}"
IMAGE_STORAGE_RUNROOT="${IMAGE_STORAGE_RUNROOT:-/run/modelrollout-containers}"
IMAGE_STORAGE_DRIVER="${IMAGE_STORAGE_DRIVER:-overlay}"
storage_flags=(--root "$IMAGE_STORAGE_ROOT" --runroot "$IMAGE_STORAGE_RUNROOT"
               --storage-driver "$IMAGE_STORAGE_DRIVER")

buildah_() { buildah "${storage_flags[@]}" "$@"; }

podman_() {
  podman "${storage_flags[@]}" --runtime "${IMAGE_RUNTIME:-runc}" --cgroup-manager cgroupfs \
    --tmpdir "$IMAGE_STORAGE_RUNROOT/libpod" --events-backend file "$@"
}

# For `podman_ run`: the open-files and process limits this shell has, capped at podman's own.
run_limits() {
  local nofile nproc
  nofile="$(ulimit -Hn)"; [ "$nofile" = unlimited ] && nofile=1048576
  nproc="$(ulimit -Hu)"; [ "$nproc" = unlimited ] && nproc=32768
  ((nproc > 32768)) && nproc=32768
  printf '%s\n' --ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc"
}

if [ "$(id -u)" -ne 0 ]; then
  echo "image: run as root (debootstrap, and buildah and podman with these flags, need it)" >&2
  exit 1
fi

need() {
  local missing=()
  for tool in "$@"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  if ((${#missing[@]})); then
    echo "image: missing ${missing[*]} (bash .ci/system-deps installs them)" >&2
    exit 1
  fi
}
