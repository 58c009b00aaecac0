"""Markdown report (PR comment, step summary), rendered from ``templates/report.md.j2``.

Text that comes from manifests (names, descriptions, waiver reasons) is escaped, so a manifest
cannot inject markup or links into the PR comment.
"""

from __future__ import annotations

import re
from typing import Any

from gate.documents import Decision, Measurements

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~&])")
ICONS = {"pass": "✅ PASS", "fail": "❌ FAIL", "error": "🛑 ERROR", "inconclusive": "❔ INCONCLUSIVE",
         "waived": "⚠️ WAIVED"}


def escape(text: object) -> str:
    """Escape markdown and HTML specials; newlines become spaces (table cells are one line)."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ").replace("\r", " ")


def code(text: object) -> str:
    """An inline code span: nothing inside is markup, so only backticks and newlines change."""
    return "`" + str(text).replace("`", "'").replace("\n", " ").replace("\r", " ") + "`"


def fmt(value: float | None, metric: str = "") -> str:
    """A figure with its unit: bytes as MB, ms with 3 significant digits, ratios as 4."""
    if value is None:
        return "—"
    if metric.endswith("_bytes"):
        return f"{value / 1e6:.1f} MB"
    if metric.endswith("_ms"):
        return f"{value:.3g} ms"
    if metric.endswith("_per_s"):
        return f"{value:.1f}/s"
    return f"{value:.4g}"


def interval(r: object) -> str:
    """``[low, high]`` of a rule result with an interval, else the empty string."""
    low, high = getattr(r, "low", None), getattr(r, "high", None)
    if low is None or high is None or low == high:
        return ""
    return f" [{low:.4g}, {high:.4g}]"


def render_markdown(decision: Decision, measurements: dict[str, Measurements] | None = None,
                    hints: dict[str, dict[str, list[Any]]] | None = None,
                    plots: list[dict[str, str]] | None = None) -> str:
    """The report as markdown: per platform which candidate ships and why the others do not
    (with the nearest miss where nothing ships), the Pareto table, each target's rules.
    ``measurements`` maps target name to its measurements;
    ``hints`` maps target -> rule id -> troubleshooting hints (:mod:`gate.verdict.troubleshoot`);
    ``plots`` lists ``{"title", "png", "svg"}`` paths relative to the report."""
    from gate.templating import render

    return render("report.md.j2", d=decision, m=measurements or {}, esc=escape, code=code, fmt=fmt, icons=ICONS,
                  interval=interval, hints=hints or {}, plots=plots or [])
