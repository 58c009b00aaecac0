"""``gate report MANIFEST...``: CI reports of the decisions ``gate decide`` wrote.

Reads ``build/gate/<model>/decision.json`` and ``report.md`` of each manifest and writes any
of: the run's markdown, the job summary (appended, capped at 1 MiB), the PR comment body
(capped at 65,536 characters), JUnit XML, SARIF 2.1.0, GitHub annotations on stdout, and the
step outputs ``verdict``, ``exit-code`` and ``report``. Exits with the check's conclusion
(:func:`gate.reports.collect.conclusion`): 0 pass, 1 blocked, 2 bad input, 3 error.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gate.errors import ExitCode


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("report", help="write CI reports (summary, comment, JUnit, SARIF, annotations)")
    p.add_argument("manifests", nargs="*", type=Path, help="the manifests that were decided")
    p.add_argument("--fail-on", choices=("fail", "inconclusive", "warn"), default="fail",
                   help="also fail on this outcome, besides what the policy blocks: inconclusive, "
                        "warn (waived too), or fail (default: exactly the policy's decision)")
    p.add_argument("--decide-exit-code", type=int, default=0, help="`gate decide`'s exit code")
    p.add_argument("--markdown", type=Path, help="write the full markdown report here")
    p.add_argument("--summary", type=Path, help="append the report, capped at 1 MiB (GITHUB_STEP_SUMMARY)")
    p.add_argument("--comment-body", type=Path, help="write the PR comment body here")
    p.add_argument("--junit", type=Path, help="write JUnit XML here")
    p.add_argument("--sarif", type=Path, help="write SARIF 2.1.0 here")
    p.add_argument("--annotations", action="store_true", help="print GitHub annotations")
    p.add_argument("--github-output", type=Path, help="append verdict/exit-code/report (GITHUB_OUTPUT)")
    p.add_argument("--commit", default="", help="the commit the report is for (named in the header)")
    p.add_argument("--artifact-hint", default="the `edge-gate-report` workflow artifact",
                   help="where the full report is, for truncation notices")


def run(args: argparse.Namespace) -> int:
    from gate.reports.annotations import render_annotations
    from gate.reports.collect import collect, conclusion
    from gate.reports.junit import render_junit
    from gate.reports.sarif import render_sarif
    from gate.reports.summary import STEP_SUMMARY_MAX_BYTES, cap, cap_comment, render_run

    root = Path.cwd()
    reported = collect(args.manifests, root)
    verdict, code = conclusion(reported, args.fail_on, args.decide_exit_code)
    text = render_run(reported, verdict, code, args.fail_on, args.artifact_hint, args.commit)
    markdown = args.markdown or root / "build" / "gate" / "report.md"
    markdown.parent.mkdir(parents=True, exist_ok=True)
    markdown.write_text(text)
    if args.summary:
        with args.summary.open("a", encoding="utf-8") as fh:
            fh.write(cap(text, STEP_SUMMARY_MAX_BYTES, args.artifact_hint) + "\n")
    if args.comment_body:
        args.comment_body.write_text(cap_comment(text, args.artifact_hint))
    if args.junit:
        args.junit.write_text(render_junit(reported))
    if args.sarif:
        args.sarif.write_text(json.dumps(render_sarif(reported), indent=2))
    if args.annotations:
        print("\n".join(render_annotations(reported)))
    if args.github_output:
        with args.github_output.open("a", encoding="utf-8") as fh:
            fh.write(f"verdict={verdict}\nexit-code={code}\nreport={markdown}\n")
    print(f"edge-gate: verdict {verdict}, exit code {code} (fail-on {args.fail_on}); report {markdown}")
    return ExitCode(code)
