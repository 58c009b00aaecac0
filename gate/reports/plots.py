"""Plots beside the report: the Pareto chart and per-candidate latency distributions.

Written by ``gate decide`` as PNG and SVG into the decision folder (``build/gate/<model>/``),
linked from ``report.md`` and attached to the MLflow run by ``gate record`` with the rest of
the decision folder. Plots read the decision and the measurements; they never compute a
verdict. The Pareto chart puts speed-up on x and fidelity on y (the decision's rule values,
:func:`gate.verdict.pareto.axis_rules`), draws each candidate's confidence interval on both as
error bars, the bounds of the policy's rules on those axes as dashed lines (the region that
passes is up and to the right of a ``min``), one marker shape per platform, and annotates the
memory cut with its interval. matplotlib is imported inside :func:`write_plots` with the
non-interactive Agg backend, so nothing opens a window on a CI runner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gate.documents import Decision, Measurements, RuleResult, TargetResult, passes
from gate.verdict.pareto import axis_rules

PARETO = "pareto"
LATENCY = "latency"


def _flat(rounds: Any) -> list[float]:
    """Timed latencies (ms) from ``samples.latency_rounds_ms[role]``: a list of rounds, or one list."""
    out: list[float] = []
    for r in rounds or []:
        out.extend(float(x) for x in (r if isinstance(r, list) else [r]))
    return out


def _errors(rule: RuleResult | None, value: float) -> tuple[float, float]:
    """(below, above) distances of a rule's interval ends from ``value``; (0, 0) without one."""
    if rule is None or rule.low is None or rule.high is None:
        return (0.0, 0.0)
    return (max(value - rule.low, 0.0), max(rule.high - value, 0.0))


def thresholds(targets: list[TargetResult], primary: str) -> dict[str, list[tuple[str, float]]]:
    """``{axis: [(label, bound), ...]}``: the ``min``/``max`` of the rules on each Pareto axis."""
    out: dict[str, list[tuple[str, float]]] = {}
    for t in targets:
        for axis, r in axis_rules(t.rules, primary).items():
            for kind, bound in (("min", r.min), ("max", r.max)):
                if bound is not None and (f"{r.rule} {kind}", bound) not in out.setdefault(axis, []):
                    out[axis].append((f"{r.rule} {kind}", bound))
    return out


def write_plots(decision: Decision, measurements: dict[str, Measurements], folder: Path) -> list[dict[str, str]]:
    """Write ``pareto.{png,svg}`` and ``latency.{png,svg}`` into ``folder``.

    Returns ``[{"title", "png", "svg"}]`` with file names relative to ``folder`` (the report's
    own folder), only for the plots that had data.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written: list[dict[str, str]] = []
    points = [t for t in decision.targets if t.point is not None]
    if points:
        fig, ax = plt.subplots(figsize=(7.5, 4.8))
        shapes = {p: m for p, m in zip(dict.fromkeys(t.platform for t in points), "osD^vP", strict=False)}
        for t in points:
            p = t.point or {}
            found = axis_rules(t.rules, decision.primary_metric)
            color = ("tab:green" if passes(t.verdict)
                     else "tab:orange" if t.verdict.value == "inconclusive" else "tab:red")
            xerr, yerr = _errors(found.get("speedup"), p["speedup"]), _errors(found.get("fidelity"), p["fidelity"])
            ax.errorbar(p["speedup"], p["fidelity"], xerr=[[xerr[0]], [xerr[1]]], yerr=[[yerr[0]], [yerr[1]]],
                        fmt="none", ecolor=color, alpha=0.6, capsize=3)
            ax.scatter(p["speedup"], p["fidelity"], s=60 + 300 * max(p["memory_cut"], 0.0),
                       marker="*" if t.ships else shapes.get(t.platform, "o"), c=color, alpha=0.75,
                       edgecolors="black" if t.on_frontier else "none", label=None)
            mem = found.get("memory_cut")
            span = (f" [{mem.low:.0%}, {mem.high:.0%}]"
                    if mem and mem.low is not None and mem.high is not None and mem.low != mem.high else "")
            ax.annotate(f"{t.target} ({t.platform})\nmem cut {p['memory_cut']:.0%}{span}",
                        (p["speedup"], p["fidelity"]), textcoords="offset points", xytext=(6, 4), fontsize=7)
        bounds = thresholds(points, decision.primary_metric)
        for label, bound in bounds.get("speedup", []):
            ax.axvline(bound, color="grey", linestyle="--", linewidth=1)
            ax.annotate(label, (bound, 0), xycoords=("data", "axes fraction"), xytext=(3, 3),
                        textcoords="offset points", fontsize=7, color="grey")
        for label, bound in bounds.get("fidelity", []):
            ax.axhline(bound, color="grey", linestyle="--", linewidth=1)
            ax.annotate(label, (0, bound), xycoords=("axes fraction", "data"), xytext=(3, 3),
                        textcoords="offset points", fontsize=7, color="grey")
        memory = ", ".join(f"{label} {bound:.0%}" for label, bound in bounds.get("memory_cut", []))
        ax.set_xlabel("speed-up (the policy's speed rule value; bars: its interval)")
        ax.set_ylabel("fidelity (primary metric ratio; bars: its interval)")
        ax.set_title(f"{decision.model}: candidates; star ships, outline frontier, marker shape per platform\n"
                     f"size: memory cut{' (bound: ' + memory + ')' if memory else ''}; green passes, orange "
                     "inconclusive, red fails; dashed: rule bounds", fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        for ext in ("png", "svg"):
            fig.savefig(folder / f"{PARETO}.{ext}", dpi=110)
        plt.close(fig)
        written.append({"title": "Pareto chart", "png": f"{PARETO}.png", "svg": f"{PARETO}.svg"})

    series: list[tuple[str, list[float]]] = []
    for t in decision.targets:
        doc = measurements.get(t.target)
        if not doc:
            continue
        rounds = doc.samples.latency_rounds_ms
        if not series and rounds.get("baseline"):
            series.append(("baseline", _flat(rounds["baseline"])))
        if rounds.get("candidate"):
            series.append((t.target, _flat(rounds["candidate"])))
    if series:
        fig, ax = plt.subplots(figsize=(7, 1.2 + 0.5 * len(series)))
        ax.boxplot([s for _, s in series], orientation="horizontal", tick_labels=[n for n, _ in series],
                   showfliers=True, flierprops={"markersize": 2})
        ax.set_xlabel("latency per run (ms), timed runs of every round")
        ax.set_title(f"{decision.model}: latency distributions (the baseline from the first target's job)",
                     fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        for ext in ("png", "svg"):
            fig.savefig(folder / f"{LATENCY}.{ext}", dpi=110)
        plt.close(fig)
        written.append({"title": "Latency distributions", "png": f"{LATENCY}.png", "svg": f"{LATENCY}.svg"})
    return written
