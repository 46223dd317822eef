#!/usr/bin/env bash
# `make image`: build the Dockerfile with buildah, no Docker engine, on the local bases of
# image/base.sh, into the project's container storage (image/containers.sh), tagged IMAGE.
#   bash image/build.sh [IMAGE]      # default localhost/modelrollout:dev
# The build's layer cache is kept, so a second run with the same sources and locks is quick, and
# a change of sources alone rebuilds from the package's wheel on (about a minute and a half).
set -euo pipefail
cd "$(dirname "$0")/.."
source image/containers.sh
need buildah
image="${1:-localhost/modelrollout:dev}"
mapfile -t bases < <(bash image/base.sh)
runtime="${bases[0]}" build="${bases[1]}"
# A TLS-intercepting proxy's CA (as on the project's machines, where the package index is
# reached through one): the RUN steps see the host's CA bundle in place of the base's, which pip
# trusts (PIP_CERT in the Dockerfile). Bind-mounted over a file the bases have, for those steps
# only, so it enters no layer. The bundle: IMAGE_CA_BUNDLE, else pip's or OpenSSL's setting, else
# the host's system bundle; IMAGE_CA_BUNDLE= (empty) keeps the base's own.
volumes=()
ca="${IMAGE_CA_BUNDLE-${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}}"
if [ -n "$ca" ] && [ -f "$ca" ]; then
  volumes+=(--volume "$(realpath "$ca"):/etc/ssl/certs/ca-certificates.crt:ro")
fi
# The image's timestamps are the last commit's, not the build's (reproducible metadata).
epoch="$(git log -1 --format=%ct 2>/dev/null || echo 0)"
echo "[image/build] $image on $runtime (build stage on $build)" >&2
bud=(buildah_ bud --isolation chroot --layers --pull-never --timestamp "$epoch" "${volumes[@]}"
     --build-arg "BASE_IMAGE=$runtime" --build-arg "BUILD_BASE_IMAGE=$build" --file Dockerfile)
# The build stage tagged too ($image-build): then pruning the untagged images keeps the layer
# cache of both stages and drops only what older builds left (~0.5 GB per change of sources).
"${bud[@]}" --target build --tag "$image-build" .
"${bud[@]}" --tag "$image" .
buildah_ rmi --prune >/dev/null
