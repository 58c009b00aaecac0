"""The figures DVC shows: per target, rule values as DVC metrics and latency samples and the
target's frontier point as DVC plots.

The ``figures-<model>-<target>`` stage (``gate figures``) reads the target's
``measurements.json`` and applies the policy exactly as ``gate decide`` does
(:func:`gate.verdict.decision.decide_target`, same intervals and waivers), then writes
``build/gate/<model>/targets/<target>/figures/``:

* ``metrics.json``: ``{"verdict": str, "<rule id>": value, ...,
  "frontier": {"speedup", "memory_cut", "fidelity"}}``: the value of every policy rule
  (``speedup`` = baseline/candidate, ``reduction`` = 1 - candidate/baseline, ``ratio`` =
  candidate/baseline; formulas in :mod:`gate.config.policy`), unitless; a rule that could not
  be computed is left out. ``dvc metrics show`` lists it per target, ``dvc metrics diff``
  compares it across commits.
* ``latency.json``: one row per timed run, ``{"run", "round", "baseline_ms", "candidate_ms"}``
  (the interleaved rounds of the measure stage, ms); empty for tasks that record no per-run
  latency samples.
* ``frontier.json``: one row, ``{"target", "speedup", "memory_cut", "fidelity", "verdict"}``
  (the axes of :mod:`gate.verdict.pareto`); ``dvc plots`` draws every target's row on one
  scatter.

The files are display copies: ``gate decide`` recomputes everything from the measurements and
is the only verdict.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from gate import layout

METRICS = "metrics.json"
LATENCY = "latency.json"
FRONTIER = "frontier.json"


def figure_paths(model: str, target: str) -> dict[str, Path]:
    """``{"metrics", "latency", "frontier"}`` paths of one target, relative to the repository root."""
    folder = layout.figures_dir(model, target)
    return {"metrics": folder / METRICS, "latency": folder / LATENCY, "frontier": folder / FRONTIER}


def latency_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Per timed run: run number (1-based, over all rounds), round (1-based), baseline and
    candidate latency in ms, from ``samples.latency_rounds_ms`` of a measurements document."""
    rounds = (doc.get("samples") or {}).get("latency_rounds_ms") or {}
    rows: list[dict[str, Any]] = []
    for r, (base, cand) in enumerate(zip(rounds.get("baseline", []), rounds.get("candidate", []), strict=False)):
        for b, c in zip(base, cand, strict=False):
            rows.append({"run": len(rows) + 1, "round": r + 1, "baseline_ms": float(b), "candidate_ms": float(c)})
    return rows


def compute(loaded: Any, policy: Any, target: Any, root: Path, today: dt.date | None = None) -> dict[str, Any]:
    """``{"metrics": dict, "latency": rows, "frontier": rows}`` for one target (module docstring).

    Raises:
        ValueError: the measurements file is not JSON (the stage then fails; ``gate decide``
            reports the target as ERROR on its own).
    """
    import json

    from gate.verdict.decision import decide_target

    result = decide_target(loaded, policy, target, root, today or dt.date.today(), [])
    metrics: dict[str, Any] = {"verdict": str(result.verdict)}
    metrics |= {r.rule: float(r.value) for r in result.rules if r.value is not None}
    frontier: list[dict[str, Any]] = []
    if result.point:
        metrics["frontier"] = {k: float(v) for k, v in result.point.items()}
        frontier = [{"target": target.name, **metrics["frontier"], "verdict": str(result.verdict)}]
    path = root / layout.measurements_file(loaded.manifest.name, target.name)
    doc = json.loads(path.read_text()) if path.is_file() else {}
    return {"metrics": metrics, "latency": latency_rows(doc), "frontier": frontier}


def write_figures(loaded: Any, policy: Any, target: Any, root: Path) -> dict[str, Path]:
    """Compute (:func:`compute`) and write one target's figure files atomically; returns their paths."""
    from gate.backends.base import write_json_atomic

    figures = compute(loaded, policy, target, root)
    paths = figure_paths(loaded.manifest.name, target.name)
    for key, rel in paths.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(root / rel, figures[key])
    return paths
