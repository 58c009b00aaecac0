"""``gate optimize MANIFEST --target T``: DVC stage that builds one target's candidate.

The backend runs in an isolated child process (:mod:`gate.stages.isolation`) under the target's
limits; a crash, kill, hang or exception there is recorded for `gate decide`
(:mod:`gate.stages.failures`) and exits 3, without touching any other target.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from gate.errors import ExitCode, GateError


def build_candidate(manifest: str, target: str, root: str) -> dict[str, Any]:
    """Build the candidate of ``target`` (runs inside the isolated child), then run it on the
    baseline's dynamic-axes sweep against the source's outputs (:mod:`gate.tasks.sweep`).
    Returns its size.

    Raises:
        BackendError: the backend failed, or the candidate fails the sweep (naming the axis).
    """
    from gate import layout
    from gate.backends import get_backend
    from gate.config.manifest import load_manifest
    from gate.stages.context import build_context
    from gate.tasks.sweep import check_candidate, load_points

    loaded = load_manifest(Path(manifest))
    base = Path(root)
    t = loaded.target(target)
    name = loaded.manifest.name
    out = base / layout.candidate_dir(name, t.name)
    artifact = get_backend(t.backend).optimize(
        base / layout.baseline_dir(name), loaded.recipes[t.name],
        build_context(loaded, base / layout.inputs_file(name)), out,
    )
    baseline = base / layout.baseline_dir(name)
    if load_points(baseline):
        artifact.write(out)  # the backend opens the candidate from its description
        session = get_backend(t.backend).open(out, loaded.manifest.measure.threads)
        # beside the backend's own conversion sweep (details.shape_sweep, where it keeps one)
        artifact.details["sweep_against_source"] = check_candidate(session.run, baseline)
    artifact.details["config_hash"] = loaded.config_hash(t.name)
    artifact.details["target_id"] = t.target_id()
    artifact.write(out)
    return {"size_bytes": artifact.size_bytes, "precision": artifact.precision}


def run_optimize(manifest: Path, target_name: str) -> int:
    """Run the optimize stage of one target of ``manifest`` in the current directory; returns the exit code."""
    from gate import layout, progress
    from gate.config.loading import load_pair
    from gate.plan.dvcfile import check_fresh
    from gate.stages.failures import clear_failure, record_failure
    from gate.stages.isolation import Limits, run_isolated

    loaded, policy = load_pair(manifest)
    root = Path.cwd()
    check_fresh(loaded, policy, root)
    target = loaded.target(target_name)
    name = loaded.manifest.name
    shutil.rmtree(root / layout.candidate_dir(name, target.name), ignore_errors=True)
    clear_failure(root, name, target.name)
    limits = loaded.limits(target.name)
    try:
        with progress.step(f"{name}: optimizing {target.target_id()}"):
            result = run_isolated(
                "gate.stages.optimize:build_candidate",
                {"manifest": str(manifest.resolve()), "target": target.name, "root": str(root)},
                Limits(limits.timeout_s, limits.memory_bytes), what=f"optimize {target.target_id()}",
            )
    except GateError as exc:
        shutil.rmtree(root / layout.candidate_dir(name, target.name), ignore_errors=True)  # no partial candidate
        record_failure(root, name, target.name, stage="optimize", config_hash=loaded.config_hash(target.name),
                       message=str(exc))
        raise
    progress.log(f"{name}: candidate {target.name} {result['size_bytes']} bytes ({result['precision']})")
    return ExitCode.PASS
