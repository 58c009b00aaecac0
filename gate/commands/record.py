"""``gate record``: write the decisions' lineage to MLflow (runs, artifacts, model versions).

Recording the same commit and manifest again updates the same runs and versions. Nothing is
written while the evidence chain is broken (:func:`gate.lineage.evidence.verify_decision`:
a measured file changed, a candidate that ships is missing, or deciding again gives another
verdict): exit 3. A passing
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
    p.add_argument("--policy", type=Path, help="the policy `gate decide --policy` used instead of the manifests' own")
    p.add_argument("--candidates", choices=["auto", "copy", "reference"],
                   help="copy candidates into MLflow or reference them in the DVC remote (default: "
                        "$EDGE_GATE_MLFLOW_CANDIDATES or auto: reference those over 100 MB)")


def run(args: argparse.Namespace) -> int:
    from gate import progress
    from gate.config.loading import load_pair
    from gate.lineage.evidence import verify_decision
    from gate.lineage.runs import read_decision, record
    from gate.lineage.store import mlflow_failures, stdout_to_stderr
    from gate.plan.dvcfile import find_manifests

    if args.candidates:
        import os

        from gate.lineage.versions import MODE_VAR

        os.environ[MODE_VAR] = args.candidates
    root = Path.cwd()
    paths = args.manifests or find_manifests(root)
    pairs = [load_pair(p, args.policy) for p in paths]  # every input is valid before recording
    for loaded, policy in pairs:
        model = loaded.manifest.name
        decision = read_decision(root, model)
        # a candidate that ships must be there to be registered (promotion needs its version)
        ships = [p["release"] for p in decision.get("platforms") or [] if p.get("release")]
        verify_decision(root, loaded, policy, decision, promote=ships)
        with progress.step(f"{model}: recording lineage in MLflow"):
            with stdout_to_stderr(), mlflow_failures("gate record"):
                result = record(root, model, eval_source=loaded.eval_path())
        print(json.dumps({"model": model, **result}))
    return ExitCode.PASS
