"""The dynamic-axes sweep: a model that claims a dynamic axis must run at other sizes of it and
give the source framework's answer there.

A model exported with a baked shape (a ``Reshape`` to a constant batch, a fixed sequence
length) converts without complaint and is measured at the one size it was traced with; it
fails or silently truncates at any other. A comparison against the same file run in another
runtime cannot see it (both carry the bake), so the reference is the source framework: the
baseline stage runs the source (the task's torch module) at two sizes of every axis in
``input.dynamic_axes`` and keeps those feeds and outputs in the baseline folder
(:data:`SWEEP_FILE`); every candidate of every backend is run on the same feeds by the optimize
stage (:func:`check_candidate`).

Sizes: the latency input's size ``n`` and ``n // 2``, or 1 and 3 for a size-1 axis (batch).
Feeds at a size are the latency input cut or repeated cyclically along the axis.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gate.errors import BackendError

#: Kept in the baseline folder: the swept feeds and the source framework's outputs.
SWEEP_FILE = "shape_sweep.npz"
#: Per-row cosine an fp32 baseline must keep to the source at every swept size (fp32 against
#: fp32 differs by ~1e-6 relative; a baked shape or a wrong slice gives far less).
BASELINE_MIN_COSINE = 0.9999
#: How far a candidate's per-row cosine to the source at a swept size may fall below its cosine
#: at the measured size. Quantization error does not depend on the batch or sequence size, so
#: a larger drop means the candidate computes something else at that size.
CANDIDATE_SLACK = 0.05

Run = Callable[[dict[str, np.ndarray]], np.ndarray]


def resize(array: np.ndarray, dim: int, size: int) -> np.ndarray:
    """``array`` cut or repeated along ``dim`` to ``size`` (rows taken cyclically)."""
    out: np.ndarray = np.take(array, np.arange(size) % array.shape[dim], axis=dim)
    return np.ascontiguousarray(out)


def row_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The smallest cosine between matching rows (first dimension) of ``a`` and ``b``."""
    a2, b2 = a.reshape(a.shape[0], -1).astype(np.float64), b.reshape(b.shape[0], -1).astype(np.float64)
    cos = np.sum(a2 * b2, axis=1) / (np.linalg.norm(a2, axis=1) * np.linalg.norm(b2, axis=1) + 1e-30)
    return float(cos.min())


