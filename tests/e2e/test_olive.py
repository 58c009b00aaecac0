"""An Olive candidate of the real MiniLM, measured by the gate's own harness, on the Pareto
frontier with the ONNX Runtime candidate; a one-setting variant is a distinct candidate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import make_runner

pytestmark = pytest.mark.e2e

OLIVE = """
  - name: olive-int8-dynamic
    platform: x86-cpu
    backend: olive
    recipe: {quantization: dynamic, per_channel: true}
"""
VARIANT = """
  - name: olive-int8-per-tensor
    platform: x86-cpu
    backend: olive
    recipe: {quantization: dynamic, per_channel: false}
"""
TARGETS = Path("build/gate/minilm/targets")


def read(path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(path.read_text())


def test_olive_candidate_measured_and_on_the_frontier(minilm_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src, _ = minilm_repo
    root = tmp_path / "repo"
    shutil.copytree(src, root, symlinks=True)
    run = make_runner(root)
    manifest = root / "models/minilm/gate.yaml"
    manifest.write_text(manifest.read_text() + OLIVE)
    run("gate", "plan")
    repro = run("dvc", "repro").stdout
    ran = sorted(line.split("'")[1] for line in repro.splitlines() if line.startswith("Running stage"))
    # the plan check reruns (the manifest changed) and only the new target is built
    assert ran == ["figures-minilm-olive-int8-dynamic", "measure-minilm-olive-int8-dynamic",
                   "optimize-minilm-olive-int8-dynamic", "plan-minilm"]

    # the candidate is Olive's output, described with Olive's own footprint beside it
    cand = read(root / TARGETS / "olive-int8-dynamic/candidate/artifact.json")
    assert cand["backend"] == "olive" and cand["format"] == "onnx" and cand["precision"] == "int8"
    assert cand["details"]["olive_passes"] == ["OnnxQuantizationPreprocess", "OnnxDynamicQuantization"]
    footprint = cand["details"]["olive_footprint"]
    assert [p["pass"] for p in footprint] == ["onnxquantizationpreprocess", "onnxdynamicquantization"]
    assert footprint[1]["config"]["per_channel"] is True and footprint[1]["duration_s"] > 0
    assert (root / TARGETS / "olive-int8-dynamic/candidate/olive-footprint.json").is_file()
    assert 15e6 < cand["files"][0]["size_bytes"] < 35e6  # INT8 weights of 22.7M parameters

    m = read(root / TARGETS / "olive-int8-dynamic/measurements.json")
    assert m["candidate"]["artifact"]["backend"] == "olive"
    assert m["baseline"]["fingerprint"]["id"] == m["candidate"]["fingerprint"]["id"]
    assert m["candidate"]["latency"]["count"] >= 50 and 0.0 < m["candidate"]["metrics"]["nn10_overlap"] <= 1.0
    assert 0.5 < m["candidate"]["metrics"]["cosine_mean"] < 1.0

    proc = run("gate", "decide", check=False)
    d = read(root / "build/gate/minilm/decision.json")
    assert proc.returncode == d["exit_code"] and d["verdict"] in ("pass", "fail", "inconclusive"), d
    by_name = {t["target"]: t for t in d["targets"]}
    assert {"ort-int8-dynamic", "olive-int8-dynamic"} <= set(by_name)
    for t in by_name.values():
        if t["error"]:
            continue
        rules = {r["rule"]: r["value"] for r in t["rules"]}
        assert t["point"] == pytest.approx({"speedup": rules["speed-up"], "memory_cut": rules["memory-cut"],
                                            "fidelity": rules["accuracy-kept"]})
    # the frontier, from the measured points themselves
    pts = {n: t["point"] for n, t in by_name.items() if t["point"] is not None}

    def dominates(a: dict, b: dict) -> bool:  # type: ignore[type-arg]
        return all(a[k] >= b[k] for k in a) and any(a[k] > b[k] for k in a)

    expected = sorted(n for n, p in pts.items() if not any(dominates(q, p) for m, q in pts.items() if m != n))
    assert d["frontier"] == expected
    assert {n for n, t in by_name.items() if t["on_frontier"]} == set(expected)
    passing = [n for n, t in by_name.items() if t["verdict"] in ("pass", "waived")]
    assert (d["recommendation"] is None) == (not passing)
    assert d["selection_weights"] == {"speedup": 1.0, "memory_cut": 1.0, "fidelity": 1.0}

    folder = root / "build/gate/minilm"
    report = (folder / "report.md").read_text()
    assert "Candidates and the Pareto frontier" in report and "x86-cpu/olive/olive-int8-dynamic" in report
    assert "![Pareto chart](pareto.png)" in report and "![Latency distributions](latency.png)" in report
    for name in ("pareto", "latency"):
        assert (folder / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (folder / f"{name}.svg").read_bytes()[:2000]

    record = json.loads(run("gate", "record").stdout.strip().splitlines()[-1])
    logged = {p.name for p in root.glob(f"mlruns/*/{record['run_id']}/artifacts/decision/*")}
    assert {"pareto.png", "pareto.svg", "latency.png", "latency.svg", "report.md"} <= logged, logged

    # one pass setting changed: a distinct candidate with its own config hash (shared case C09)
    manifest.write_text(manifest.read_text() + VARIANT)
    run("gate", "plan")
    run("dvc", "repro", "optimize-minilm-olive-int8-per-tensor")
    other = read(root / TARGETS / "olive-int8-per-tensor/candidate/artifact.json")
    assert other["details"]["config_hash"] != cand["details"]["config_hash"]
    assert other["files"][0]["sha256"] != cand["files"][0]["sha256"]
    assert other["details"]["olive_footprint"][1]["config"]["per_channel"] is False
