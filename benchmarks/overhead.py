"""The gate's own overhead: ``gate validate``, ``gate plan`` and a no-op ``gate repro``, beside ``dvc status``.

Usage::

    python benchmarks/overhead.py [--manifests 100] [--targets 5] [--runs 5] [--example mobilenet-v2]

Builds a temporary git + DVC repository holding ``--manifests`` copies of
``examples/<example>`` (each with ``--targets`` targets, made from the example's own by name
and calibration size) and the policies, then times, each ``--runs`` times, in blocks that
alternate so a slow phase of a shared machine does not land on one command only:

* ``gate validate`` of one manifest;
* ``gate plan`` of every manifest (the plan is written once before; later runs find it up to
  date, which still loads and renders every manifest);
* ``dvc status`` of the whole plan (DVC's own cost of reading the same pipeline);
* a no-op ``gate repro baseline-<first>`` (the first manifest's baseline is built once,
  untimed, so the timed runs find it up to date) beside ``dvc status baseline-<first>``.

Each command is a fresh process, as CI runs it. Prints the load average before and after,
and per command the median and the range (seconds).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]


def load_text() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def make_repo(root: Path, example: str, manifests: int, targets: int) -> list[str]:
    """Write the repository; returns the manifests' model names."""
    src = REPO / "examples" / example
    spec: dict[str, Any] = yaml.safe_load((src / "gate.yaml").read_text())
    names = []
    for i in range(manifests):
        folder = root / "models" / f"m{i:03d}"
        shutil.copytree(src, folder, ignore=shutil.ignore_patterns("make_eval.py", "__pycache__"))
        doc = dict(spec, name=f"{spec['name']}-{i:03d}")
        made = []
        for k in range(targets):
            t = dict(spec["targets"][k % len(spec["targets"])])
            t["name"] = f"{t['name']}-{k}"
            recipe = dict(t.get("recipe", {}))
            if "calibration_size" in recipe:
                recipe["calibration_size"] = int(recipe["calibration_size"]) + k
            t["recipe"] = recipe
            made.append(t)
        doc["targets"] = made
        (folder / "gate.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        names.append(doc["name"])
    shutil.copytree(REPO / "policies", root / "policies")
    return names


def sh(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Run one command; returns its wall seconds. A failing command stops the benchmark."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return took


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifests", type=int, default=100)
    p.add_argument("--targets", type=int, default=5)
    p.add_argument("--runs", type=int, default=5, help="timed runs of each command")
    p.add_argument("--example", default="mobilenet-v2", help="folder under examples/ to copy")
    args = p.parse_args()
    bindir = Path(sys.executable).parent
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "MLFLOW_DISABLE_TELEMETRY": "true",
           "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    gate, dvc = str(bindir / "gate"), str(bindir / "dvc")
    before = load_text()
    with tempfile.TemporaryDirectory(prefix="gate-bench-overhead-") as tmp:
        root = Path(tmp)
        names = make_repo(root, args.example, args.manifests, args.targets)
        for argv in (["git", "init", "-q", "-b", "main"], ["git", "config", "user.email", "bench@edge-gate.invalid"],
                     ["git", "config", "user.name", "bench"], [dvc, "init", "-q"],
                     [dvc, "config", "core.site_cache_dir", str(root / ".dvc" / "site-cache")], [gate, "plan"],
                     ["git", "add", "-A"], ["git", "commit", "-q", "-m", "bench"]):
            sh(argv, root, env)
        first = f"baseline-{names[0]}"
        built = sh([gate, "repro", first], root, env)  # untimed: builds what the no-op runs find
        commands = {
            "gate validate (1 manifest)": [gate, "validate", "models/m000/gate.yaml"],
            f"gate plan ({args.manifests} manifests x {args.targets} targets)": [gate, "plan"],
            "dvc status (whole plan)": [dvc, "status"],
            f"gate repro {first} (no-op)": [gate, "repro", first],
            f"dvc status {first}": [dvc, "status", first],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):  # alternate the commands run by run
            for name, argv in commands.items():
                times[name].append(sh(argv, root, env))
    print(f"overhead: {args.manifests} manifests x {args.targets} targets of examples/{args.example}, "
          f"{args.runs} runs each; load average before {before}, after {load_text()}; "
          f"first baseline built in {built:.1f} s (untimed)")
    width = max(len(n) for n in times)
    for name, values in times.items():
        print(f"{name:<{width}}  median {statistics.median(values):7.3f} s  "
              f"(min {min(values):.3f}, max {max(values):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
