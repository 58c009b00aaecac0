"""The per-rule table on a terminal or in a CI log (rich).

Every text that a manifest, policy or measurement can carry goes through
:func:`gate.reports.escaping.terminal`: one line, markup escaped.
"""

from __future__ import annotations

from gate.reports.escaping import terminal as esc
from gate.reports.markdown import fmt, interval
from gate.verdict.decision import Decision

STYLES = {"pass": "green", "fail": "red", "error": "bold red", "inconclusive": "yellow", "waived": "yellow"}


def print_decision(decision: Decision) -> None:
    """Print one table per target and the final verdict on stdout."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, width=max(120, Console().width))
    for t in decision.targets:
        style = STYLES[t.verdict.value]
        title = f"{esc(decision.model)} · {esc(t.target_id)} · [{style}]{t.verdict.value.upper()}[/]"
        if t.error:
            console.print(f"{title}\n  [bold red]error:[/] {esc(t.error)}")
            continue
        table = Table(title=title, title_justify="left")
        for col in ("rule", "metric", "baseline", "candidate", "value", "threshold", "verdict"):
            table.add_column(col, justify="right" if col in ("baseline", "candidate", "value") else "left")
        for r in t.rules:
            table.add_row(esc(r.rule), esc(r.metric), fmt(r.baseline, r.metric), fmt(r.candidate, r.metric),
                          f"{r.compare} {fmt(r.value)}{interval(r)}", esc(r.bound),
                          f"[{STYLES[r.verdict.value]}]{r.verdict.value.upper()}[/]")
        console.print(table)
        for r in t.rules:
            if r.verdict.value != "pass":
                console.print(f"  {esc(r.rule)}: {esc(r.reason)}")
    for note in decision.notes:
        console.print(f"note: {esc(note)}")
    if decision.frontier:
        console.print(f"Pareto frontier: {esc(', '.join(decision.frontier))}; recommendation: "
                      f"{esc(decision.recommendation or 'none')} ({esc(decision.recommendation_reason)})")
    style = STYLES[decision.verdict.value]
    console.print(f"[bold]verdict for {esc(decision.model)}: [{style}]{decision.verdict.value.upper()}[/][/] "
                  f"(exit code {decision.exit_code})")
