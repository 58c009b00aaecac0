"""``gate gather DIR``: put the matrix legs' downloaded measurements back in place.

``DIR`` holds one folder per leg artifact, named ``edge-gate.<model>.<target>`` (what
actions/download-artifact writes), each with that leg's ``measurements.json`` (and its
``candidate/`` folder, for ``gate record``). Each is copied, unread and unjudged, to
``build/gate/<model>/targets/<target>/``;
``gate decide`` then judges it. A leg that never reported has no folder, so its target stays
unmeasured and ``gate decide`` makes it an ERROR.

Nothing is deleted that is not replaced: a folder without any leg artifact is bad input
(exit 2) and changes nothing, and measurements already in place that no leg replaced are
kept and named on the output, so that a stale file is visible, not silently lost or judged
as this run's. (CI jobs start from a clean workspace, where there are none.)
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
    legs = []
    for folder in sorted(p for p in args.legs.iterdir() if p.is_dir()):
        names = parse_artifact_name(folder.name)
        if names is None or not (folder / "measurements.json").is_file():
            print(f"skipped {folder.name}: not an edge-gate leg artifact with measurements.json")
            continue
        legs.append((folder, names))
    if not legs:
        raise ConfigError(f"{args.legs} holds no edge-gate leg artifact (edge-gate.<model>.<target>/"
                          f"measurements.json); nothing was gathered and nothing was changed")
    replaced = {root / layout.measurements_file(*names) for _, names in legs}
    for kept in sorted(set((root / layout.OUT_ROOT).glob("*/targets/*/measurements.json")) - replaced):
        print(f"kept {kept.relative_to(root)}: no leg of this run replaced it")
    placed = 0
    for folder, names in legs:
        src = folder / "measurements.json"
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
