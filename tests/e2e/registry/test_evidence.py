"""Attack 1 of the evidence chain: bytes or figures changed after `gate decide` are never
recorded or promoted. Each case ends in exit 3 naming the broken link, with MLflow untouched."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.e2e.registry.conftest import FAILING, PASSING, TARGET, tiny_onnx


def versions(repo) -> list:  # type: ignore[no-untyped-def,type-arg]
    return list(repo.client().search_model_versions(f"name = 'edge-gate.{repo.model}'"))


@pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)
def test_changed_bytes_figures_or_verdicts_are_refused(new_repo) -> None:  # type: ignore[no-untyped-def]
    repo = new_repo()
    repo.write_candidate(PASSING, scale=1.0)
    repo.commit("passing candidate")
    decided = repo.gate("decide", "--quiet", check=False)
    assert decided.returncode == 0, decided.stderr
    assert repo.decide()["verdict"] == "pass"
    cand = repo.path / "build/gate" / repo.model / "targets" / TARGET / "candidate"
    saved = repo.path.parent / "saved-candidate"
    shutil.copytree(cand, saved)

    tiny_onnx(cand / "model.onnx", scale=2.0)  # other bytes over the measured candidate
    for command in ("record", "promote"):
        refused = repo.gate(command, check=False)
        assert refused.returncode == 3, refused.stderr
        assert "evidence chain" in refused.stderr and "is not the candidate that was measured" in refused.stderr
    assert versions(repo) == []

    shutil.rmtree(cand)
    for command in ("record", "promote"):  # the candidate that ships: record would register no version
        refused = repo.gate(command, check=False)
        assert refused.returncode == 3 and "measured candidate folder" in refused.stderr, refused.stderr
        assert "is missing" in refused.stderr
    shutil.copytree(saved, cand)

    measurements = cand.parent / "measurements.json"
    original = measurements.read_text()
    doc = json.loads(original)
    doc["candidate"]["metrics"]["latency_p50_ms"] = 0.5  # a better figure typed in
    measurements.write_text(json.dumps(doc))
    refused = repo.gate("record", check=False)
    assert refused.returncode == 3 and "measurements.json changed after the decision" in refused.stderr
    measurements.write_text(original)

    artifact = cand / "artifact.json"
    described = json.loads(artifact.read_text())
    artifact.write_text(json.dumps({**described, "precision": "int4"}))
    refused = repo.gate("record", check=False)
    assert refused.returncode == 3 and "artifact.json differs" in refused.stderr
    artifact.write_text(json.dumps(described))
    assert versions(repo) == []
    repo.gate("record")  # the chain holds again
    assert len(versions(repo)) == 1


@pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)
def test_a_decision_edited_to_pass_is_decided_again(new_repo) -> None:  # type: ignore[no-untyped-def]
    repo = new_repo()
    repo.write_candidate(FAILING, scale=1.0)
    repo.commit("failing candidate")
    d = repo.decide()
    assert d["verdict"] == "fail"
    d["verdict"] = "pass"
    for t in d["targets"]:
        t["verdict"] = "pass"
        for r in t["rules"]:
            r["verdict"] = "pass"
    (repo.path / "build/gate" / repo.model / "decision.json").write_text(json.dumps(d))
    for command in ("record", "promote"):
        refused = repo.gate(command, check=False)
        assert refused.returncode == 3, refused.stderr
        assert "deciding again from the files gives FAIL, decision.json says PASS" in refused.stderr
        assert f"{TARGET} pass -> fail" in refused.stderr
    assert versions(repo) == []


@pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("metric", "value", "why"), [
    ("latency_p50_ms", -5.0, "is never negative"),
    ("model_memory_bytes", True, "not a finite number"),
    ("model_size_bytes", "1e6", "not a finite number"),
    ("nn10_overlap", None, "not a finite number"),
])
def test_unphysical_measurements_are_an_error(new_repo, metric, value, why) -> None:  # type: ignore[no-untyped-def]
    """Attack 4: negative or boolean latencies, memory or sizes passed rules before."""
    repo = new_repo()
    repo.write_candidate(PASSING, scale=1.0)
    path = repo.path / "build/gate" / repo.model / "targets" / TARGET / "measurements.json"
    doc = json.loads(path.read_text())
    doc["candidate"]["metrics"][metric] = value
    path.write_text(json.dumps(doc))
    d = repo.decide()
    (t,) = d["targets"]
    assert d["verdict"] == "error" and t["verdict"] == "error"
    assert "unphysical measurements" in t["error"] and why in t["error"], t["error"]
