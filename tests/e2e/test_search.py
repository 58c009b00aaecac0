"""`gate search` on a real pipeline (real DVC, the real MobileNetV2 baseline, real measurement
workers), with a cheap candidate backend registered through the backend registry
(tests/search_backend.py: the baseline ONNX plus output noise of a recipe-given scale).

The policy here is a test policy with one fidelity rule (top-1 agreement kept >= 95%), which a
noiseless copy meets exactly and a noise scale of 50 logits misses: the test is about the
search's order, stopping, budget, caching and trail, not about a speed-up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, init_repo

pytestmark = pytest.mark.e2e
TESTS = Path(__file__).resolve().parents[1]

POLICY = """version: 1
name: search-test
rules:
  - {id: agreement-kept, metric: accuracy, compare: ratio, min: 0.95}
"""


def _manifest(stop: str, budget_s: float) -> dict:  # type: ignore[type-arg]
    doc = yaml.safe_load((REPO / "examples/mobilenet-v2/gate.yaml").read_text())
    doc["policy"] = "search-test"
    doc["input"] = {"batch_size": 1}  # no dynamic axes: no shape sweep of the noisy copies
    doc["eval"]["primary"] = "top1_agreement"
    doc["measure"] = {"warmup_runs": 2, "timed_runs": 50, "rounds": 2, "threads": 1, "memory_processes": 1}
    doc["targets"] = [{"name": "copy", "platform": "x86-cpu", "backend": "searchfake",
                       "search": {"recipes": [{"noise": 50.0}, {"noise": 0.0}, {"noise": 0.0, "variant": 1}],
                                  "budget_s": budget_s, "stop": stop}}]
    return doc


def test_search_stops_at_the_first_passing_candidate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_GATE_BACKENDS", "searchfake=search_backend:BACKEND")
    monkeypatch.setenv("PYTHONPATH", f"{TESTS}:{TESTS.parent}")
    root = tmp_path / "repo"
    run = init_repo(root, {"mobilenet-v2": REPO / "examples/mobilenet-v2"})
    (root / "policies/search-test.yaml").write_text(POLICY)
    manifest = root / "models/mobilenet-v2/gate.yaml"
    manifest.write_text(yaml.safe_dump(_manifest("first-pass", 3600)))
    run("gate", "plan")
    proc = run("gate", "search", "models/mobilenet-v2/gate.yaml", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    trail = json.loads((root / "build/gate/mobilenet-v2/search.json").read_text())
    (s,) = trail["searches"]
    assert s["found"] == "copy--2" and s["stopped"] == "copy--2 passed (stop: first-pass)"
    c1, c2, c3 = s["candidates"]
    assert (c1["status"], c1["verdict"], c1["reused"]) == ("judged", "fail", False)
    (rule,) = c1["rules"]
    assert rule["high"] < 0.95 and rule["metric"] == "top1_agreement"  # measured, and missed
    assert (c2["status"], c2["verdict"]) == ("judged", "pass")
    assert c2["rules"][0]["value"] == c2["rules"][0]["low"] == 1.0  # the baseline's own outputs
    assert (c3["status"], c3["reason"]) == ("skipped", "copy--2 passed first")
    assert not (root / "build/gate/mobilenet-v2/targets/copy--3").exists()  # never built
    assert c1["config_hash"] != c2["config_hash"] != c3["config_hash"]
    assert "release for x86-cpu: copy--2" in proc.stdout

    # explore: every candidate is judged; the two built before are reused from DVC's cache
    manifest.write_text(yaml.safe_dump(_manifest("explore", 3600)))
    run("gate", "plan")
    proc = run("gate", "search", "models/mobilenet-v2/gate.yaml", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (s,) = json.loads((root / "build/gate/mobilenet-v2/search.json").read_text())["searches"]
    assert [c["verdict"] for c in s["candidates"]] == ["fail", "pass", "pass"]
    assert [c["reused"] for c in s["candidates"]] == [True, True, False]
    assert s["found"] == "copy--2" and s["stopped"] == "explored every candidate"

    # a spent budget starts nothing more: only the first (failing) candidate is judged -> blocked
    manifest.write_text(yaml.safe_dump(_manifest("first-pass", 1)))
    run("gate", "plan")
    proc = run("gate", "search", "models/mobilenet-v2/gate.yaml", check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (s,) = json.loads((root / "build/gate/mobilenet-v2/search.json").read_text())["searches"]
    assert [c["status"] for c in s["candidates"]] == ["judged", "skipped", "skipped"]
    assert s["found"] is None and s["stopped"].startswith("budget of 1 s spent")
    assert "release for x86-cpu: none: blocked" in proc.stdout

    # no search in the manifest is bad input
    plain = _manifest("first-pass", 1)
    plain["targets"] = [{"name": "copy", "platform": "x86-cpu", "backend": "searchfake"}]
    manifest.write_text(yaml.safe_dump(plain))
    run("gate", "plan")
    proc = run("gate", "search", "models/mobilenet-v2/gate.yaml", check=False)
    assert proc.returncode == 2 and "no target with `search:`" in proc.stderr
