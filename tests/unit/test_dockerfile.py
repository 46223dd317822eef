"""Fast checks of the Dockerfile, parsed for what matters, and of its entrypoint script, run
against a stand-in `python`. `make image` builds the image itself with buildah (no Docker engine)
and runs its entrypoints; CI does it once per run (.ci/run)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
ENTRYPOINT = REPO / "docker" / "entrypoint.sh"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (REPO / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def arg_defaults() -> dict[str, str]:
    """The global ARG defaults, each with the ARGs before it substituted."""
    defaults: dict[str, str] = {}
    for keyword, rest in instructions():
        if keyword == "FROM":
            break
        if keyword == "ARG" and "=" in rest:
            name, value = rest.split("=", 1)
            defaults[name] = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], value)
    return defaults


def test_base_images_are_pinned_python_311_slim_by_digest() -> None:
    steps = instructions()
    args = arg_defaults()
    images = [rest.split()[0] for keyword, rest in steps if keyword == "FROM"]
    assert images == ["${BUILD_BASE_IMAGE}", "${BASE_IMAGE}"]
    for image in images:
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        name, _, digest = resolved.partition("@")
        assert name == "docker.io/library/python:3.11-slim-bookworm", resolved
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), resolved
    # both stages on one base by default: the virtualenv moves between them
    assert args["BUILD_BASE_IMAGE"] == args["BASE_IMAGE"]


def test_runtime_runs_as_a_numeric_non_root_user() -> None:
    users = [rest for keyword, rest in final_stage() if keyword == "USER"]
    assert users, "the final stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), "USER must be a numeric uid (runAsNonRoot checks it)"
    assert int(uid) != 0, "USER must not be root"


def test_runtime_environment_suits_a_read_only_root() -> None:
    env = " ".join(rest for keyword, rest in final_stage() if keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "HOME=/tmp" in env
    assert "TMPDIR=/tmp" in env


def test_installs_the_package_without_dev_dependencies() -> None:
    runs = " ".join(rest for keyword, rest in instructions() if keyword == "RUN")
    assert "-r image/requirements.lock" in runs  # the runtime lock (tests/unit/test_image_lock.py)
    # the package's own wheel, without dependencies: they are the lock's
    assert re.search(r"install --no-deps --no-index\s+--no-compile\s+"
                     r"/tmp/wheels/modelrollout-\*\.whl", runs)
    pip = " ".join(part for part in runs.split("&&") if "pip " in part)
    assert not re.search(r"\bdev\b", pip), "no `dev` extra, no dev requirements"
    assert "-e " not in runs
    assert not [rest for keyword, rest in instructions() if keyword == "ARG"
                and rest.startswith("EXTRAS=")], "the lock decides what is installed"


def test_entrypoint_is_exec_form() -> None:
    [entrypoint] = [rest for keyword, rest in final_stage() if keyword == "ENTRYPOINT"]
    assert entrypoint == '["/usr/local/bin/modelrollout-entrypoint"]'
    assert ("CMD", '["operator"]') in final_stage()


def test_dockerignore_admits_exactly_what_the_build_copies() -> None:
    allowed = [line[1:].rstrip("/") for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.startswith("!")]
    copied = [source for keyword, rest in instructions() if keyword == "COPY"
              and not rest.startswith("--from") for source in rest.split()[:-1]]
    assert sorted(copied) == sorted(allowed)
    for source in copied:
        assert (REPO / source).exists(), source


@pytest.fixture
def fake_python(tmp_path: Path) -> dict[str, str]:
    """A `python` that prints its arguments, first on PATH."""
    python = tmp_path / "python"
    python.write_text('#!/bin/sh\necho "python $*"\n')
    python.chmod(0o755)
    return {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}


def entrypoint(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(ENTRYPOINT), *args], env=env, capture_output=True,
                          text=True, check=False, timeout=30)


@pytest.mark.parametrize(("args", "expected"), [
    ((), "python -m controller"),
    (("operator", "--log-format", "json"), "python -m controller --log-format json"),
    (("router", "--table-file", "/t.json"), "python -m controller.router --table-file /t.json"),
    (("modelserver", "--port", "8080"), "python -m controller.modelserver --port 8080"),
    (("python", "-m", "controller", "--help"), "python -m controller --help"),
])
def test_entrypoint_dispatches_components(fake_python: dict[str, str], args: tuple[str, ...],
                                          expected: str) -> None:
    result = entrypoint(fake_python, *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_entrypoint_refuses_flags_without_a_component(fake_python: dict[str, str]) -> None:
    result = entrypoint(fake_python, "--listen", "0.0.0.0:8080")
    assert result.returncode == 64
    assert "name the component first" in result.stderr


def test_entrypoint_is_executable() -> None:
    assert os.access(ENTRYPOINT, os.X_OK)


def test_the_image_compiles_the_router_in_its_build_stage_only() -> None:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    build, final = steps[:last_from], steps[last_from:]
    assert any(keyword == "ENV" and "HATCH_BUILD_HOOKS_ENABLE=1" in rest
               for keyword, rest in build)
    assert any(keyword == "RUN" and " gcc " in f" {rest} " for keyword, rest in build)
    assert not any("gcc" in rest or "HATCH_BUILD_HOOKS_ENABLE" in rest for _, rest in final)
