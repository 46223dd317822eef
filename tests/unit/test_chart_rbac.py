"""The Helm chart's RBAC: least privilege, no wildcards, no Secrets, exactly the calls the
operator makes, cluster-wide or per watched namespace. helm is built from source (cached)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.chart import EVERYTHING, by_kind, documents, env_of, one, render
from tests.cluster.helm import ensure_helm

pytestmark = pytest.mark.unit


@pytest.fixture(scope="session")
def helm() -> Path:
    """helm from the Go module proxy; a failed build fails the tests with helm's error."""
    return ensure_helm()


def operator_roles(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in ("ClusterRole", "Role")]


def operator_rules(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    [role] = by_kind(docs, "ClusterRole")
    rules: list[dict[str, Any]] = role["rules"]
    return rules


def grants(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(group, resource, verb) for rule in rules for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


@pytest.mark.parametrize("values", [{}, EVERYTHING], ids=["defaults", "everything"])
def test_rbac_has_no_wildcards_and_reads_no_secrets(helm: Path, values: dict[str, Any]) -> None:
    docs = documents(render(helm, values))
    roles = operator_roles(docs)
    assert roles
    for role in roles:
        for group, resource, verb in grants(role["rules"]):
            assert "*" not in (group, resource, verb), role["metadata"]["name"]
            # The routers' admin tokens are created once (their metadata patched when a new
            # rollout of the same name takes them over); no Secret is ever read.
            assert resource.split("/")[0] != "secrets" or verb in ("create", "patch")
        assert all("resourceNames" not in rule for rule in role["rules"])


@pytest.mark.parametrize("values", [{}, EVERYTHING], ids=["cluster-wide", "namespaced"])
def test_every_rule_carries_a_comment(helm: Path, values: dict[str, Any]) -> None:
    text = render(helm, values)
    roles = [part for part in text.split("\n---\n")
             if re.search(r"^kind: (Cluster)?Role$", part, re.M)]
    assert len(roles) == (len(values.get("watchNamespaces", [])) or 1)
    for role in roles:
        lines = role.splitlines()
        rules = [i for i, line in enumerate(lines) if line.startswith("- apiGroups:")]
        assert rules
        for index in rules:
            assert lines[index - 1].startswith("#"), f"rule without a comment: {lines[index]}"


NAMESPACED = {
    ("rollouts.mlops.dev", "modelrollouts", verb) for verb in ("get", "list", "watch", "patch")
} | {
    ("rollouts.mlops.dev", "modelrollouts/status", "update"),
    ("rollouts.mlops.dev", "modelrollouts/finalizers", "update"),
    ("apps", "deployments/scale", "patch"),
    ("", "events", "create"),
} | {("apps", "deployments", v) for v in ("list", "watch", "create", "patch", "delete")} | {
    ("", "services", v) for v in ("list", "create", "patch", "delete")} | {
    ("", "configmaps", v) for v in ("get", "list", "watch", "create", "patch")} | {
    ("", "secrets", "create"), ("", "secrets", "patch"),
    ("networking.k8s.io", "networkpolicies", "create"),
    ("networking.k8s.io", "networkpolicies", "patch")}
# What the operator grants each router (its Role <name>-router), and so must hold itself, and
# the objects that grant it.
ROUTER_ACCESS = {
    (group, resource, verb) for group, resource in (
        ("", "serviceaccounts"), ("rbac.authorization.k8s.io", "roles"),
        ("rbac.authorization.k8s.io", "rolebindings")) for verb in ("create", "patch")}
CRDS = {("apiextensions.k8s.io", "customresourcedefinitions", "list"),
        ("apiextensions.k8s.io", "customresourcedefinitions", "watch")}
ROUTES = {("gateway.networking.k8s.io", "httproutes", "get"),
          ("gateway.networking.k8s.io", "httproutes", "patch"),
          ("networking.istio.io", "virtualservices", "get"),
          ("networking.istio.io", "virtualservices", "patch")}


def test_cluster_wide_rules_are_exactly_what_it_calls(helm: Path) -> None:
    docs = documents(render(helm, {}))
    assert grants(operator_rules(docs)) == NAMESPACED | ROUTER_ACCESS | CRDS
    assert not by_kind(docs, "Role")
    assert not by_kind(docs, "RoleBinding")
    [binding] = by_kind(docs, "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "mro-modelrollout",
                                    "namespace": "modelrollout-system"}]
    routes = documents(render(helm, {"rbac": {"gatewayAPI": True, "istio": True}}))
    assert grants(operator_rules(routes)) == NAMESPACED | ROUTER_ACCESS | CRDS | ROUTES


def test_watch_namespaces_give_a_role_per_namespace_and_nothing_cluster_wide(
        helm: Path) -> None:
    docs = documents(render(helm, EVERYTHING))
    assert not [d for d in docs if d["kind"].startswith("Cluster")]
    assert all(d["metadata"].get("namespace") for d in docs), "every object is namespaced"
    roles = {d["metadata"]["namespace"]: d for d in by_kind(docs, "Role")}
    bindings = {d["metadata"]["namespace"]: d for d in by_kind(docs, "RoleBinding")}
    assert set(roles) == set(bindings) == {"team-a", "team-b"}
    for namespace, role in roles.items():
        # no namespaces, no CRDs: kopf serves the named namespaces without scanning
        assert grants(role["rules"]) == NAMESPACED | ROUTER_ACCESS | ROUTES
        assert bindings[namespace]["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
            "name": role["metadata"]["name"]}
        assert bindings[namespace]["subjects"] == [{
            "kind": "ServiceAccount", "name": "mro-modelrollout",
            "namespace": "modelrollout-system"}]


def test_a_user_managed_router_account_needs_no_rbac_rights(helm: Path) -> None:
    """With router.serviceAccountName the operator creates no Role, so it holds no rights to
    create one, nor list/watch on ConfigMaps (docs/helm.md)."""
    values = {"router": {"serviceAccountName": "shared-routers"}}
    docs = documents(render(helm, values))
    assert grants(operator_rules(docs)) == NAMESPACED | CRDS
    assert env_of(helm, values)["MODELROLLOUT_ROUTER_SERVICE_ACCOUNT"] == "shared-routers"
    namespaced = documents(render(helm, {**values, "watchNamespaces": ["team-a"]}))
    assert grants(one(namespaced, "Role")["rules"]) == NAMESPACED


def test_the_chart_has_no_router_rbac_of_its_own(helm: Path) -> None:
    """Routers get a ServiceAccount, Role and RoleBinding per rollout from the operator."""
    docs = documents(render(helm, EVERYTHING))
    assert [d["metadata"]["name"] for d in by_kind(docs, "ServiceAccount")] == [
        "mro-modelrollout"]
    assert not [d for d in docs if d["metadata"]["name"].endswith("-router")]
