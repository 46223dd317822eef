"""A real local control plane on 127.0.0.1: etcd, kube-apiserver, controller-manager, scheduler
and kwok with one fake node, so Deployments get Running/Ready pods without a kubelet.

Used by `make cluster-up` (detached, state in .cluster/) and by the pytest session fixture.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import ssl
import subprocess
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.cluster.build import ensure_binaries
from tests.cluster.processes import Service, free_port, reap, spawn, stop, wait_until

FAKE_NODE = "kwok-node-0"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
CONTROLLERS = (
    "deployment-controller", "replicaset-controller", "garbage-collector-controller",
    "namespace-controller", "serviceaccount-controller", "endpointslice-controller",
)
STATE_FILE = "state.json"


@dataclass
class ControlPlane:
    workdir: Path
    server: str
    token: str
    services: list[Service] = field(default_factory=list)

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    def save(self) -> None:
        state = {"server": self.server, "token": self.token,
                 "services": [{**asdict(s), "log": str(s.log)} for s in self.services]}
        (self.workdir / STATE_FILE).write_text(json.dumps(state, indent=2))

    @classmethod
    def load(cls, workdir: Path) -> ControlPlane | None:
        try:
            state = json.loads((workdir / STATE_FILE).read_text())
        except (OSError, ValueError):
            return None
        services = [Service(s["name"], s["pid"], Path(s["log"])) for s in state["services"]]
        return cls(workdir=workdir, server=state["server"], token=state["token"],
                   services=services)

    def healthy(self) -> bool:
        return all(s.alive() for s in self.services) and _apiserver_ready(self.server, self.token)

    def stop(self) -> None:
        for service in self.services:  # a frozen process would not take SIGTERM
            self.signal(service.name, signal.SIGCONT)
        stop(self.services)
        (self.workdir / STATE_FILE).unlink(missing_ok=True)

    # --- faults, for the tests that inject them (each on a control plane of its own) --------

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def signal(self, name: str, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.service(name).pid, signum)

    def kill(self, name: str) -> None:
        """SIGKILL `name` and wait until it is gone."""
        service = self.service(name)
        self.signal(name, signal.SIGKILL)
        wait_until(lambda: not service.alive() or reap(service.pid), f"{name} to exit", 30)

    def restart(self, name: str) -> None:
        """Start a killed `name` again, as it was started (same ports, same data)."""
        old = self.service(name)
        new = spawn(old.name, old.args, old.log.parent, old.env)
        self.services[self.services.index(old)] = new

    def apiserver_ready(self) -> bool:
        return _apiserver_ready(self.server, self.token)


def _log(message: str) -> None:
    print(f"[controlplane] {message}", flush=True)


def _insecure_context() -> ssl.SSLContext:
    # The apiserver serves a self-signed certificate on loopback only.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _http_ok(url: str, token: str | None = None) -> bool:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    context = _insecure_context() if url.startswith("https") else None
    with urllib.request.urlopen(request, timeout=2, context=context) as response:
        return bool(response.status == 200)


def _apiserver_ready(server: str, token: str) -> bool:
    try:
        return _http_ok(f"{server}/readyz", token)
    except OSError:
        return False


def _write_kubeconfig(path: Path, server: str, token: str) -> None:
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: local\n  cluster:\n    server: {server}\n"
        "    insecure-skip-tls-verify: true\n"
        f"users:\n- name: admin\n  user:\n    token: {token}\n"
        "contexts:\n- name: local\n  context:\n    cluster: local\n    user: admin\n"
        "    namespace: default\ncurrent-context: local\n"
    )
    path.chmod(0o600)


def _service_account_keys(pki: Path) -> tuple[Path, Path]:
    key, public = pki / "sa.key", pki / "sa.pub"
    if not key.exists():
        subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True,
                       capture_output=True)
        subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(public)],
                       check=True, capture_output=True)
    return key, public


def start(workdir: Path, timeout: float = 120.0) -> ControlPlane:
    """Start every component, wait until a fake node is Ready, and return the handle."""
    started = time.monotonic()
    binaries = ensure_binaries()
    workdir.mkdir(parents=True, exist_ok=True)
    logs, pki, data = workdir / "logs", workdir / "pki", workdir / "etcd"
    pki.mkdir(exist_ok=True)
    token = secrets.token_hex(16)
    (pki / "tokens.csv").write_text(f'{token},admin,admin,"system:masters"\n')
    sa_key, sa_pub = _service_account_keys(pki)
    etcd_port, etcd_peer, api_port = free_port(), free_port(), free_port()
    server = f"https://127.0.0.1:{api_port}"
    plane = ControlPlane(workdir=workdir, server=server, token=token)
    try:
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        plane.services.append(spawn("etcd", [
            str(binaries / "etcd"), "--name=local", f"--data-dir={data}",
            f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-cluster=local=http://127.0.0.1:{etcd_peer}",
            "--unsafe-no-fsync", "--log-level=warn",
        ], logs))
        wait_until(lambda: _http_ok(f"{etcd_url}/health"), "etcd", timeout, plane.services)
        plane.services.append(spawn("kube-apiserver", [
            str(binaries / "kube-apiserver"), f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1", f"--secure-port={api_port}",
            "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
            f"--cert-dir={pki}", f"--token-auth-file={pki / 'tokens.csv'}",
            "--authorization-mode=RBAC", "--allow-privileged=true",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={sa_pub}",
            f"--service-account-signing-key-file={sa_key}",
            "--service-cluster-ip-range=10.96.0.0/16",
            # No kubelet: nothing would lift the not-ready taint that TaintNodesByCondition adds.
            "--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
        ], logs))
        wait_until(lambda: _apiserver_ready(server, token), "kube-apiserver /readyz", timeout,
                   plane.services)
        _write_kubeconfig(plane.kubeconfig, server, token)
        (workdir / "bin").mkdir(exist_ok=True)
        (workdir / "bin" / "kubectl").symlink_to(binaries / "kubectl")
        kubeconfig = str(plane.kubeconfig)
        plane.services.append(spawn("kube-controller-manager", [
            str(binaries / "kube-controller-manager"), f"--kubeconfig={kubeconfig}",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
            f"--controllers={','.join(CONTROLLERS)}",
            f"--service-account-private-key-file={sa_key}",
            "--concurrent-gc-syncs=5",
            # The default 20 requests/s paces a thousand Deployments to minutes (the bench).
            "--kube-api-qps=200", "--kube-api-burst=400",
        ], logs))
        plane.services.append(spawn("kube-scheduler", [
            str(binaries / "kube-scheduler"), f"--kubeconfig={kubeconfig}",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
        ], logs))
        plane.services.append(spawn("kwok", [
            str(binaries / "kwok"), f"--kubeconfig={kubeconfig}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
            f"--server-address=127.0.0.1:{free_port()}",
        ], logs))
        _create_fake_node(kubeconfig, binaries / "kubectl")
        wait_until(lambda: _node_ready(kubeconfig, binaries / "kubectl"), "the kwok node Ready",
                   timeout, plane.services)
    except BaseException:
        plane.stop()
        raise
    plane.save()
    _log(f"ready in {time.monotonic() - started:.1f}s: {server}, kubeconfig {plane.kubeconfig}")
    return plane


_NODE_MANIFEST = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {
        "name": FAKE_NODE,
        "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
        "labels": {"kubernetes.io/hostname": FAKE_NODE, "kubernetes.io/os": "linux",
                   "kubernetes.io/arch": "amd64", "type": "kwok"},
    },
    "status": {
        "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "5000"},
        "capacity": {"cpu": "64", "memory": "256Gi", "pods": "5000"},
    },
}


def install_crds(kubeconfig: Path, crd_dir: Path, timeout: float = 60.0) -> None:
    """Server-side apply every CRD in `crd_dir` and wait until the API serves them."""
    kubectl = ensure_binaries() / "kubectl"
    _kubectl(kubectl, str(kubeconfig), "apply", "--server-side", "--force-conflicts",
             "--field-manager=modelrollout-tests", "-f", str(crd_dir))
    _kubectl(kubectl, str(kubeconfig), "wait", "--for=condition=Established",
             f"--timeout={int(timeout)}s", "-f", str(crd_dir))


def _kubectl(kubectl: Path, kubeconfig: str, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run([str(kubectl), f"--kubeconfig={kubeconfig}", *args], input=stdin,
                            capture_output=True, text=True, check=True)
    return result.stdout


def _create_fake_node(kubeconfig: str, kubectl: Path) -> None:
    _kubectl(kubectl, kubeconfig, "apply", "-f", "-", stdin=json.dumps(_NODE_MANIFEST))


def _node_ready(kubeconfig: str, kubectl: Path) -> bool:
    jsonpath = '{.status.conditions[?(@.type=="Ready")].status}'
    return _kubectl(kubectl, kubeconfig, "get", "node", FAKE_NODE,
                    f"-o=jsonpath={jsonpath}").strip() == "True"