def sweep_points(axes_of_task: Mapping[str, Mapping[str, int]], axes: list[str],
                 base: Mapping[str, np.ndarray]) -> list[tuple[str, int, dict[str, np.ndarray]]]:
    """``(axis, size, feeds)`` for two sizes of each declared axis, from the latency feeds
    ``base``. ``axes_of_task`` is the task's ``AXES`` (axis name -> {input name: dimension})."""
    points = []
    for axis in axes:
        dims = {f: d for f, d in axes_of_task.get(axis, {}).items() if f in base}
        if not dims:
            continue
        first = next(iter(dims))
        n = base[first].shape[dims[first]]
        for size in ((1, 3) if n == 1 else (n, max(1, n // 2))):
            feeds = {k: np.ascontiguousarray(v) for k, v in base.items()}
            for feed, dim in dims.items():
                feeds[feed] = resize(base[feed], dim, size)
            points.append((axis, size, feeds))
    return points


def _run(run: Run, feeds: dict[str, np.ndarray], what: str, axis: str, size: int) -> np.ndarray:
    try:
        out = np.asarray(run(feeds))
    except (RuntimeError, ValueError) as exc:  # runtimes raise these on a shape they cannot take
        raise BackendError(f"{what} fails at {axis}={size} (dynamic axis {axis!r}): {exc}") from exc
    if not np.all(np.isfinite(out)):
        raise BackendError(f"{what} gives non-finite outputs at {axis}={size} (dynamic axis {axis!r})")
    return out


def sweep_baseline(source: Run, baseline: Run, points: list[tuple[str, int, dict[str, np.ndarray]]],
                   folder: Path) -> list[dict[str, Any]]:
    """Run the source framework and the baseline at every point; keep feeds and source outputs
    in ``folder / SWEEP_FILE``. Returns one record per point: ``axis``, ``size``,
    ``output_shape``, ``cosine_min``.

    Raises:
        BackendError: naming the axis and size, when the baseline fails there, gives another
            output shape than the source, or a per-row cosine below :data:`BASELINE_MIN_COSINE`.
    """
    arrays: dict[str, Any] = {}  # np.savez's keyword typing wants Any
    records = []
    for i, (axis, size, feeds) in enumerate(points):
        want = _run(source, feeds, "the source model", axis, size)
        got = _run(baseline, feeds, "the baseline", axis, size)
        if got.shape != want.shape:
            raise BackendError(f"the baseline gives output shape {got.shape} at {axis}={size}, the source "
                               f"{want.shape} (dynamic axis {axis!r}): the conversion baked a shape")
        cos = row_cosine(want, got)
        if not cos >= BASELINE_MIN_COSINE:
            raise BackendError(f"the baseline disagrees with the source at {axis}={size} (dynamic axis {axis!r}): "
                               f"per-row cosine {cos:.6f} < {BASELINE_MIN_COSINE}")
        records.append({"axis": axis, "size": size, "output_shape": list(got.shape), "cosine_min": cos})
        arrays |= {f"{i}.feed.{k}": v for k, v in feeds.items()} | {f"{i}.reference": want}
        arrays[f"{i}.point"] = np.asarray([axis, str(size)])
    tmp = folder / f".{SWEEP_FILE}.tmp.npz"
    np.savez(tmp, **arrays)
    tmp.replace(folder / SWEEP_FILE)
    return records


def load_points(baseline_folder: Path) -> list[tuple[str, int, dict[str, np.ndarray], np.ndarray]]:
    """The swept ``(axis, size, feeds, source outputs)`` the baseline stage kept (empty when the
    manifest declares no dynamic axis, or the task has no source framework to run)."""
    path = baseline_folder / SWEEP_FILE
    if not path.is_file():
        return []
    with np.load(path) as data:
        keys = list(data.keys())
        points = []
        for i in sorted({int(k.split(".")[0]) for k in keys}):
            axis, size = (str(x) for x in data[f"{i}.point"])
            feeds = {k.split(".", 2)[2]: np.asarray(data[k]) for k in keys if k.startswith(f"{i}.feed.")}
            points.append((axis, int(size), feeds, np.asarray(data[f"{i}.reference"])))
    return points


def check_candidate(candidate: Run, baseline_folder: Path) -> list[dict[str, Any]]:
    """Run a candidate on the baseline stage's sweep and compare it with the source's outputs.

    The first point of an axis is the measured size; at every other size the candidate must
    give the source's output shape and a per-row cosine no more than :data:`CANDIDATE_SLACK`
    below its cosine at the measured size. Returns one record per point.

    Raises:
        BackendError: naming the axis and size, when the candidate fails there, gives another
            output shape, non-finite outputs or a cosine below the bound.
    """
    records = []
    at_measured: dict[str, float] = {}
    for axis, size, feeds, want in load_points(baseline_folder):
        got = _run(candidate, feeds, "the candidate", axis, size)
        if got.shape != want.shape:
            raise BackendError(f"the candidate gives output shape {got.shape} at {axis}={size}, the source "
                               f"{want.shape} (dynamic axis {axis!r})")
        cos = row_cosine(want, got)
        bound = at_measured.setdefault(axis, cos) - CANDIDATE_SLACK
        if not cos >= bound:
            raise BackendError(f"the candidate disagrees with the source at {axis}={size} (dynamic axis {axis!r}): "
                               f"per-row cosine {cos:.4f}, {at_measured[axis]:.4f} at the measured size")
        records.append({"axis": axis, "size": size, "output_shape": list(got.shape), "cosine_min": cos})
    return records
