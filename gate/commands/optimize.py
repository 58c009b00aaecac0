"""``gate optimize MANIFEST --target T``: DVC stage that builds one target's candidate."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from gate.errors import ExitCode


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("optimize", help="(DVC stage) build the candidate artifact of one target")
    p.add_argument("manifest", type=Path)
    p.add_argument("--target", required=True)


def run(args: argparse.Namespace) -> int:
    from gate import layout, progress
    from gate.backends import get_backend
    from gate.commands.baseline import build_context
    from gate.loading import load_pair
    from gate.plan import check_fresh

    loaded, policy = load_pair(args.manifest)
    root = Path.cwd()
    check_fresh(loaded, policy, root)
    target = loaded.target(args.target)
    name = loaded.manifest.name
    out = root / layout.candidate_dir(name, target.name)
    shutil.rmtree(out, ignore_errors=True)
    backend = get_backend(target.backend)
    with progress.step(f"{name}: optimizing {target.target_id()}"):
        artifact = backend.optimize(
            root / layout.baseline_dir(name), loaded.recipes[target.name],
            build_context(loaded, root / layout.inputs_file(name)), out,
        )
    artifact.details["config_hash"] = loaded.config_hash(target.name)
    artifact.details["target_id"] = target.target_id()
    artifact.write(out)
    progress.log(f"{name}: candidate {target.name} {artifact.size_bytes} bytes ({artifact.precision})")
    return ExitCode.PASS
