"""``gate decide``: apply each manifest's policy to its measurements; write and print reports.

Writes ``build/gate/<model>/decision.json``, ``report.md`` (with the Pareto frontier, the
recommendation and troubleshooting hints) and ``certificate.json``, the plots ``pareto`` and
``latency`` (PNG and SVG), prints the per-rule tables,
and exits with each decision's own exit code (:func:`gate.verdict.decision.exit_code_for`:
0 pass, 1 blocked, 3 a target could not be measured), the worst over all manifests given.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gate.errors import ExitCode


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("decide", help="apply the policy to the measurements; exit 0 pass, 1 blocked, 3 error")
    p.add_argument("manifests", nargs="*", type=Path, help="default: every gate.yaml in the repository")
    p.add_argument("--policy", type=Path, help="use this policy file instead of the manifests' own")
    p.add_argument("--quiet", action="store_true", help="do not print the tables")


def run(args: argparse.Namespace) -> int:
    from gate import layout
    from gate.config.loading import load_pair
    from gate.documents import Measurements, write_json_atomic
    from gate.plan.dvcfile import find_manifests
    from gate.reports.certificate import certificate
    from gate.reports.markdown import render_markdown
    from gate.reports.plots import write_plots
    from gate.reports.terminal import print_decision
    from gate.verdict.decision import decide
    from gate.verdict.troubleshoot import hints_for

    root = Path.cwd()
    paths = args.manifests or find_manifests(root)
    if not paths:
        print(f"no gate.yaml manifests under {root}")
        return ExitCode.BAD_INPUT
    pairs = [load_pair(p, args.policy) for p in paths]  # every input is valid before deciding
    code = ExitCode.PASS
    for loaded, policy in pairs:
        # A decision.json exists only for a decision that completed: the previous one goes
        # first, the new one is written last (atomically), after the report it summarises.
        (root / layout.decision_file(loaded.manifest.name)).unlink(missing_ok=True)
        decision = decide(loaded, policy, root)
        measurements = {}
        for t in decision.targets:
            if t.measurements and t.error is None:
                measurements[t.target] = Measurements.read(root / t.measurements)
        write_json_atomic(root / layout.certificate_file(decision.model), certificate(decision, measurements))
        report = root / layout.report_file(decision.model)
        hints = {t.target: hints_for(t.rules, measurements[t.target]) for t in decision.targets
                 if t.target in measurements}
        plots = write_plots(decision, measurements, report.parent)
        report.write_text(render_markdown(decision, measurements, hints=hints, plots=plots))
        write_json_atomic(root / layout.decision_file(decision.model), decision.dump())
        if not args.quiet:
            print_decision(decision)
            print(f"decision: {layout.decision_file(decision.model)}  report: {layout.report_file(decision.model)}")
        code = max(code, ExitCode(decision.exit_code))
    return code
