"""``gate rollback MODEL``: swap aliases ``champion`` and ``previous`` of ``edge-gate.MODEL``,
on the protected branch only (the check ``gate promote`` makes). Exit 0 swapped, 1 refused
(not the protected branch), 3 an alias is unset or MLflow failed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gate.errors import ExitCode


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("rollback", help="swap aliases champion and previous of a model")
    p.add_argument("model", help="the manifest's name")
    p.add_argument("--branch", help="the protected branch (default $GATE_PROTECTED_BRANCH or main)")


def run(args: argparse.Namespace) -> int:
    from gate.lineage.promotion import rollback
    from gate.lineage.store import mlflow_failures, stdout_to_stderr

    with stdout_to_stderr(), mlflow_failures("gate rollback"):
        result = rollback(Path.cwd(), args.model, protected_branch=args.branch)
    print(json.dumps(result))
    return ExitCode.PASS
