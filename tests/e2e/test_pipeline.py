"""The main job end to end on the real MiniLM: plan, dvc repro, decide, record."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e


def read(path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(path.read_text())


def test_decision_values_follow_from_the_measurements(minilm_repo) -> None:  # type: ignore[no-untyped-def]
    root, run = minilm_repo
    proc = run("gate", "decide", check=False)
    decision = read(root / "build/gate/minilm/decision.json")
    assert proc.returncode == decision["exit_code"]
    assert decision["verdict"] in ("pass", "fail"), decision  # measured, never an error
    assert proc.returncode == (0 if decision["verdict"] == "pass" else 1)
    assert "verdict for minilm" in proc.stdout and "speed-up" in proc.stdout

    targets = {t["target"]: t for t in decision["targets"]}
    assert set(targets) == {"ort-int8-dynamic", "ov-int8", "ov-weights-int8"}
    target = targets["ort-int8-dynamic"]
    m = read(root / target["measurements"])
    base, cand = m["baseline"]["metrics"], m["candidate"]["metrics"]
    rules = {r["rule"]: r for r in target["rules"]}
    assert rules["speed-up"]["value"] == pytest.approx(base["latency_p50_ms"] / cand["latency_p50_ms"])
    assert rules["memory-cut"]["value"] == pytest.approx(1 - cand["model_memory_bytes"] / base["model_memory_bytes"])
    assert rules["size-cut"]["value"] == pytest.approx(1 - cand["model_size_bytes"] / base["model_size_bytes"])
    assert rules["accuracy-kept"]["metric"] == "nn10_overlap"
    assert rules["accuracy-kept"]["value"] == pytest.approx(cand["nn10_overlap"] / base["nn10_overlap"])
    for r in rules.values():
        expected = "pass" if r["value"] >= r["min"] else "fail"
        assert r["verdict"] == expected, r
    assert decision["verdict"] == ("pass" if all(r["verdict"] == "pass" for r in rules.values()) else "fail")

    # the figures themselves: real, in range, in the stated units
    assert base["nn10_overlap"] == pytest.approx(1.0) and base["cosine_mean"] == pytest.approx(1.0, abs=1e-6)
    assert 0.5 < cand["cosine_mean"] < 1.0 and 0.0 < cand["nn10_overlap"] < 1.0
    assert 80e6 < base["model_size_bytes"] < 100e6  # 22.7M fp32 parameters
    assert 15e6 < cand["model_size_bytes"] < 35e6   # INT8 weights
    assert m["baseline"]["latency"]["count"] >= 50 and m["candidate"]["latency"]["count"] >= 50
    for side in ("baseline", "candidate"):
        s = m[side]
        assert s["model_memory_bytes"] == s["peak_rss_bytes"] - s["rss_before_load_bytes"] > 0
        lat = s["latency"]
        assert 0 < lat["p50_ms"] <= lat["p90_ms"] <= lat["p99_ms"]
    assert m["settings"]["interleaved"] is True and m["settings"]["threads"] == 2
    assert m["fingerprint"]["cpu_model"] and isinstance(m["fingerprint"]["isa"], list)
    assert {"onnxruntime", "python", "edge-gate"} <= set(m["versions"])
    assert m["eval_items"] == 600
    artifact = m["baseline"]["artifact"]
    assert artifact["precision"] == "fp32" and artifact["details"]["conversion_fidelity"]["cosine_min"] > 0.9999
    report = (root / "build/gate/minilm/report.md").read_text()
    assert "speed-up" in report and decision["verdict"].upper() in report


def test_second_repro_reruns_nothing(minilm_repo) -> None:  # type: ignore[no-untyped-def]
    _, run = minilm_repo
    out = run("dvc", "repro").stdout
    assert "Running stage" not in out
    assert "didn't change, skipping" in out


def test_lineage_in_mlflow_sqlite(minilm_repo) -> None:  # type: ignore[no-untyped-def]
    root, run = minilm_repo
    run("gate", "decide", check=False)
    proc = run("gate", "record")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    decision = read(root / "build/gate/minilm/decision.json")
    with sqlite3.connect(root / "mlflow.db") as db:
        tags = dict(db.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (result["run_id"],)).fetchall())
        assert tags["edge_gate.manifest_sha256"] == decision["manifest_sha256"]
        assert tags["edge_gate.verdict"] == decision["verdict"]
        assert len(tags["mlflow.source.git.commit"]) == 40
        child = result["targets"]["ort-int8-dynamic"]
        metrics = dict(db.execute("SELECT key, value FROM latest_metrics WHERE run_uuid = ?", (child["run_id"],)).fetchall())
        ort = next(t for t in decision["targets"] if t["target"] == "ort-int8-dynamic")
        rule = next(r for r in ort["rules"] if r["rule"] == "speed-up")
        assert metrics["rule.speed-up"] == pytest.approx(rule["value"])
        vtags = dict(db.execute(
            "SELECT key, value FROM model_version_tags WHERE name = ? AND version = ?",
            ("edge-gate.minilm", int(child["model_version"]))).fetchall())
        assert vtags["verdict"] == decision["verdict"]


def test_editing_one_recipe_reruns_only_that_target_and_stale_plans_are_refused(minilm_repo) -> None:  # type: ignore[no-untyped-def]
    root, run = minilm_repo
    manifest = root / "models/minilm/gate.yaml"
    original = manifest.read_text()
    edited = original.replace("per_channel: false", "per_channel: true")
    assert edited != original
    manifest.write_text(edited)
    # without `gate plan`, DVC sees no change, and the old measurements no longer match
    proc = run("gate", "decide", check=False)
    assert proc.returncode == 3
    assert "stale measurements" in proc.stdout
    run("gate", "plan")
    out = run("dvc", "repro").stdout
    ran = sorted(line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage"))
    assert ran == ["measure-minilm-ort-int8-dynamic", "optimize-minilm-ort-int8-dynamic"]
    params = yaml.safe_load((root / "gate-params.yaml").read_text())
    assert params["minilm"]["targets"]["ort-int8-dynamic"]["recipe"]["per_channel"] is True
    assert run("gate", "decide", check=False).returncode in (0, 1)
