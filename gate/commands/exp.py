"""``gate exp run -S <model>.<key>=<value> ... [--name NAME]``: a DVC experiment on a manifest edit.

Writes each ``-S`` value into its manifest (:mod:`gate.plan.overrides`), checks every manifest
still loads (else restores them and exits 2), plans again, then runs ``dvc exp run`` (``--name``
passed on): the experiment's commit holds the edited manifest, the new plan and the
outputs it rebuilt; the workspace keeps the edit, as ``dvc exp run -S`` keeps its params edit.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

from gate.errors import ConfigError, ExitCode, GateError, InfrastructureError


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("exp", help="dvc exp run with -S values written into the manifests (re-plans first)")
    p.add_argument("action", choices=["run"])
    p.add_argument("-S", "--set-param", dest="overrides", action="append", default=[],
                   metavar="[gate-params.yaml:]MODEL.KEY=VALUE", help="a manifest value to change (repeatable)")
    p.add_argument("-n", "--name", help="the experiment's name (`dvc exp run --name`)")


def run(args: argparse.Namespace) -> int:
    from gate.commands.repro import planned_manifests, replan
    from gate.config.loading import load_pair
    from gate.plan.overrides import apply_override, parse_override

    root = Path.cwd()
    overrides = [parse_override(o) for o in args.overrides]
    manifests = {load_pair(p)[0].manifest.name: p for p in planned_manifests(root)}
    originals: dict[Path, str] = {}
    try:
        for o in overrides:
            if o.model not in manifests:
                raise ConfigError(f"-S: no planned manifest is named {o.model!r} (planned: {', '.join(manifests)})")
            path = manifests[o.model]
            before = apply_override(path, o)
            originals.setdefault(path, before)
        for path in originals:
            load_pair(path)
    except GateError:
        for path, text in originals.items():
            path.write_text(text)
        raise
    for path in originals:
        print(f"set in {path.relative_to(root)}: " + ", ".join(
            f"{'.'.join(o.keys)} = {o.value}" for o in overrides if manifests[o.model] == path), flush=True)
    dvc = shutil.which("dvc")
    if dvc is None:
        raise InfrastructureError("dvc is not installed or not on PATH")
    replan(root)
    extra = ["--name", args.name] if args.name else []
    return ExitCode.PASS if subprocess.run([dvc, "exp", "run", *extra], check=False).returncode == 0 \
        else ExitCode.ERROR
