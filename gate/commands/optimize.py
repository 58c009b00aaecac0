"""``gate optimize MANIFEST --target T``: DVC stage that builds one target's candidate.

The backend runs in an isolated child process (:mod:`gate.isolation`) under the target's
limits; a crash, kill, hang or exception there is recorded for `gate decide`
(:mod:`gate.failures`) and exits 3, without touching any other target.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from gate.errors import ExitCode, GateError


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("optimize", help="(DVC stage) build the candidate artifact of one target")
    p.add_argument("manifest", type=Path)
    p.add_argument("--target", required=True)


def build_candidate(manifest: str, target: str, root: str) -> dict[str, Any]:
    """Build the candidate of ``target`` (runs inside the isolated child). Returns its size."""
    from gate import layout
    from gate.backends import get_backend
    from gate.commands.baseline import build_context
    from gate.manifest import load_manifest

    loaded = load_manifest(Path(manifest))
    base = Path(root)
    t = loaded.target(target)
    name = loaded.manifest.name
    out = base / layout.candidate_dir(name, t.name)
    artifact = get_backend(t.backend).optimize(
        base / layout.baseline_dir(name), loaded.recipes[t.name],
        build_context(loaded, base / layout.inputs_file(name)), out,
    )
    artifact.details["config_hash"] = loaded.config_hash(t.name)
    artifact.details["target_id"] = t.target_id()
    artifact.write(out)
    return {"size_bytes": artifact.size_bytes, "precision": artifact.precision}


def run(args: argparse.Namespace) -> int:
    from gate import layout, progress
    from gate.failures import clear_failure, record_failure
    from gate.isolation import Limits, run_isolated
    from gate.loading import load_pair
    from gate.plan import check_fresh

    loaded, policy = load_pair(args.manifest)
    root = Path.cwd()
    check_fresh(loaded, policy, root)
    target = loaded.target(args.target)
    name = loaded.manifest.name
    shutil.rmtree(root / layout.candidate_dir(name, target.name), ignore_errors=True)
    clear_failure(root, name, target.name)
    limits = loaded.limits(target.name)
    try:
        with progress.step(f"{name}: optimizing {target.target_id()}"):
            result = run_isolated(
                "gate.commands.optimize:build_candidate",
                {"manifest": str(args.manifest.resolve()), "target": target.name, "root": str(root)},
                Limits(limits.timeout_s, limits.memory_bytes), what=f"optimize {target.target_id()}",
            )
    except GateError as exc:
        record_failure(root, name, target.name, stage="optimize", config_hash=loaded.config_hash(target.name),
                       message=str(exc))
        raise
    progress.log(f"{name}: candidate {target.name} {result['size_bytes']} bytes ({result['precision']})")
    return ExitCode.PASS
