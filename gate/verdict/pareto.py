"""The Pareto frontier of a manifest's candidates and one recommendation among them.

Every measured candidate of a manifest, whatever its backend, is a point on three axes, each
"higher is better":

* ``speedup``: the policy's speed rule: a latency metric compared by ``speedup`` (baseline /
  candidate, e.g. ``latency_p50_ms``) or a rate compared by ``ratio`` (candidate / baseline,
  e.g. ``generation_tokens_per_s``);
* ``memory_cut``: the policy's memory rule, ``reduction`` of ``model_memory_bytes`` or
  ``peak_rss_bytes`` (1 - candidate / baseline);
* ``fidelity``: the policy's rule on the primary eval metric compared by ``ratio``.

The values are the decision's own rule values (:func:`axis_rules`: the first rule of the
policy that fits each axis), so the frontier, the report's Pareto table and the rule table
show the same numbers; only an axis that no rule of the policy covers falls back to the
formula on the point estimates of ``measurements.json`` (latency p50 speed-up, model memory
cut, primary metric ratio). Backends never appear here: a new backend's candidates join the
frontier by producing a decision and measurements like any other.

A point dominates another when it is at least as good on every axis and better on one
(Pareto dominance, e.g. Deb, *Multi-Objective Optimization using Evolutionary Algorithms*,
2001, def. 2.5); identical points do not dominate each other, so ties stay on the frontier
together. The frontier is over the measured candidates given (:mod:`gate.verdict.release` gives
those of one platform: devices are not compared); the recommendation is, among the
passing candidates that no other passing candidate dominates, the one with the highest
weighted sum of min-max normalised axes, as in the seed's ParetoOptimization (weights from the manifest's
``selection.weights``, equal by default); ties on the score go to the first name in sort order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

AXES = ("speedup", "memory_cut", "fidelity")
#: axis -> (metric in measurements.json or "accuracy" for the primary, compare): the fallback
#: formula when no rule of the policy fits the axis
AXIS_RULES = {"speedup": ("latency_p50_ms", "speedup"), "memory_cut": ("model_memory_bytes", "reduction"),
              "fidelity": ("accuracy", "ratio")}
MEMORY_METRICS = ("model_memory_bytes", "peak_rss_bytes")
DEFAULT_WEIGHTS = {"speedup": 1.0, "memory_cut": 1.0, "fidelity": 1.0}


@dataclass(frozen=True)
class Point:
    """One candidate on the three axes (dimensionless; see the module docstring)."""

    target: str
    speedup: float
    memory_cut: float
    fidelity: float
    passed: bool = True

    def axes(self) -> tuple[float, float, float]:
        return (self.speedup, self.memory_cut, self.fidelity)


@dataclass(frozen=True)
class Selection:
    """The frontier (target names, sorted), each point's weighted score, and the choice.

    ``recommendation`` is None when no candidate passes the policy; ``reason`` says why.
    """

    frontier: list[str]
    scores: dict[str, float]
    recommendation: str | None
    reason: str


def dominates(a: Point, b: Point) -> bool:
    """True when ``a`` is >= ``b`` on every axis and > on at least one."""
    pairs = list(zip(a.axes(), b.axes(), strict=True))
    return all(x >= y for x, y in pairs) and any(x > y for x, y in pairs)


def frontier(points: Sequence[Point]) -> list[Point]:
    """The points no other point dominates, in input order (O(n^2); n is a few dozen)."""
    return [p for p in points if not any(dominates(q, p) for q in points if q is not p)]


def scores(points: Sequence[Point], weights: Mapping[str, float]) -> dict[str, float]:
    """Weighted sum of min-max normalised axes over ``points``, divided by the weight total.

    An axis on which all points are equal contributes its full weight to each (it cannot
    separate them). Returns ``{target: score in [0, 1]}``.

    Raises:
        ValueError: every weight is zero, or a weight is negative.
    """
    total = sum(weights.get(a, 0.0) for a in AXES)
    if total <= 0 or any(weights.get(a, 0.0) < 0 for a in AXES):
        raise ValueError(f"selection weights must be >= 0 with a positive sum, got {dict(weights)}")
    out = {p.target: 0.0 for p in points}
    for i, axis in enumerate(AXES):
        w = weights.get(axis, 0.0)
        values = [p.axes()[i] for p in points]
        lo, hi = min(values, default=0.0), max(values, default=0.0)
        for p in points:
            norm = 1.0 if hi == lo else (p.axes()[i] - lo) / (hi - lo)
            out[p.target] += w * norm
    return {k: v / total for k, v in out.items()}


def select(points: Sequence[Point], weights: Mapping[str, float] | None = None) -> Selection:
    """Frontier of ``points`` and the recommended passing member (see the module docstring)."""
    weights = dict(weights or DEFAULT_WEIGHTS)
    front = frontier(points)
    names = sorted(p.target for p in front)
    if not points:
        return Selection([], {}, None, "no candidate was measured")
    # the passing candidates' own frontier: a failing candidate that dominates them must not
    # leave the team without a recommendation
    candidates = frontier([p for p in points if p.passed])
    if not candidates:
        return Selection(names, scores(front, weights), None, "no candidate passes the policy")
    sc = scores(candidates, weights)
    best = sorted(candidates, key=lambda p: (-sc[p.target], p.target))[0]
    shown = ", ".join(f"{a} {weights.get(a, 0.0):g}" for a in AXES)
    return Selection(names, sc, best.target,
                     f"highest weighted score {sc[best.target]:.3f} among {len(candidates)} passing "
                     f"candidate(s) not dominated by another passing one (weights: {shown})")


def fits_axis(axis: str, metric: str, compare: str, primary: str) -> bool:
    """True when a rule on ``metric`` by ``compare`` measures Pareto axis ``axis`` (higher is better)."""
    if axis == "speedup":
        latency = metric.startswith("latency_p") and metric.endswith("_ms") and compare == "speedup"
        rate = metric.endswith("_per_s") and not metric.startswith("load_") and compare == "ratio"
        return latency or rate
    if axis == "memory_cut":
        return metric in MEMORY_METRICS and compare == "reduction"
    return metric == primary and compare == "ratio"


def axis_rules(rules: Sequence[Any], primary: str) -> dict[str, Any]:
    """``{axis: the first rule result that fits it}`` (:func:`fits_axis`), for the axes some
    rule with a value covers. ``rules`` are :class:`gate.documents.RuleResult` objects."""
    out: dict[str, Any] = {}
    for axis in AXES:
        found = next((r for r in rules if r.value is not None and fits_axis(axis, r.metric, r.compare, primary)), None)
        if found is not None:
            out[axis] = found
    return out


def axis_values(rules: Sequence[Any], doc: Any, primary: str) -> dict[str, float] | None:
    """The three axis values of one target, or None when a figure is missing or zero.

    ``rules`` are the target's :class:`gate.documents.RuleResult` objects; ``doc`` its
    :class:`gate.documents.Measurements`. An axis takes its rule's value (:func:`axis_rules`);
    otherwise the fallback formula runs on ``doc``'s point estimates.
    """
    found = axis_rules(rules, primary)
    out: dict[str, float] = {}
    for axis, (metric, _) in AXIS_RULES.items():
        if axis in found:
            out[axis] = float(found[axis].value)
            continue
        name = primary if metric == "accuracy" else metric
        b, c = doc.baseline.metrics.get(name), doc.candidate.metrics.get(name)
        if not b or c is None or (axis == "speedup" and not c):
            return None
        out[axis] = {"speedup": b / c, "memory_cut": 1 - c / b, "fidelity": c / b}[axis]
    return out
