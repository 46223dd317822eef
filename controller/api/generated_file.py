"""The command line of a file generated from the models (the CRD, docs/api.md): write it, or
with --check fail when the committed copy differs from what the models generate."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def write_or_check(argv: list[str] | None, *, description: str | None, default_output: Path,
                   check_help: str, render: Callable[[], str]) -> int:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help=check_help)
    parser.add_argument("--output", type=Path, default=default_output)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not args.output.is_file() or args.output.read_text() != text:
            print(f"{args.output} is stale: run `make crds`", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0
