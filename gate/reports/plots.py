"""Plots beside the report: the Pareto chart and per-candidate latency distributions.

Written by ``gate decide`` as PNG and SVG into the decision folder (``build/gate/<model>/``),
linked from ``report.md`` and attached to the MLflow run by ``gate record`` with the rest of
the decision folder. Plots read the decision and the measurements; they never compute a
verdict. matplotlib is imported inside :func:`write_plots` with the non-interactive Agg
backend, so nothing opens a window on a CI runner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gate.verdict.decision import Decision

PARETO = "pareto"
LATENCY = "latency"


def _flat(rounds: Any) -> list[float]:
    """Timed latencies (ms) from ``samples.latency_rounds_ms[role]``: a list of rounds, or one list."""
    out: list[float] = []
    for r in rounds or []:
        out.extend(float(x) for x in (r if isinstance(r, list) else [r]))
    return out


def write_plots(decision: Decision, measurements: dict[str, Any], folder: Path) -> list[dict[str, str]]:
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
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for t in points:
            p = t.point or {}
            marker = "*" if t.recommended else ("D" if t.on_frontier else "o")
            color = "tab:green" if t.verdict.value in ("pass", "waived") else "tab:red"
            size = 40 + 400 * max(p["memory_cut"], 0.0)
            ax.scatter(p["speedup"], p["fidelity"], s=size, marker=marker, c=color, alpha=0.7,
                       edgecolors="black" if t.on_frontier else "none")
            ax.annotate(f"{t.target}\nmem cut {p['memory_cut']:.0%}", (p["speedup"], p["fidelity"]),
                        textcoords="offset points", xytext=(6, 4), fontsize=7)
        ax.set_xlabel("speed-up (baseline p50 / candidate p50)")
        ax.set_ylabel("fidelity (candidate / baseline primary metric)")
        ax.set_title(f"{decision.model}: candidates (diamond: frontier, star: recommended, size: memory cut, "
                     "green: passes)", fontsize=8)
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
        rounds = (doc.get("samples") or {}).get("latency_rounds_ms") or {}
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
