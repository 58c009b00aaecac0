"""``gate rollback MODEL``: swap aliases ``champion`` and ``previous`` of ``edge-gate.MODEL``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gate.errors import ExitCode


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("rollback", help="swap aliases champion and previous of a model")
    p.add_argument("model", help="the manifest's name")


def run(args: argparse.Namespace) -> int:
    from gate.lineage.promotion import rollback
    from gate.lineage.store import stdout_to_stderr

    with stdout_to_stderr():
        result = rollback(Path.cwd(), args.model)
    print(json.dumps(result))
    return ExitCode.PASS
