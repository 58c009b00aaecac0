"""``gate measure MANIFEST --target T``: DVC stage that measures baseline and candidate.

The stage itself lives in :mod:`gate.stages.measure`; this module only parses its arguments.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("measure", help="(DVC stage) measure baseline and candidate of one target")
    p.add_argument("manifest", type=Path)
    p.add_argument("--target", required=True)



def run(args: argparse.Namespace) -> int:
    from gate.stages.measure import run_measure

    return run_measure(args.manifest, args.target)
