"""Promotion, rollback, idempotence, refusals and deleted versions, on sqlite and on a server."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.e2e.registry.conftest import FAILING, PASSING, TARGET

pytestmark = pytest.mark.e2e


def champion_output(repo) -> np.ndarray:  # type: ignore[no-untyped-def]
    """What `models:/edge-gate.<model>@champion-x86-cpu` computes on ones(1, 4), loaded by MLflow."""
    import mlflow.pyfunc

    mlflow.set_tracking_uri(repo.uri)
    model = mlflow.pyfunc.load_model(f"models:/edge-gate.{repo.model}@champion-x86-cpu")
    return np.asarray(model.predict({"x": np.ones((1, 4), np.float32)})["y"])


def holders(repo, role: str, platform: str = "x86-cpu") -> list[str]:  # type: ignore[no-untyped-def]
    """The versions holding ``role``'s alias on ``platform`` (``champion-x86-cpu``)."""
    alias = f"{role}-{platform}"
    client = repo.client()
    name = f"edge-gate.{repo.model}"
    versions = [client.get_model_version(name, str(v.version)) for v in client.search_model_versions(f"name = '{name}'")]
    return sorted(str(v.version) for v in versions if alias in v.aliases)


def test_promote_promote_rollback_without_duplicates(new_repo, store_uri) -> None:  # type: ignore[no-untyped-def]
    repo = new_repo()
    repo.write_candidate(PASSING, scale=1.0)
    commit1 = repo.commit("first candidate")
    assert repo.decide()["verdict"] == "pass"
    first = json.loads(repo.gate("record").stdout)
    assert first["targets"][TARGET]["model_version"] == "1" and first["candidate_alias"] == {"x86-cpu": "1"}
    again = json.loads(repo.gate("record").stdout)
    assert again["run_id"] == first["run_id"]
    assert again["targets"][TARGET] == first["targets"][TARGET]

    client = repo.client()
    exp = client.get_experiment_by_name(f"edge-gate/{repo.model}")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 2  # one parent, one child: the second record updated them
    parent = client.get_run(first["run_id"])
    assert parent.data.tags["mlflow.source.git.commit"] == commit1
    assert parent.data.tags["edge_gate.git_branch"] == "main"
    decision = json.loads((repo.path / f"build/gate/{repo.model}/decision.json").read_text())
    assert parent.data.tags["edge_gate.manifest_sha256"] == decision["manifest_sha256"]
    assert parent.data.tags["edge_gate.policy_sha256"] == decision["policy_sha256"]
    child = client.get_run(first["targets"][TARGET]["run_id"])
    assert child.data.tags["mlflow.parentRunId"] == first["run_id"]
    assert child.data.metrics["rule.speed-up"] == pytest.approx(17.0 / 5.0)
    assert child.data.tags["edge_gate.fingerprint_id"] == decision["targets"][0]["fingerprint"]["id"]
    assert child.data.tags["version.onnxruntime"] == "1.32.0"
    (version,) = client.search_model_versions(f"name = 'edge-gate.{repo.model}'")
    assert version.tags["verdict"] == "pass" and version.tags["commit"] == commit1
    assert version.tags["backend"] == "onnxruntime" and json.loads(version.tags["recipe"])["method"] == "dynamic"

    promoted = json.loads(repo.gate("promote").stdout)
    assert promoted == {"model": repo.model, "platform": "x86-cpu", "target": TARGET, "champion": "1",
                        "changed": True, "previous": None}
    same = json.loads(repo.gate("promote").stdout)  # the same commit again: nothing moves, nothing is added
    assert same["champion"] == "1" and same["changed"] is False
    assert len(client.search_model_versions(f"name = 'edge-gate.{repo.model}'")) == 1
    assert champion_output(repo) == pytest.approx(np.full((1, 3), 4.0))  # ones(4) @ W(1.0)

    repo.write_candidate({**PASSING, "latency_p50_ms": 4.0}, scale=2.0)
    commit2 = repo.commit("second candidate")
    assert repo.decide()["verdict"] == "pass"
    assert json.loads(repo.gate("record").stdout)["targets"][TARGET]["model_version"] == "2"
    promoted = json.loads(repo.gate("promote").stdout)
    assert (promoted["champion"], promoted["previous"], promoted["changed"]) == ("2", "1", True)
    assert holders(repo, "champion") == ["2"] and holders(repo, "previous") == ["1"]
    assert champion_output(repo) == pytest.approx(np.full((1, 3), 8.0))

    rolled = json.loads(repo.gate("rollback", repo.model).stdout)
    assert (rolled["champion"], rolled["previous"]) == ("1", "2")
    assert holders(repo, "champion") == ["1"] and holders(repo, "previous") == ["2"]
    assert champion_output(repo) == pytest.approx(np.full((1, 3), 4.0))

    raw = client.get_registered_model(f"edge-gate.{repo.model}").aliases
    expected_type = int if store_uri.startswith("sqlite") else str
    assert {type(v) for v in raw.values()} == {expected_type}  # why gate.lineage.versions compares strings

    h = json.loads(repo.gate("history", repo.model, "--json").stdout)
    assert [(e["action"], e["champion"], e["replaced"]) for e in h["events"]] == [
        ("promote", "1", None), ("promote", "2", "1"), ("rollback", "1", "2")]
    assert [e["commit"] for e in h["events"]] == [commit1, commit2, commit1]
    assert [e["figures"]["speed-up"]["value"] for e in h["events"]] == ["3.4", "4.25", "3.4"]
    assert h["aliases"] == {"candidate-x86-cpu": "2", "champion-x86-cpu": "1", "previous-x86-cpu": "2"}
    assert {e["platform"] for e in h["events"]} == {"x86-cpu"}
    table = repo.gate("history", repo.model).stdout
    assert "rollback champion v1" in table and " platform x86-cpu:" in table
    assert "now: candidate-x86-cpu v2, champion-x86-cpu v1, previous-x86-cpu v2" in table


