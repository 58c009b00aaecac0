"""The CI matrix: one leg per (manifest, target), for GitHub's ``strategy.matrix``.

Each leg runs its target's DVC stages (``dvc repro measure-<model>-<target>``, which pulls in
the baseline and optimize stages) on a runner with the target's labels, and uploads its target
folder (``measurements.json`` and the ``candidate/`` artifact, which ``gate record`` logs to
MLflow) as an artifact named ``edge-gate.<model>.<target>`` (model and target
names never contain dots). A final job downloads every leg's artifact, puts the files back in
place with ``gate gather`` and decides: a leg that crashed or never reported leaves its
measurements missing, which :func:`gate.verdict.decision.decide_target` makes an ERROR.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gate import layout
from gate.config.manifest import LoadedManifest
from gate.config.platforms import runner_labels

ARTIFACT_PREFIX = "edge-gate."


def artifact_name(model: str, target: str) -> str:
    """The upload-artifact name of one leg's measurements."""
    return f"{ARTIFACT_PREFIX}{model}.{target}"


def parse_artifact_name(name: str) -> tuple[str, str] | None:
    """``(model, target)`` from :func:`artifact_name`'s output, else None."""
    if not name.startswith(ARTIFACT_PREFIX):
        return None
    model, dot, target = name[len(ARTIFACT_PREFIX):].partition(".")
    return (model, target) if dot and model and target and "." not in target else None


def matrix_legs(loaded: list[LoadedManifest], root: Path) -> dict[str, list[dict[str, Any]]]:
    """``{"include": [leg, ...]}`` with one leg per target of every manifest.

    A leg is ``{manifest, model, target, target_id, platform, backend, runs_on (labels),
    stage, artifact, measurements, target_dir}``; paths are relative to ``root``, ``runs_on`` is a list
    of runner labels (``gate.config.platforms``). GitHub rejects an empty matrix: callers skip the
    leg job when ``include`` is empty.
    """
    legs = []
    for m in loaded:
        name = m.manifest.name
        for t in m.manifest.targets:
            legs.append({
                "manifest": os.path.relpath(m.path, root),
                "model": name,
                "target": t.name,
                "target_id": t.target_id(),
                "platform": t.platform,
                "backend": t.backend,
                "runs_on": runner_labels(t.platform, t.runs_on),
                "stage": f"measure-{name}-{t.name}",
                "artifact": artifact_name(name, t.name),
                "measurements": str(layout.measurements_file(name, t.name)),
                "target_dir": str(layout.target_dir(name, t.name)),
            })
    return {"include": legs}
