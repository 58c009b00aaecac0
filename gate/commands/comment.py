"""``gate comment BODY_FILE``: create or update the sticky PR comment (see :mod:`gate.github`).

Always exits 0 once the body is read: a comment that cannot be posted (a fork's read-only
token, an API outage) is a ``::warning::``, never the check's outcome.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gate.errors import ConfigError, ExitCode


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("comment", help="create or update the sticky pull-request comment")
    p.add_argument("body", type=Path, help="markdown file with the comment body")


def run(args: argparse.Namespace) -> int:
    from gate.github import comment_from_env

    if not args.body.is_file():
        raise ConfigError(f"comment body {args.body} does not exist")
    outcome = comment_from_env(args.body.read_text(encoding="utf-8"))
    if outcome.action == "skipped":
        print(f"::warning title=edge-gate::PR comment not posted: {outcome.reason}; "
              "the job summary carries the report")
    else:
        print(f"PR comment {outcome.action}: {outcome.url or outcome.comment_id}")
    return ExitCode.PASS
