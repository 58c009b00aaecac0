"""``gate plan``: render dvc.yaml and gate-params.yaml for the manifests in the repository."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from gate.errors import ExitCode


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("plan", help="render dvc.yaml (and gate-params.yaml) from the manifests")
    p.add_argument("manifests", nargs="*", type=Path, help="default: every gate.yaml in the repository")
    p.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")
    p.add_argument("--check", action="store_true", help="exit 1 if the files are not up to date")
    p.add_argument("--matrix", action="store_true",
                   help="print the CI matrix of (manifest, target) legs as JSON; write nothing")
    p.add_argument("--verify", action="store_true",
                   help="(DVC stage plan-<model>) exit 2 unless gate-params.yaml matches each manifest; "
                        "write build/gate/<model>/plan-checked.txt")


def run(args: argparse.Namespace) -> int:
    from gate.config.loading import load_pair
    from gate.plan.dvcfile import check_unique_names, ensure_dvc_config, find_manifests, write_plan

    root = args.root.resolve()
    paths = args.manifests or find_manifests(root)
    if not paths:
        if args.matrix:  # nothing to run is an empty matrix, not an error
            print('{"include":[]}')
            return ExitCode.PASS
        print(f"no gate.yaml manifests under {root}")
        return ExitCode.BAD_INPUT
    pairs = [load_pair(p) for p in paths]
    check_unique_names([m for m, _ in pairs])
    if args.verify:
        return _verify(pairs, root)
    if args.matrix:
        import json

        from gate.plan.matrix import matrix_legs

        print(json.dumps(matrix_legs([m for m, _ in pairs], root), separators=(",", ":")))
        return ExitCode.PASS
    changed = write_plan(pairs, root, check=args.check)
    if not args.check and ensure_dvc_config(root):
        print("set core.analytics and core.check_update to false in .dvc/config")
    for path in changed:
        print(f"{'stale' if args.check else 'wrote'} {path.relative_to(root)}")
    if not changed:
        print("plan is up to date")
    return ExitCode.BLOCKED if (args.check and changed) else ExitCode.PASS


def _verify(pairs: list[tuple[Any, Any]], root: Path) -> int:
    """Raise ConfigError (exit 2) naming the first stale key, else write each model's check file.

    The file's text is the same on every run, so the stages after it only rerun for their own
    reasons.
    """
    from gate import layout
    from gate.plan.dvcfile import check_fresh

    for loaded, policy in pairs:
        check_fresh(loaded, policy, root)
        out = root / layout.plan_check_file(loaded.manifest.name)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(f"{layout.PARAMS_FILE} matches the manifest of {loaded.manifest.name}\n")
        print(f"{loaded.manifest.name}: {layout.PARAMS_FILE} matches {os.path.relpath(loaded.path, root)}")
    return ExitCode.PASS
