"""Every script under benchmarks/ runs end to end on small inputs, so an API change breaks a
test rather than a benchmark. The figures themselves are not asserted here (they belong to
`benchmarks/`, run on a quiet machine); only that each script prints its figures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gate.backends import get_backend
from gate.backends.base import Artifact, BuildContext
from tests.unit import ov_tiny

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"


def run_script(name: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # this checkout's gate, also from a worktree
    proc = subprocess.run([sys.executable, str(BENCH / name), *args], cwd=REPO, capture_output=True, text=True,
                          check=False, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


def test_every_benchmark_has_a_smoke_test() -> None:
    covered = {"noise_harness.py", "openvino_benchmark_app.py"}
    assert {p.name for p in BENCH.glob("*.py")} == covered


def test_noise_harness_prints_its_table() -> None:
    out = run_script("noise_harness.py", "--runs", "3")
    assert re.search(r"2\.2", out), out


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_openvino_benchmark_app_prints_the_ratio(tmp_path: Path) -> None:
    base = tmp_path / "baseline"
    ov_tiny.export(base / "model.onnx", dynamic=False)
    Artifact.describe(base, fmt="onnx", backend="onnxruntime", precision="fp32", entry="model.onnx").write(base)
    inputs = ov_tiny.inputs_npz(tmp_path / "inputs.npz")
    ctx = BuildContext(task="sentence-embedding", calibration_inputs=inputs,
                       input={"batch_size": 1, "sequence_length": ov_tiny.SEQ, "dynamic_axes": []},
                       primary_metric="nn10_overlap")
    ir = tmp_path / "ir"
    get_backend("openvino").make_baseline(base / "model.onnx", ctx, ir).write(ir)
    out = run_script("openvino_benchmark_app.py", str(ir), "--inputs", str(inputs), "--task", "sentence-embedding",
                     "--seconds", "1", "--runs", "20", "--repeats", "1")
    ratio = re.search(r"ratio gate / benchmark_app: ([0-9.]+)", out)
    assert ratio is not None and float(ratio.group(1)) > 0, out
