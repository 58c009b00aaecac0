"""``gate baseline MANIFEST``: DVC stage that builds the baseline artifact and the inputs.

The stage itself lives in :mod:`gate.stages.baseline`; this module only parses its arguments.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("baseline", help="(DVC stage) build the baseline artifact of a manifest")
    p.add_argument("manifest", type=Path)



def run(args: argparse.Namespace) -> int:
    from gate.stages.baseline import run_baseline

    return run_baseline(args.manifest)
