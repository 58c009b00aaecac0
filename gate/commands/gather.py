"""``gate gather DIR``: put the matrix legs' downloaded measurements back in place.

``DIR`` holds one folder per leg artifact, named ``edge-gate.<model>.<target>`` (what
actions/download-artifact writes), each with that leg's ``measurements.json`` (and its
``candidate/`` folder, for ``gate record``). Each is copied, unread and unjudged, to
``build/gate/<model>/targets/<target>/``;
``gate decide`` then judges it. A leg that never reported has no folder, so its target stays
unmeasured and ``gate decide`` makes it an ERROR; stale files from an earlier run in the same
workspace are removed first, so they cannot stand in for a missing leg.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from gate.errors import ConfigError, ExitCode


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("gather", help="place downloaded matrix-leg measurements for `gate decide`")
    p.add_argument("legs", type=Path, help="folder with one edge-gate.<model>.<target>/ per leg")


def run(args: argparse.Namespace) -> int:
    from gate import layout
    from gate.plan.matrix import parse_artifact_name

    if not args.legs.is_dir():
        raise ConfigError(f"{args.legs} is not a folder of downloaded leg artifacts")
    root = Path.cwd()
    for stale in (root / layout.OUT_ROOT).glob("*/targets/*/measurements.json"):
        stale.unlink()
    placed = 0
    for folder in sorted(p for p in args.legs.iterdir() if p.is_dir()):
        names = parse_artifact_name(folder.name)
        src = folder / "measurements.json"
        if names is None or not src.is_file():
            print(f"skipped {folder.name}: not an edge-gate leg artifact with measurements.json")
            continue
        dest = root / layout.measurements_file(*names)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        if (folder / "candidate").is_dir():
            shutil.rmtree(dest.parent / "candidate", ignore_errors=True)
            shutil.copytree(folder / "candidate", dest.parent / "candidate")
        placed += 1
        print(f"placed {dest.relative_to(root)}")
    print(f"gathered {placed} leg(s)")
    return ExitCode.PASS
