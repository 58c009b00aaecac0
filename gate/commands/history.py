"""``gate history MODEL [--platform P]``: each platform's champion over time, with verdicts and
the figures behind each promotion, and the aliases now."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gate.errors import ExitCode


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("history", help="the champion of a model over time")
    p.add_argument("model", help="the manifest's name")
    p.add_argument("--platform", help="only this platform (default: every platform)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from gate.lineage.promotion import format_history, history
    from gate.lineage.store import mlflow_failures, stdout_to_stderr

    with stdout_to_stderr(), mlflow_failures("gate history"):
        h = history(Path.cwd(), args.model, platform=args.platform)
    print(json.dumps(h, indent=2) if args.json else format_history(h))
    return ExitCode.PASS
