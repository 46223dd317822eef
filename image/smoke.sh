#!/usr/bin/env bash
# Run the built image's entrypoints once, as Kubernetes would run them (its own user, a
# read-only root with a tmpfs /tmp), with podman:
#   - `python -m controller --help`, `python -m controller.router --help`, the model server's and
#     the kubectl plugin's --help;
#   - the router's request path is the mypyc build, and the processes run as uid 10001;
#   - `router --listen 127.0.0.1:0 --admin 127.0.0.1:PORT --table-file ...` starts, /readyz on
#     its admin port answers 200 with the table loaded, and SIGTERM stops it with status 0.
#   bash image/smoke.sh [IMAGE]      # default localhost/modelrollout:dev
# Host networking: the router binds loopback only; the sandbox has no container network.
set -euo pipefail
cd "$(dirname "$0")/.."
source image/containers.sh
need podman runc
image="${1:-localhost/modelrollout:dev}"
mapfile -t limits < <(run_limits)
run=(podman_ run --rm --pull never --network host --read-only "${limits[@]}")

step() { echo "[image/smoke] $*" >&2; }
first_line() { local out; out="$("$@")"; echo "${out%%$'\n'*}"; }

step "python -m controller --help"
first_line "${run[@]}" "$image" python -m controller --help
step "python -m controller.router --help"
first_line "${run[@]}" "$image" python -m controller.router --help
step "modelserver --help"
first_line "${run[@]}" "$image" modelserver --help
step "kubectl-modelrollout --help"
first_line "${run[@]}" "$image" kubectl-modelrollout --help

step "the router's request path is compiled; the user is 10001"
"${run[@]}" "$image" python -c '
import os
import controller.router.server as server, controller.router.proxy as proxy
assert os.getuid() == 10001, os.getuid()
for module in (server, proxy):
    assert module.__file__.endswith(".so"), module.__file__
    print(module.__name__, "->", module.__file__.rsplit("/", 1)[-1])'

work="$(mktemp -d "${TMPDIR:-/tmp}/modelrollout-smoke.XXXXXX")"
name="modelrollout-smoke-$$"
cleanup() {
  podman_ rm --force --time 0 "$name" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work"
printf '%s\n' '{"version": 1, "salt": "smoke", "stable": {"backends": ["127.0.0.1:9"]}}' \
  >"$work/table.json"
chmod 644 "$work/table.json"
admin_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

step "router --listen 127.0.0.1:0 --admin 127.0.0.1:$admin_port --table-file (a small table)"
podman_ run --detach --name "$name" --pull never --network host --read-only "${limits[@]}" \
  --volume "$work:/config:ro" "$image" \
  router --listen 127.0.0.1:0 --admin "127.0.0.1:$admin_port" --table-file /config/table.json \
  >/dev/null
# From the host, past any proxy the environment names: the router is on loopback.
probe='
import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
with opener.open(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=2) as answer:
    print(answer.status, answer.read().decode())'
ready=""
for _ in $(seq 1 120); do
  ready="$(python3 -c "$probe" "$admin_port" 2>/dev/null)" && break
  ready=""
  [ "$(podman_ inspect --format '{{.State.Running}}' "$name" 2>/dev/null)" = true ] || break
  sleep 0.5
done
if [ -z "$ready" ]; then
  step "the router did not become ready; its log:"
  podman_ logs "$name" >&2 || true
  exit 1
fi
echo "GET /readyz -> $ready"
podman_ stop --time 20 "$name" >/dev/null
status="$(podman_ inspect --format '{{.State.ExitCode}}' "$name")"
podman_ logs "$name" 2>&1 | sed 's/^/  router: /'
echo "stopped with SIGTERM, exit status $status"
[ "$status" = 0 ]
step "ok"
