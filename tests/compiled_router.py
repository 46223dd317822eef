"""Build the router with its request path compiled by mypyc, as the image ships it, and test it.

The wheel's mypyc hook (pyproject.toml) is off by default, so editable installs stay pure Python.
This builds the wheel from a copy of the sources (hatch-mypyc compiles in place, and a stray
extension module beside a .py file would shadow every later edit of it), installs it into a
directory cached by a hash of the sources, and prints that directory.

    python -m tests.compiled_router build         # prints the directory to put on PYTHONPATH
    python -m tests.compiled_router test [ARGS]   # router tests against the compiled modules
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.cluster.build import cache_root

REPO = Path(__file__).resolve().parents[1]
# Set for a test run that must exercise the compiled modules (checked in tests/conftest.py).
EXPECT_COMPILED_ENV = "MODELROLLOUT_EXPECT_COMPILED_ROUTER"
ROUTER_TESTS = ("tests/unit/router", "tests/integration/router")


def sources_key() -> str:
    digest = hashlib.sha256()
    digest.update(sys.version.encode())
    digest.update(importlib.metadata.version("mypy").encode())
    for path in sorted([REPO / "pyproject.toml", *(REPO / "controller").rglob("*.py")]):
        digest.update(str(path.relative_to(REPO)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build() -> Path:
    """The directory holding the compiled `controller` package; built once per source hash."""
    target = cache_root() / "router-compiled" / sources_key()
    if (target / ".complete").exists():
        return target
    with tempfile.TemporaryDirectory(prefix="router-compiled-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(REPO / name, src / name)
        shutil.copytree(REPO / "controller", src / "controller",
                        ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        env = dict(os.environ, HATCH_BUILD_HOOKS_ENABLE="1")
        wheels = Path(tmp) / "wheels"
        print("[router-compiled] compiling the router with mypyc (about a minute)",
              file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                        "--wheel-dir", str(wheels), str(src)], env=env, check=True)
        (wheel,) = wheels.glob("*.whl")
        if target.exists():
            shutil.rmtree(target)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--target", str(target), str(wheel)], check=True)
    (target / ".complete").touch()
    return target


def compiled_environment(site: Path) -> dict[str, str]:
    """Environment whose `import controller` finds the compiled build first."""
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, PYTHONPATH=path, **{EXPECT_COMPILED_ENV: "1"})


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("build", "test"):
        print(__doc__, file=sys.stderr)
        return 2
    site = build()
    if argv[0] == "build":
        print(site)
        return 0
    # -P and append: neither Python nor pytest may put the checkout ahead of PYTHONPATH
    command = [sys.executable, "-P", "-m", "pytest", "--import-mode=append", *ROUTER_TESTS,
               *argv[1:]]
    return subprocess.run(command, cwd=REPO, env=compiled_environment(site), check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
