"""``gate record``: write the decisions' lineage to MLflow (runs, artifacts, model versions).

Recording the same commit and manifest again updates the same runs and versions. A passing
decision also points alias ``candidate`` at its recommended candidate.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gate.errors import ExitCode


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("record", help="record decisions, measurements and candidates in MLflow")
    p.add_argument("manifests", nargs="*", type=Path, help="default: every gate.yaml in the repository")


def run(args: argparse.Namespace) -> int:
    from gate import progress
    from gate.config.manifest import load_manifest
    from gate.lineage.runs import record
    from gate.lineage.store import stdout_to_stderr
    from gate.plan.dvcfile import find_manifests

    root = Path.cwd()
    paths = args.manifests or find_manifests(root)
    for path in paths:
        loaded = load_manifest(path)
        model = loaded.manifest.name
        with progress.step(f"{model}: recording lineage in MLflow"):
            with stdout_to_stderr():
                result = record(root, model, eval_source=loaded.eval_path())
        print(json.dumps({"model": model, **result}))
    return ExitCode.PASS
