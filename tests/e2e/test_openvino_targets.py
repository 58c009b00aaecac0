"""The OpenVINO targets of the MiniLM example, from the same `dvc repro` as test_pipeline.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def read(path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(path.read_text())


@pytest.mark.parametrize(("target", "precision"), [("ov-int8", "int8"), ("ov-weights-int8", "int8-weights")])
def test_openvino_candidates_are_measured_in_f32_latency_mode_with_an_accuracy_trail(  # type: ignore[no-untyped-def]
    minilm_repo, target: str, precision: str,
) -> None:
    root, run = minilm_repo
    run("gate", "decide", check=False)
    decision = read(root / "build/gate/minilm/decision.json")
    verdict = next(t for t in decision["targets"] if t["target"] == target)
    assert verdict["verdict"] in ("pass", "fail", "inconclusive") and verdict["error"] is None, verdict
    m = read(root / verdict["measurements"])
    cand = m["candidate"]
    art = cand["artifact"]
    assert art["format"] == "openvino-ir" and art["precision"] == precision
    assert {f["path"] for f in art["files"]} == {"model.xml", "model.bin"}
    assert 15e6 < cand["metrics"]["model_size_bytes"] < 35e6  # INT8 weights of 22.7M params
    # what the compiled model reported back, not what was asked for
    assert cand["runtime"] == {"device": "CPU", "inference_precision": "f32", "num_streams": 1,
                               "inference_num_threads": 2, "performance_hint": "LATENCY",
                               "enable_cpu_pinning": False}
    assert m["baseline"]["runtime"] == {}  # the baseline is ONNX Runtime
    assert "openvino" in m["versions"] and "nncf" in m["versions"]
    # the shape sweep ran at two sequence lengths and two batch sizes against the ONNX baseline
    sweep = {(r["axis"], r["size"]) for r in art["details"]["shape_sweep"]}
    assert sweep == {("batch", 1), ("batch", 3), ("sequence", 128), ("sequence", 64)}
    assert min(r["cosine_min"] for r in art["details"]["shape_sweep"]) > 0.9999  # fp32 conversion
    # the INT8 candidate on the same swept feeds against the source's outputs: every size within
    # the slack of its agreement at the measured size (gate.tasks.sweep.check_candidate)
    against = art["details"]["sweep_against_source"]
    assert {(r["axis"], r["size"]) for r in against} == sweep
    first = {}
    for r in against:
        first.setdefault(r["axis"], r["cosine_min"])
        assert 0.9 < r["cosine_min"] and r["cosine_min"] >= first[r["axis"]] - 0.05, against
    stages = {s["stage"].split(" ")[0]: s["metrics"] for s in art["details"]["accuracy_trail"]["stages"]}
    assert list(stages) == ["source", "baseline", "fp32", "candidate"]
    assert stages["source"]["cosine_mean"] > 0.9999 and stages["fp32"]["cosine_mean"] > 0.9999
    assert 0.9 < stages["candidate"]["cosine_mean"] < 0.99999
    assert 0.9 < cand["metrics"]["cosine_mean"] < 0.99999
    report = (root / "build/gate/minilm/report.md").read_text()
    assert "Where the accuracy went" in report and "inference\\_precision=f32" in report
