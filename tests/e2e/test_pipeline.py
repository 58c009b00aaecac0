"""The main job end to end on the real MiniLM: plan, dvc repro, decide, record."""

from __future__ import annotations

import json
import sqlite3
import statistics
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
    assert decision["verdict"] in ("pass", "fail", "inconclusive"), decision  # measured, never an error
    assert proc.returncode == (0 if decision["verdict"] == "pass" else 1)  # edge-default blocks inconclusive
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
        assert r["low"] <= r["value"] <= r["high"], r
        expected = "pass" if r["low"] >= r["min"] else "fail" if r["high"] < r["min"] else "inconclusive"
        assert r["verdict"] == expected, r
    assert rules["size-cut"]["low"] == rules["size-cut"]["high"]  # size on disk is exact
    assert rules["memory-cut"]["method"].startswith("paired bootstrap over 3 fresh processes")
    verdicts = {r["verdict"] for r in rules.values()}
    expected = "fail" if "fail" in verdicts else "inconclusive" if "inconclusive" in verdicts else "pass"
    assert target["verdict"] == expected
    every = {t["verdict"] for t in decision["targets"]}
    assert decision["verdict"] == next(v for v in ("error", "fail", "inconclusive", "pass") if v in every)

    # the figures themselves: real, in range, in the stated units
    assert base["nn10_overlap"] == pytest.approx(1.0) and base["cosine_mean"] == pytest.approx(1.0, abs=1e-6)
    assert 0.5 < cand["cosine_mean"] < 1.0 and 0.0 < cand["nn10_overlap"] < 1.0
    assert 80e6 < base["model_size_bytes"] < 100e6  # 22.7M fp32 parameters
    assert 15e6 < cand["model_size_bytes"] < 35e6   # INT8 weights
    assert m["baseline"]["latency"]["count"] >= 50 and m["candidate"]["latency"]["count"] >= 50
    rounds = m["samples"]["latency_rounds_ms"]
    assert len(rounds["baseline"]) == len(rounds["candidate"]) == m["baseline"]["latency"]["rounds"] >= 5
    assert len(m["samples"]["items"]["candidate"]["overlap"]) == 600
    assert m["baseline"]["fingerprint"]["id"] == m["candidate"]["fingerprint"]["id"]
    for side in ("baseline", "candidate"):
        s = m[side]
        per_process = [p["peak_rss_bytes"] - p["rss_before_load_bytes"] for p in m["samples"]["memory"][side]]
        assert len(per_process) == 3 and all(v > 0 for v in per_process)
        assert s["model_memory_bytes"] == int(statistics.median(per_process))
        lat = s["latency"]
        assert 0 < lat["p50_ms"] <= lat["p90_ms"] <= lat["p99_ms"]
        # what the side cost the stage, per phase (wall seconds): the timed rounds take at least
        # the time their samples add up to
        cost = s["timing"]["measure_s"]
        assert set(cost) == {"start_and_load", "timed_rounds", "eval", "memory_processes"}
        assert cost["timed_rounds"] >= sum(map(sum, rounds[side])) / 1000 and cost["eval"] > 0
        assert cost["memory_processes"] > 0  # two further fresh processes
    assert m["settings"]["interleaved"] is True and m["settings"]["threads"] == 2
    assert m["fingerprint"]["cpu_model"] and isinstance(m["fingerprint"]["isa"], list)
    assert {"onnxruntime", "python", "edge-gate"} <= set(m["versions"])
    assert m["eval_items"] == 600
    artifact = m["baseline"]["artifact"]
    assert artifact["precision"] == "fp32" and artifact["details"]["conversion_fidelity"]["cosine_min"] > 0.9999
    report = (root / "build/gate/minilm/report.md").read_text()
    assert "speed-up" in report and decision["verdict"].upper() in report
    assert "measurement cost (s: start and load, timed rounds, eval, memory processes)" in report


def test_certificate_and_production_readiness_rules(minilm_repo) -> None:  # type: ignore[no-untyped-def]
    root, run = minilm_repo
    run("gate", "decide", check=False)
    decision = read(root / "build/gate/minilm/decision.json")
    cert = read(root / "build/gate/minilm/certificate.json")
    approval = {"pass": "approved", "fail": "rejected", "inconclusive": "needs-review"}[decision["verdict"]]
    assert cert["approval"] == approval and cert["manifest_sha256"] == decision["manifest_sha256"]
    cand = next(c for c in cert["candidates"] if c["target"] == "ort-int8-dynamic")
    assert {c["target"] for c in cert["candidates"]} == {t["target"] for t in decision["targets"]}
    target = next(t for t in decision["targets"] if t["target"] == "ort-int8-dynamic")
    m = read(root / target["measurements"])
    lines = sorted(f"{f['path']}:{f['sha256']}" for f in m["candidate"]["artifact"]["files"])
    import hashlib

    assert cand["signature_sha256"] == hashlib.sha256("\n".join(lines).encode()).hexdigest()
    assert {g["rule"] for g in cand["gates"]} == {"accuracy-kept", "speed-up", "memory-cut", "size-cut"}
    assert "onnxruntime" in cand["tool_versions"]

    proc = run("gate", "decide", "--policy", "policies/production-readiness.yaml", check=False)
    assert proc.returncode in (0, 1), proc.stderr
    pr = read(root / "build/gate/minilm/decision.json")
    rules = {r["rule"]: r for r in next(t for t in pr["targets"] if t["target"] == "ort-int8-dynamic")["rules"]}
    assert set(rules) == {"latency-consistency", "latency-tail", "stable-over-time", "p99-under-load",
                          "throughput-under-load"}
    assert all(r["verdict"] != "error" and r["value"] is not None for r in rules.values()), rules
    lt = m["candidate"]["load_test"]
    assert lt["concurrency"] == 2 and lt["requests"] > 0 and lt["wall_s"] >= 2.0
    assert rules["throughput-under-load"]["candidate"] == pytest.approx(lt["throughput_items_per_s"])
    run("gate", "decide", check=False)  # leave the edge-default decision for the tests after this one


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
        assert vtags["verdict"] == ort["verdict"]


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
    # the plan check reruns (its manifest changed) and passes; only the edited target is rebuilt
    assert ran == ["figures-minilm-ort-int8-dynamic", "measure-minilm-ort-int8-dynamic",
                   "optimize-minilm-ort-int8-dynamic", "plan-minilm"]
    params = yaml.safe_load((root / "gate-params.yaml").read_text())
    assert params["minilm"]["targets"]["ort-int8-dynamic"]["recipe"]["per_channel"] is True
    assert run("gate", "decide", check=False).returncode in (0, 1)
