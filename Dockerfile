# One image for the ModelRollout operator, the model router and the model server.
#
#   docker build -t modelrollout/modelrollout:0.1.0 .
#   docker run IMAGE operator --log-format json      # python -m controller
#   docker run IMAGE router --table-file /t.json     # python -m controller.router
#   docker run IMAGE modelserver ...                 # python -m controller.modelserver
#   docker run IMAGE python -m controller ...        # any command runs as given
#
# Runs as uid 10001 and writes nothing outside /tmp, so it works with a read-only root
# filesystem (mount an emptyDir at /tmp, as the Helm chart does).
# Pin the base by digest for reproducible builds:
#   --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<digest>
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# The router's request path is compiled to C with mypyc (pyproject.toml, hook `mypyc`): 1.2-1.4x
# its interpreted throughput (bench/router_vs_nginx.py).  A C compiler for this stage only.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HATCH_BUILD_HOOKS_ENABLE=1
# Extras of the package: `modelserver` (scikit-learn, joblib) makes this image the model
# server's too; pip only warns if the package has no such extra. Never `dev`.
ARG EXTRAS=modelserver
WORKDIR /src
COPY pyproject.toml README.md ./
COPY controller ./controller
# A virtualenv copied whole into the runtime stage; its .pyc files are compiled here, once,
# because the runtime filesystem is read-only.
RUN python -m venv /opt/modelrollout \
 && /opt/modelrollout/bin/pip install ".${EXTRAS:+[$EXTRAS]}" \
 && /opt/modelrollout/bin/python -m compileall -q /opt/modelrollout

FROM ${PYTHON_IMAGE}
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
