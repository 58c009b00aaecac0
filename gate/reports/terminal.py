"""The per-rule table on a terminal or in a CI log (rich).

Every text that a manifest, policy or measurement can carry goes through
:func:`gate.reports.escaping.terminal`: one line, markup escaped.
"""

from __future__ import annotations

from gate.documents import Decision
from gate.reports.escaping import terminal as esc
from gate.reports.markdown import fmt, interval

STYLES = {"pass": "green", "fail": "red", "error": "bold red", "inconclusive": "yellow", "waived": "yellow"}


def print_decision(decision: Decision) -> None:
    """Print one table per target, the release per platform (which candidate ships, why the
    others do not, the nearest miss where nothing ships) and the final verdict on stdout."""
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
    for p in decision.platforms:
        pstyle = STYLES[p.verdict.value]
        console.print(f"platform {esc(p.platform)}: [{pstyle}]{p.verdict.value.upper()}[/], "
                      f"ships {esc(p.release or 'nothing')} ({esc(p.reason)})")
        for name in p.candidates:
            found = decision.target(name)
            if found is not None:
                console.print(f"  {esc(name)}: {'ships' if found.ships else esc(found.why_not)}")
        if p.nearest_miss is not None:
            margins = ", ".join(f"{esc(m.rule)} {m.margin:+.4g}" for m in p.nearest_miss.rules
                                if m.margin is not None and m.verdict.value in ("fail", "inconclusive"))
            console.print(f"  nearest miss {esc(p.nearest_miss.target)}: {margins}")
    style = STYLES[decision.verdict.value]
    console.print(f"[bold]verdict for {esc(decision.model)}: [{style}]{decision.verdict.value.upper()}[/][/] "
                  f"(exit code {decision.exit_code})")
