"""GitHub workflow-command annotations (``::error file=...,line=...::message``).

GitHub shows at most 10 error and 10 warning annotations per step
(https://docs.github.com/en/actions/using-workflows/workflow-commands-for-github-actions#setting-an-error-message),
so findings come worst first (ERROR, FAIL, then INCONCLUSIVE, WAIVED), capped per level, and
one closing ``::notice::`` line counts them all and points at the job summary. Values are
escaped as the runner expects (``%``, CR, LF in messages; also ``:`` and ``,`` in properties).
"""

from __future__ import annotations

from gate.reports.collect import Finding, Reported, findings

#: GitHub's per-step display limit for each of errors and warnings.
MAX_PER_LEVEL = 10
LEVELS = {"error": "error", "fail": "error", "inconclusive": "warning", "waived": "warning"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(f: Finding) -> str:
    """One workflow command for ``f``, located at the target's entry in the manifest."""
    level = LEVELS[f.kind]
    title = f"edge-gate {f.kind.upper()}: {f.model} {f.target_id}"
    return (f"::{level} file={_prop(f.file)},line={f.line},col={f.column},title={_prop(title)}::"
            f"{_data(f.message)}")


def render_annotations(reported: list[Reported]) -> list[str]:
    """The annotation lines for the run: at most 10 per level, then one summary notice."""
    lines: list[str] = []
    shown = {"error": 0, "warning": 0}
    all_findings = findings(reported)
    for f in all_findings:
        level = LEVELS[f.kind]
        if shown[level] < MAX_PER_LEVEL:
            shown[level] += 1
            lines.append(annotation(f))
    total = {lvl: sum(1 for f in all_findings if LEVELS[f.kind] == lvl) for lvl in shown}
    hidden = sum(total.values()) - sum(shown.values())
    summary = (f"edge-gate: {total['error']} error(s), {total['warning']} warning(s) over "
               f"{len(reported)} manifest(s)")
    if hidden:
        summary += f"; {hidden} not shown as annotations"
    lines.append(f"::notice title=edge-gate::{_data(summary + '; the full report is in the job summary')}")
    return lines
