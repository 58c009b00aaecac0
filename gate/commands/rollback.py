"""``gate rollback MODEL [--platform P]``: swap aliases ``champion-P`` and ``previous-P`` of
``edge-gate.MODEL``, on the protected branch only (the check ``gate promote`` makes); the
platform may be left out when the model has only one. Exit 0 swapped, 1 refused (not the
protected branch), 2 the platform is ambiguous, 3 an alias is unset or MLflow failed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gate.errors import ExitCode


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("rollback", help="swap aliases champion-<platform> and previous-<platform> of a model")
    p.add_argument("model", help="the manifest's name")
    p.add_argument("--platform", help="the platform (default: the model's only one)")
    p.add_argument("--branch", help="the protected branch (default $GATE_PROTECTED_BRANCH or main)")


def run(args: argparse.Namespace) -> int:
    from gate.lineage.promotion import rollback
    from gate.lineage.store import mlflow_failures, stdout_to_stderr

    with stdout_to_stderr(), mlflow_failures("gate rollback"):
        result = rollback(Path.cwd(), args.model, protected_branch=args.branch, platform=args.platform)
    print(json.dumps(result))
    return ExitCode.PASS
