"""``gate figures MANIFEST --target T``: DVC stage that writes the target's DVC metrics and plots.

The files and their fields are :mod:`gate.plan.stage_figures`'s; ``dvc metrics show`` and
``dvc plots show`` read them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gate.errors import ExitCode


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("figures", help="(DVC stage) write one target's rule values and plots for dvc metrics/plots")
    p.add_argument("manifest", type=Path)
    p.add_argument("--target", required=True)


def run(args: argparse.Namespace) -> int:
    from gate.config.loading import load_pair
    from gate.plan.dvcfile import check_fresh
    from gate.plan.stage_figures import write_figures

    loaded, policy = load_pair(args.manifest)
    root = Path.cwd()
    check_fresh(loaded, policy, root)
    paths = write_figures(loaded, policy, loaded.target(args.target), root)
    for rel in paths.values():
        print(f"wrote {rel}")
    return ExitCode.PASS
