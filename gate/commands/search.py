"""``gate search MANIFEST``: build and judge a target's search candidates in order, within its
budget, until one passes (:mod:`gate.stages.search`); exit 0 found, 1 none passes, 2 bad
input, 3 a candidate could not be measured and none passed, 4 DVC locked."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("search", help="build and judge search candidates in order within a budget; "
                                      "exit 0 when one passes")
    p.add_argument("manifest", type=Path, help="a gate.yaml with a `search:` target")
    p.add_argument("--target", help="only the search of this target (default: every search)")


def run(args: argparse.Namespace) -> int:
    from gate.config.loading import load_pair
    from gate.errors import ConfigError
    from gate.plan.dvcfile import check_fresh
    from gate.stages.search import format_trail, run_search
    from gate.stages.trail import trail_file

    root = Path.cwd()
    loaded, policy = load_pair(args.manifest)
    if not (root / "dvc.yaml").is_file():
        raise ConfigError(f"no dvc.yaml in {root}", hint="run `gate plan` first")
    check_fresh(loaded, policy, root)
    code, trail = run_search(loaded, policy, root, only=args.target)
    print(format_trail(trail))
    print(f"trail: {trail_file(loaded.manifest.name)}")
    return code
