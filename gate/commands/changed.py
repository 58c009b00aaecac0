"""``gate changed --base REF [--head REF] [GLOB...]``: the manifests a change touches.

Prints one repository-relative manifest path per line (nothing when no manifest changed), for
the Action's first step; see :mod:`gate.plan.changes` for what counts as a change.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gate.errors import ExitCode


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("changed", help="list the manifests changed between two git refs")
    p.add_argument("globs", nargs="*", help="manifest path globs (default: every gate.yaml)")
    p.add_argument("--base", default="", help="base ref or sha; empty: every manifest")
    p.add_argument("--head", default="HEAD", help="head ref or sha (default: HEAD)")
    p.add_argument("--policy", type=Path, help="the policy that overrides the manifests' own")
    p.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")


def run(args: argparse.Namespace) -> int:
    from gate.plan.changes import changed_manifests

    root = args.root.resolve()
    for path in changed_manifests(root, args.base or None, args.head, args.globs, args.policy):
        print(path.resolve().relative_to(root).as_posix())
    return ExitCode.PASS
