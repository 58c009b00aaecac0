"""``gate validate PATH...``: check manifests and policies without building anything."""

from __future__ import annotations

import argparse
from pathlib import Path

from gate.errors import ExitCode


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("validate", help="validate manifests and policies (exit 2 on the first problem)")
    p.add_argument("paths", nargs="+", type=Path, help="gate.yaml manifests or policy files")


def run(args: argparse.Namespace) -> int:
    from gate.config.loading import load_any

    manifests = []
    for path in args.paths:
        kind = load_any(path)
        if kind == "manifest":
            manifests.append(path)
        print(f"{path}: valid {kind}")
    if len(manifests) > 1:  # validated together: they must also plan together
        from gate.config.loading import load_pair
        from gate.plan.dvcfile import check_unique_names

        check_unique_names([load_pair(p)[0] for p in manifests])
    return ExitCode.PASS
