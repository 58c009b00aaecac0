"""``gate repro``: plan again if a manifest changed, run ``dvc repro --keep-going``, and map
its failures to the exit contract.

A manifest (or its policy) edited since the last ``gate plan`` is planned again first, and the
files that changed are named, so an edit never reads as "up to date"; an edit that no longer
loads stops here with exit 2 before DVC runs.

``--keep-going`` lets the other targets' stages run when one target's stage fails (that
target is then ERROR in ``gate decide``). A repository locked by another DVC process, or by
one that died holding the lock (shared case C17), is an infrastructure error with its own exit
code (4) and a hint, never a verdict.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from gate.errors import BackendError, ConfigError, ExitCode, InfrastructureError


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("repro", help="run the planned DVC stages (dvc repro --keep-going); exit 4 if DVC is locked")
    p.add_argument("stages", nargs="*", help="DVC stages to reproduce (default: all)")
    p.add_argument("--pull", action="store_true",
                   help="dvc repro --pull: fetch what the run cache restores from the DVC remote")


def run(args: argparse.Namespace) -> int:
    root = Path.cwd()
    if not (root / "dvc.yaml").is_file():
        raise ConfigError(f"no dvc.yaml in {root}", hint="run `gate plan` first")
    dvc = shutil.which("dvc")
    if dvc is None:
        raise InfrastructureError("dvc is not installed or not on PATH")
    replan(root)
    command = [dvc, "repro", "--keep-going", *(["--pull"] if args.pull else []), *args.stages]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None  # PIPE was requested
    seen: list[str] = []
    for line in proc.stdout:
        sys.stdout.write(line)
        seen.append(line)
    code = proc.wait()
    if code == 0:
        return ExitCode.PASS
    from gate.plan.dvcfile import LOCK_MESSAGES

    text = "".join(seen[-50:])
    if any(msg in text for msg in LOCK_MESSAGES):
        raise InfrastructureError(
            "the DVC repository is locked (.dvc/tmp/lock or .dvc/tmp/rwlock): another DVC process runs, "
            "or one died holding it",
            hint="wait for the other process; if none runs, remove .dvc/tmp/lock and .dvc/tmp/rwlock",
        )
    raise BackendError(f"dvc repro failed (exit {code}); the failed targets are ERROR in `gate decide`")


def replan(root: Path) -> list[Path]:
    """Write ``dvc.yaml`` and ``gate-params.yaml`` again when they no longer match the
    manifests they were planned from (the ``gate baseline <manifest>`` commands in
    ``dvc.yaml``, so a plan of some manifests stays a plan of those); returns (and prints) the
    files rewritten.

    Raises:
        ConfigError: a manifest or policy is invalid (exit 2, nothing is run).
    """
    from gate.config.loading import load_pair
    from gate.plan.dvcfile import write_plan

    pairs = [load_pair(p) for p in planned_manifests(root)]
    if not pairs:
        return []
    changed = write_plan(pairs, root, check=True)
    if changed:
        write_plan(pairs, root)
        names = ", ".join(str(p.relative_to(root)) for p in changed)
        print(f"re-planned: {names} did not match the manifests (edited since the last `gate plan`)", flush=True)
    return changed


def planned_manifests(root: Path) -> list[Path]:
    """The manifests ``dvc.yaml`` was planned from (its ``gate baseline <manifest>`` commands)."""
    import shlex

    import yaml

    stages = (yaml.safe_load((root / "dvc.yaml").read_text()) or {}).get("stages") or {}
    return [root / shlex.split(str(body.get("cmd", "")))[-1] for name, body in stages.items()
            if name.startswith("baseline-") and isinstance(body, dict)]
