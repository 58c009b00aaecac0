"""``gate optimize MANIFEST --target T``: DVC stage that builds one target's candidate.

The stage itself lives in :mod:`gate.stages.optimize`; this module only parses its arguments.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("optimize", help="(DVC stage) build the candidate artifact of one target")
    p.add_argument("manifest", type=Path)
    p.add_argument("--target", required=True)



def run(args: argparse.Namespace) -> int:
    from gate.stages.optimize import run_optimize

    return run_optimize(args.manifest, args.target)