def test_failing_stale_and_off_branch_decisions_never_promote(new_repo) -> None:  # type: ignore[no-untyped-def]
    repo = new_repo()
    repo.write_candidate(FAILING, scale=1.0)
    repo.commit("failing candidate")
    assert repo.decide()["verdict"] == "fail"
    recorded = json.loads(repo.gate("record").stdout)
    assert recorded["candidate_alias"] == {}
    refused = repo.gate("promote", check=False)
    assert refused.returncode == 1 and "is FAIL" in refused.stderr and "never promotes" in refused.stderr
    assert holders(repo, "champion") == [] and holders(repo, "candidate") == []
    (version,) = repo.client().search_model_versions(f"name = 'edge-gate.{repo.model}'")
    assert version.tags["verdict"] == "fail" and version.tags["rule.accuracy-kept.verdict"] == "fail"

    repo.write_candidate(PASSING, scale=1.0)
    repo.commit("passing candidate")
    assert repo.decide()["verdict"] == "pass"
    repo.gate("record")
    off_branch = repo.gate("promote", "--branch", "release", check=False)
    assert off_branch.returncode == 1 and "protected branch 'release'" in off_branch.stderr

    policy = repo.path / "policies/edge-default.yaml"
    policy.write_text(policy.read_text() + "# edited after the decision\n")
    stale = repo.gate("promote", check=False)
    assert stale.returncode == 3 and "stale decision" in stale.stderr and "policy sha256" in stale.stderr
    assert holders(repo, "champion") == []
    repo.decide()  # decided again on the current files: now it may promote
    repo.run("git", "commit", "-qam", "policy comment")
    repo.gate("record")
    assert json.loads(repo.gate("promote").stdout)["champion"] == "3"

    repo.manifest.write_text(repo.manifest.read_text() + "# edited after the decision\n")
    stale = repo.gate("promote", check=False)
    assert stale.returncode == 3 and "manifest sha256" in stale.stderr
    assert holders(repo, "champion") == ["3"]


def test_deleted_version_that_held_an_alias(new_repo) -> None:  # type: ignore[no-untyped-def]
    repo = new_repo()
    for scale, p50 in ((1.0, 5.0), (2.0, 4.0)):
        repo.write_candidate({**PASSING, "latency_p50_ms": p50}, scale=scale)
        repo.commit(f"candidate {scale}")
        repo.decide()
        repo.gate("record")
        repo.gate("promote")
    name = f"edge-gate.{repo.model}"
    client = repo.client()
    client.delete_model_version(name, "1")  # held `previous`
    gone = repo.gate("rollback", repo.model, check=False)
    assert gone.returncode == 3
    assert "alias 'previous-x86-cpu' of registered model" in gone.stderr and "deleted" in gone.stderr
    assert champion_output(repo) == pytest.approx(np.full((1, 3), 8.0))  # champion still resolves
    h = json.loads(repo.gate("history", repo.model, "--json").stdout)
    assert h["aliases"] == {"candidate-x86-cpu": "2", "champion-x86-cpu": "2"}
    assert [e["champion"] for e in h["events"]] == ["1", "2"]

    client.delete_model_version(name, "2")  # held `champion` and `candidate`
    gone = repo.gate("rollback", repo.model, check=False)
    assert gone.returncode == 3 and "alias 'champion-x86-cpu'" in gone.stderr
    with pytest.raises(Exception, match="champion"):
        champion_output(repo)


def test_never_promoted_across_hardware_fingerprints(new_repo, store_uri) -> None:  # type: ignore[no-untyped-def]
    if store_uri.startswith("http"):
        pytest.skip("the fingerprint rule is store-independent; the sqlite run covers it")
    repo = new_repo()
    repo.write_candidate(PASSING, scale=1.0)
    repo.commit("measured on this host")
    repo.decide()
    repo.gate("record")
    repo.gate("promote")
    repo.write_candidate(PASSING, scale=2.0, fingerprint_id="0000other0host00")
    repo.commit("measured on a host without the same ISA")
    assert repo.decide()["verdict"] == "pass"
    repo.gate("record")
    refused = repo.gate("promote", check=False)
    assert refused.returncode == 1
    assert "measured on hardware" in refused.stderr and "not comparable" in refused.stderr
    assert holders(repo, "champion") == ["1"]
    moved = json.loads(repo.gate("promote", "--new-hardware").stdout)
    assert moved["champion"] == "2" and moved["previous"] == "1"
