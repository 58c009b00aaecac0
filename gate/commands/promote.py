"""``gate promote``: on the protected branch, move alias ``champion-<platform>`` to the
candidate that ships on each platform (the replaced version is kept as ``previous-<platform>``;
:mod:`gate.lineage.promotion`). Prints one JSON line per platform moved. Exit 0 promoted or
already champion, 1 refused (not passing, not the protected branch), 3 stale decision or
MLflow error.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gate.errors import ExitCode


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("promote", help="move alias champion-<platform> to each platform's release (protected branch)")
    p.add_argument("manifests", nargs="*", type=Path, help="default: every gate.yaml in the repository")
    p.add_argument("--target", help="promote this passing target on its platform instead of the release")
    p.add_argument("--platform", help="promote only this platform's release")
    p.add_argument("--policy", type=Path, help="the policy `gate decide --policy` used instead of the manifests' own")
    p.add_argument("--branch", help="the protected branch (default $GATE_PROTECTED_BRANCH or main)")
    p.add_argument("--allow-older", action="store_true",
                   help="promote even though the champion comes from a newer commit")
    p.add_argument("--new-hardware", action="store_true",
                   help="promote even though the champion was measured on another hardware fingerprint")


def run(args: argparse.Namespace) -> int:
    from gate.lineage.promotion import promote
    from gate.lineage.store import mlflow_failures, stdout_to_stderr
    from gate.plan.dvcfile import find_manifests

    root = Path.cwd()
    paths = args.manifests or find_manifests(root)
    if not paths:
        print(f"no gate.yaml manifests under {root}")
        return ExitCode.BAD_INPUT
    for path in paths:
        with stdout_to_stderr(), mlflow_failures("gate promote"):
            results = promote(root, path, target=args.target, protected_branch=args.branch,
                              new_hardware=args.new_hardware, policy_override=args.policy,
                              allow_older=args.allow_older, platform=args.platform)
        for result in results:
            print(json.dumps(result))
    return ExitCode.PASS
