"""The image's lock files agree with pyproject.toml, and the Dockerfile installs only from them.

Offline: the locks are read as text and checked against the declared requirements; whether a
lock is closed under its packages' own dependencies is checked by the build (`pip check` after
`--no-deps` installs), and `make image-lock` regenerates both from pyproject.toml.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.unit.test_dockerfile import instructions

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
RUNTIME_LOCK = REPO / "image" / "requirements.lock"
BUILD_LOCK = REPO / "image" / "build-requirements.lock"
BUILD_INPUT = REPO / "image" / "build-requirements.in"
# The image's platform: the locks are resolved for it (image/lock.sh).
IMAGE_ENVIRONMENT = {"python_version": "3.11", "python_full_version": "3.11.2",
                     "sys_platform": "linux", "platform_system": "Linux",
                     "platform_machine": "x86_64", "os_name": "posix",
                     "implementation_name": "cpython", "platform_python_implementation": "CPython"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")
HASH = re.compile(r"--hash=sha256:([0-9a-f]+)")


def pyproject() -> dict[str, Any]:
    with (REPO / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def read_lock(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, sha256 hashes); each entry is `name==version \\` + hash lines."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current: str | None = None
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            assert current not in entries, f"{path.name}: {current} pinned twice"
            entries[current] = (match.group(2), [])
            continue
        assert current, f"{path.name}: a hash before any pin: {line!r}"
        assert line.startswith(" "), f"{path.name}: not a pin or a hash: {line!r}"
        entries[current][1].extend(HASH.findall(line))
    return entries


def runtime_requirements() -> list[Requirement]:
    project = pyproject()["project"]
    return [Requirement(r) for r in
            [*project["dependencies"], *project["optional-dependencies"]["modelserver"]]]


def build_requirements() -> list[Requirement]:
    config = pyproject()
    hook = config["tool"]["hatch"]["build"]["targets"]["wheel"]["hooks"]["mypyc"]
    return [Requirement(r) for r in ["pip", *config["build-system"]["requires"],
                                     *hook["dependencies"]]]


def assert_satisfied(lock: Path, requirements: list[Requirement]) -> None:
    entries = read_lock(lock)
    for requirement in requirements:
        if requirement.marker and not requirement.marker.evaluate(IMAGE_ENVIRONMENT):
            continue
        name = canonicalize_name(requirement.name)
        assert name in entries, f"{requirement} is not in {lock.name}: run `make image-lock`"
        version = entries[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock.name} pins {name}=={version}, outside {requirement}: run `make image-lock`")


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, BUILD_LOCK], ids=lambda p: p.name)
def test_every_locked_package_is_pinned_with_sha256_hashes(lock: Path) -> None:
    entries = read_lock(lock)
    assert entries
    for name, (version, hashes) in entries.items():
        assert hashes, f"{lock.name}: {name}=={version} has no hash"
        assert all(len(h) == 64 for h in hashes), f"{lock.name}: {name}: a bad sha256"
    assert "make image-lock" in lock.read_text().split("\n", 3)[1], "say how it is regenerated"


def test_the_runtime_lock_has_every_runtime_dependency_and_no_dev_tool() -> None:
    assert_satisfied(RUNTIME_LOCK, runtime_requirements())
    entries = read_lock(RUNTIME_LOCK)
    dev = {canonicalize_name(Requirement(r).name)
           for r in pyproject()["project"]["optional-dependencies"]["dev"]}
    dev -= {canonicalize_name(r.name) for r in runtime_requirements()}
    dev.discard("modelrollout")
    assert not dev & entries.keys(), f"dev tools in the runtime lock: {dev & entries.keys()}"
    assert "modelrollout" not in entries  # the package itself is built from the checkout


def test_the_build_lock_has_the_build_backend_and_the_mypyc_hook() -> None:
    assert_satisfied(BUILD_LOCK, build_requirements())
    # hatch-mypyc drives setuptools; without build isolation it must come from the lock too
    assert "setuptools" in read_lock(BUILD_LOCK)


def test_the_build_input_is_what_pyproject_names() -> None:
    lines = [line.split("#")[0].strip() for line in BUILD_INPUT.read_text().splitlines()]
    assert [line for line in lines if line] == [str(r) for r in build_requirements()]


def test_the_dockerfile_installs_only_from_the_locks_with_hashes() -> None:
    runs = [rest for keyword, rest in instructions() if keyword == "RUN"]
    installs = [segment for run in runs for segment in run.split("&&") if " install " in segment
                and "pip" in segment and "apt-get" not in segment]
    locked = [segment for segment in installs if " -r " in segment]
    assert sorted(re.findall(r" -r (\S+)", " ".join(locked))) == [
        "image/build-requirements.lock", "image/requirements.lock"]
    for segment in locked:
        for flag in ("--require-hashes", "--no-deps", "--only-binary :all:"):
            assert flag in segment, f"{flag} missing: {segment.strip()}"
    # the one other install is the package's own wheel, built from the checkout, nothing fetched
    [wheel] = [segment for segment in installs if segment not in locked]
    for flag in ("--no-deps", "--no-index", ".whl"):
        assert flag in wheel, wheel.strip()
    builds = [segment for run in runs for segment in run.split("&&") if " wheel " in segment]
    assert builds, "the package's wheel is built in the image"
    for flag in ("--no-build-isolation", "--no-deps"):
        assert all(flag in segment for segment in builds), flag
    copies = " ".join(rest for keyword, rest in instructions() if keyword == "COPY")
    for lock in ("image/requirements.lock", "image/build-requirements.lock"):
        assert lock in copies
