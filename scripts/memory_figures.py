"""The memory figures a deployment could mean, per artifact, each read in fresh processes.

Usage::

    python scripts/memory_figures.py --inputs build/gate/M/inputs.npz --task T \\
        [--threads 2] [--processes 3] [--runs 20] ARTIFACT_DIR...

Each ARTIFACT_DIR (a baseline or candidate folder with ``artifact.json``) is opened by a fresh
``gate.measure.worker`` process, exactly as ``gate measure`` opens it (the runtime is imported
before the first reading), then runs 10 warm-up and ``--runs`` timed inferences. Per process
it reads RSS before load, RSS right after load, the peak (VmHWM) and RSS after serving, and
prints the median over ``--processes`` fresh processes (MB = 10^6 bytes) of:

* ``peak``: peak RSS - RSS before load (what the seed's memory rule, ``model_memory_bytes``,
  uses): the most the model ever held, load included;
* ``loaded``: RSS after load - RSS before load;
* ``serving``: RSS after the timed runs - RSS before load: resident while serving;
* ``size``: the artifact's files on disk.

``--ort-load-paths`` adds, for each ONNX Runtime artifact, two other ways a device could load
it, each in fresh processes that read the same figures around ``InferenceSession``: the model
pre-optimized offline (ORT's ``optimized_model_filepath``, saved once, then loaded with graph
optimization off, so load does not transform the graph) and the default load with the CPU
memory arena off (``enable_cpu_mem_arena=False``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any


def one_process(artifact: Path, inputs: Path, task: str, threads: int, runs: int) -> dict[str, int]:
    """Open ``artifact`` in a fresh worker; returns ``before``, ``loaded``, ``peak``, ``serving`` (bytes)."""
    backend = json.loads((artifact / "artifact.json").read_text())["backend"]
    cmd = [sys.executable, "-m", "gate.measure.worker", "--backend", backend, "--artifact", str(artifact),
           "--inputs", str(inputs), "--task", task, "--threads", str(threads)]
    requests = [{"op": "load"}, {"op": "time", "warmup": 10, "runs": runs}, {"op": "peak"}, {"op": "exit"}]
    proc = subprocess.run(cmd, input="".join(json.dumps(r) + "\n" for r in requests), capture_output=True,
                          text=True, check=False, timeout=600)
    replies: list[dict[str, Any]] = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or len(replies) != len(requests) or any("error" in r for r in replies):
        raise SystemExit(f"{artifact}: worker failed (exit {proc.returncode}): {proc.stdout[-500:]} "
                         f"{proc.stderr[-1500:]}")
    load, _, peak, _ = replies
    before = int(load["rss_before_load_bytes"])
    return {"before": before, "loaded": int(load["rss_after_load_bytes"]) - before,
            "peak": int(peak["peak_rss_bytes"]) - before, "serving": int(peak["rss_bytes"]) - before}


_ORT_CHILD = """
import json, sys, time, numpy as np, onnxruntime as ort, psutil
from pathlib import Path
path, inputs, task, threads, runs, mode = sys.argv[1:7]
import importlib
from gate.tasks import get_task
mod = importlib.import_module(get_task(task).module)
inputs = dict(np.load(inputs))  # held for the process's life, as the worker holds them
feeds = mod.latency_feeds(inputs)
def hwm():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
proc = psutil.Process()
try:  # reset the high-water mark to the current RSS (Linux >= 4.0), so the peak is this load's
    Path("/proc/self/clear_refs").write_text("5")
except OSError:
    pass
before = proc.memory_info().rss
opts = ort.SessionOptions()
opts.intra_op_num_threads, opts.inter_op_num_threads = int(threads), 1
opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
if mode == "preoptimized":
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
if mode == "no-arena":
    opts.enable_cpu_mem_arena = False
s = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
loaded = proc.memory_info().rss
names = [i.name for i in s.get_inputs()]
for _ in range(10 + int(runs)):
    s.run(None, {n: feeds[n] for n in names})
print(json.dumps({"before": before, "loaded": loaded - before, "peak": hwm() - before,
                  "serving": proc.memory_info().rss - before}))
"""


def ort_load_path(artifact: Path, inputs: Path, task: str, threads: int, runs: int, mode: str,
                  tmp: Path) -> dict[str, int]:
    """One fresh process loading an ONNX Runtime artifact as ``mode`` says (``preoptimized`` or
    ``no-arena``); same figures as :func:`one_process`."""
    entry = artifact / json.loads((artifact / "artifact.json").read_text())["entry"]
    path = entry
    if mode == "preoptimized":
        path = tmp / f"{artifact.name}-optimized.onnx"
        if not path.exists():  # optimize offline once, in its own process
            save = ("import onnxruntime as ort, sys; o = ort.SessionOptions(); "
                    "o.optimized_model_filepath = sys.argv[2]; "
                    "ort.InferenceSession(sys.argv[1], sess_options=o, providers=['CPUExecutionProvider'])")
            subprocess.run([sys.executable, "-c", save, str(entry), str(path)], check=True, timeout=600)
    proc = subprocess.run([sys.executable, "-c", _ORT_CHILD, str(path), str(inputs), task, str(threads), str(runs),
                           mode], capture_output=True, text=True, check=False, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"{artifact} ({mode}): {proc.stderr[-1500:]}")
    return {k: int(v) for k, v in json.loads(proc.stdout.strip().splitlines()[-1]).items()}


def _row(label: str, samples: list[dict[str, int]], size: float) -> str:
    med = {k: statistics.median(s[k] for s in samples) / 1e6 for k in ("peak", "loaded", "serving")}
    each = ", ".join(f"{s['peak'] / 1e6:.1f}" for s in samples)
    return (f"{label[-48:]:<48} {med['peak']:>8.1f} {med['loaded']:>9.1f} {med['serving']:>10.1f} "
            f"{size:>8.1f}  [{each}]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifacts", nargs="+", type=Path)
    parser.add_argument("--inputs", required=True, type=Path)
    parser.add_argument("--task", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--ort-load-paths", action="store_true", help="also pre-optimized and arena-off loads")
    args = parser.parse_args(argv)
    print(f"{'artifact':<48} {'peak MB':>8} {'loaded MB':>9} {'serving MB':>10} {'size MB':>8}  per-process peak MB")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for artifact in args.artifacts:
            desc = json.loads((artifact / "artifact.json").read_text())
            size = sum(f["size_bytes"] for f in desc["files"]) / 1e6
            samples = [one_process(artifact, args.inputs, args.task, args.threads, args.runs)
                       for _ in range(args.processes)]
            print(_row(str(artifact), samples, size))
            if args.ort_load_paths and desc["format"] == "onnx":
                for mode in ("preoptimized", "no-arena"):
                    samples = [ort_load_path(artifact, args.inputs, args.task, args.threads, args.runs, mode, Path(tmp))
                               for _ in range(args.processes)]
                    print(_row(f"  {mode}", samples, size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
