"""A release per platform through the real `gate` CLI and a real MLflow sqlite store: three
alternatives on one platform where one passes ship that one (exit 0, promoted to
``champion-x86-cpu``); a second platform where none passes blocks the manifest and names it."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from tests.e2e.registry.conftest import FAILING, PASSING, TARGET

pytestmark = pytest.mark.e2e

SLOW = {**PASSING, "latency_p50_ms": 12.0}  # speed-up 17 / 12 = 1.42 < 2
HEAVY = {**PASSING, "model_memory_bytes": 80e6}  # memory cut 11% < 50%
SLOW_AND_HEAVY = {**SLOW, "model_memory_bytes": 85e6}


def ort(name: str, platform: str, **recipe: object) -> dict[str, object]:
    return {"name": name, "platform": platform, "backend": "onnxruntime",
            "recipe": {"precision": "int8", "method": "dynamic", **recipe}}


X86 = [ort(TARGET, "x86-cpu"), ort("ort-int8-per-channel", "x86-cpu", per_channel=True),
       ort("ort-int8-reduced", "x86-cpu", reduce_range=True)]
ARM = [ort("arm-int8", "arm-cpu"), ort("arm-int8-u8", "arm-cpu", weight_type="quint8")]


@pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)
def test_one_passing_alternative_ships_and_a_blocked_platform_is_named(new_repo) -> None:  # type: ignore[no-untyped-def]
    import mlflow.pyfunc

    repo = new_repo()
    repo.set_targets(X86)
    repo.write_candidate(FAILING, scale=1.0, target=TARGET)  # accuracy kept 0.80 < 0.95
    repo.write_candidate(PASSING, scale=2.0, target="ort-int8-per-channel")
    repo.write_candidate(SLOW, scale=3.0, target="ort-int8-reduced")
    repo.commit("three alternatives for x86-cpu")
    decided = repo.gate("decide", check=False)
    assert decided.returncode == 0, decided.stdout + decided.stderr
    assert "platform x86-cpu: PASS, ships ort-int8-per-channel" in decided.stdout
    d = repo.decide()
    (x86,) = d["platforms"]
    assert (d["verdict"], d["exit_code"], x86["release"]) == ("pass", 0, "ort-int8-per-channel")
    why = {t["target"]: t["why_not"] for t in d["targets"]}
    assert why[TARGET].startswith("fail: accuracy-kept FAIL") and why["ort-int8-reduced"].startswith("fail: speed-up")

    recorded = json.loads(repo.gate("record").stdout)
    assert recorded["candidate_alias"] == {"x86-cpu": recorded["targets"]["ort-int8-per-channel"]["model_version"]}
    promoted = json.loads(repo.gate("promote").stdout)
    shipped = recorded["targets"]["ort-int8-per-channel"]["model_version"]
    assert promoted == {"model": repo.model, "platform": "x86-cpu", "target": "ort-int8-per-channel",
                        "champion": shipped, "changed": True, "previous": None}
    client = repo.client()
    name = f"edge-gate.{repo.model}"
    assert client.get_model_version_by_alias(name, "champion-x86-cpu").tags["target"] == "ort-int8-per-channel"
    mlflow.set_tracking_uri(repo.uri)
    champion = mlflow.pyfunc.load_model(f"models:/{name}@champion-x86-cpu")
    assert np.asarray(champion.predict({"x": np.ones((1, 4), np.float32)})["y"]) == pytest.approx(np.full((1, 3), 8.0))
    history = repo.gate("history", repo.model, "--platform", "x86-cpu").stdout
    assert "platform x86-cpu:" in history and f"promote  champion v{shipped}" in history

    # a second platform, neither of whose candidates passes: the manifest blocks and names it
    repo.set_targets(X86 + ARM)
    repo.write_candidate(HEAVY, scale=4.0, target="arm-int8")
    repo.write_candidate(SLOW_AND_HEAVY, scale=5.0, target="arm-int8-u8")
    repo.commit("and two alternatives for arm-cpu")
    blocked = repo.gate("decide", check=False)
    assert blocked.returncode == 1, blocked.stdout + blocked.stderr
    assert "platform arm-cpu: FAIL, ships nothing" in blocked.stdout
    d = repo.decide()
    x86, arm = d["platforms"]
    assert (d["verdict"], x86["release"], arm["release"], arm["verdict"]) == ("fail", "ort-int8-per-channel", None, "fail")
    assert arm["nearest_miss"]["target"] == "arm-int8"  # one rule short, where arm-int8-u8 misses two
    report = (repo.path / "build/gate" / repo.model / "report.md").read_text()
    assert "**Blocked:** arm-cpu" in report and "Nearest miss on arm-cpu:** arm-int8" in report
    junit = repo.path / "junit.xml"
    sarif = repo.path / "sarif.json"
    code = repo.gate("report", f"models/{repo.model}/gate.yaml", "--junit", str(junit), "--sarif", str(sarif),
                     check=False)
    assert code.returncode == 1
    suites = {s.get("name"): s for s in ET.parse(junit).getroot().findall("testsuite")}
    failure = suites[f"{repo.model}/platform/arm-cpu"].find("testcase/failure")
    assert failure is not None and "platform arm-cpu: nothing ships" in failure.get("message", "")
    assert suites[f"{repo.model}/platform/x86-cpu"].find("testcase/failure") is None
    run = json.loads(sarif.read_text())["runs"][0]
    assert run["properties"]["releases"][repo.model]["x86-cpu"]["ships"] == "ort-int8-per-channel"
    assert any(r["ruleId"] == "edge-gate/platform-blocked" and "platform arm-cpu is blocked" in r["message"]["text"]
               for r in run["results"])
    repo.gate("record")
    refused = repo.gate("promote", check=False)
    assert refused.returncode == 1 and "blocked platforms: arm-cpu" in refused.stderr
    assert str(client.get_model_version_by_alias(name, "champion-x86-cpu").version) == shipped
