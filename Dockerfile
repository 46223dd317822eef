# One image for the ModelRollout operator, the model router and the model server.
#
#   make image                                       # buildah, no Docker engine (README, Image)
#   docker build -t modelrollout/modelrollout:0.1.0 .
#   docker run IMAGE operator --log-format json      # python -m controller
#   docker run IMAGE router --table-file /t.json     # python -m controller.router
#   docker run IMAGE modelserver ...                 # python -m controller.modelserver
#   docker run IMAGE python -m controller ...        # any command runs as given
#
# Runs as uid 10001 and writes nothing outside /tmp, so it works with a read-only root
# filesystem (mount an emptyDir at /tmp, as the Helm chart does).
#
# Reproducible inputs: the base by digest, every Python package by version and sha256 from the
# lock files (image/*.lock, made from pyproject.toml by `make image-lock`), installed with
# --require-hashes and without resolving anything.
#
# BASE_IMAGE: python:3.11-slim-bookworm for linux/amd64 (the locks are for linux x86_64), by its
# platform manifest digest: Python 3.11.16 of 25 Aug 2026, as recorded by the official images'
# own docker-library/repo-info (repos/python/remote/3.11-slim-bookworm.md). To move it, on a
# machine that reaches the registry:
#   skopeo inspect --raw docker://docker.io/library/python:3.11-slim-bookworm | python3 -c \
#     'import json, sys; print(next(m["digest"] for m in json.load(sys.stdin)["manifests"]
#      if m["platform"]["os"] == "linux" and m["platform"]["architecture"] == "amd64"))'
# `make image` builds from local bases instead (Debian bookworm made with debootstrap,
# image/base.sh): --build-arg BASE_IMAGE=localhost/modelrollout-base:... and
# BUILD_BASE_IMAGE=localhost/modelrollout-build-base:... (the same plus gcc and python3-dev).
# Both stages must share one Python (the virtualenv is copied from one to the other).
ARG BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm@sha256:2fc9207f64226cb05ac317cee0bab6fa55a9ea311ce5a086baddd4b4a83c2d3c
ARG BUILD_BASE_IMAGE=${BASE_IMAGE}

FROM ${BUILD_BASE_IMAGE} AS build
# The router's request path is compiled to C with mypyc (pyproject.toml, hook `mypyc`): 1.2-1.4x
# its interpreted throughput (bench/router_vs_nginx.py). A C compiler for this stage only: the
# local build base has it already, the public base gets it here.
RUN if ! command -v gcc >/dev/null; then \
      apt-get update \
      && apt-get install -y --no-install-recommends gcc libc6-dev \
      && rm -rf /var/lib/apt/lists/*; \
    fi
# pip trusts the system's CA bundle (ca-certificates), not the one it bundles.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    HATCH_BUILD_HOOKS_ENABLE=1
WORKDIR /src
# The build tools (pip itself, hatchling, hatch-mypyc, mypy, setuptools) in a virtualenv of
# their own, all from the lock.
COPY image/build-requirements.lock image/requirements.lock ./image/
RUN python3 -m venv /opt/build \
 && /opt/build/bin/pip install --require-hashes --no-deps --only-binary :all: \
      -r image/build-requirements.lock
# The runtime virtualenv, copied whole into the runtime stage: the locked dependencies (the
# package's and its `modelserver` extra's, never `dev`), without pip or setuptools. Their .pyc
# files are compiled here, once, because the runtime filesystem is read-only: hash-based and
# unchecked, so they stay valid whatever the files' mtimes (buildah --timestamp resets them)
# and nothing reads a source to check them; the image never changes its sources.
RUN python3 -m venv --without-pip /opt/modelrollout \
 && /opt/build/bin/pip --python /opt/modelrollout/bin/python install --require-hashes \
      --no-deps --only-binary :all: --no-compile -r image/requirements.lock \
 && /opt/modelrollout/bin/python -m compileall -q --invalidation-mode unchecked-hash \
      /opt/modelrollout
COPY pyproject.toml README.md ./
COPY controller ./controller
# The package's wheel, built with the locked tools (no build isolation: nothing unpinned is
# fetched), then installed without its dependencies: they are the lock's; `pip check` proves the
# lock complete. Then the package's own .pyc files, as above.
RUN /opt/build/bin/pip wheel --no-build-isolation --no-deps --wheel-dir /tmp/wheels . \
 && /opt/build/bin/pip --python /opt/modelrollout/bin/python install --no-deps --no-index \
      --no-compile /tmp/wheels/modelrollout-*.whl \
 && /opt/build/bin/pip --python /opt/modelrollout/bin/python check \
 && /opt/modelrollout/bin/python -m compileall -q --invalidation-mode unchecked-hash \
      /opt/modelrollout/lib/python3.*/site-packages/controller

FROM ${BASE_IMAGE}
RUN groupadd --system --gid 10001 modelrollout \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
      --shell /usr/sbin/nologin modelrollout
COPY --from=build /opt/modelrollout /opt/modelrollout
COPY docker/entrypoint.sh /usr/local/bin/modelrollout-entrypoint
ENV PATH=/opt/modelrollout/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp
WORKDIR /tmp
# Numeric, so that Kubernetes can verify runAsNonRoot.
USER 10001:10001
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/modelrollout-entrypoint"]
CMD ["operator"]
