"""What MLflow's UI shows of a recorded decision: the source commit, the report as the run's
description with its plots served from the run's artifacts, rule values and verdicts as
metrics, readable lineage, the experiment opening on its runs, and large candidates
referenced in the DVC remote instead of copied."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
import yaml

from tests.e2e.registry.conftest import PASSING, TARGET

pytestmark = pytest.mark.e2e


def test_the_run_page_reads_well(new_repo, store_uri) -> None:  # type: ignore[no-untyped-def]
    repo = new_repo()
    repo.write_candidate(PASSING, scale=1.0)
    commit = repo.commit("first candidate")
    decision = repo.decide()
    assert decision["verdict"] == "pass"
    recorded = json.loads(repo.gate("record").stdout)
    client = repo.client()
    exp = client.get_experiment_by_name(f"edge-gate/{repo.model}")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"  # opens on the runs table

    parent = client.get_run(recorded["run_id"])
    tags = parent.data.tags
    assert tags["mlflow.source.git.commit"] == commit
    assert tags["mlflow.source.type"] == "LOCAL" and tags["mlflow.source.name"].startswith("gate record models/")
    note = tags["mlflow.note.content"]
    assert note.startswith((repo.path / f"build/gate/{repo.model}/report.md").read_text()[:40])
    images = re.findall(r"!\[[^\]]*\]\((get-artifact\?[^)]+)\)", note)
    assert images, "the report's plots are not linked from the description"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "decision")}
    for link in images:
        path = re.search(r"path=([^&]+)", link).group(1).replace("%2F", "/")  # type: ignore[union-attr]
        assert path in artifacts and f"run_uuid={parent.info.run_id}" in link
        if store_uri.startswith("http"):  # the server serves it where the UI's page resolves it
            with urllib.request.urlopen(f"{store_uri}/{link}", timeout=10) as resp:
                assert resp.read(8).startswith(b"\x89PNG")
    assert parent.data.metrics["passed"] == 1.0 and parent.data.metrics["targets_passed"] == 1.0

    child = client.get_run(recorded["targets"][TARGET]["run_id"])
    target = decision["targets"][0]
    rules = {r["rule"]: r for r in target["rules"]}
    m = child.data.metrics
    assert m["passed"] == 1.0
    for rule_id, r in rules.items():
        assert m[f"rule.{rule_id}"] == pytest.approx(r["value"])
        assert m[f"rule.{rule_id}.passed"] == 1.0
    assert m["rule.speed-up"] == pytest.approx(17.0 / 5.0)
    assert f"| speed-up | {rules['speed-up']['value']:.4g} |" in child.data.tags["mlflow.note.content"]
    assert parent.data.params["commit"] == commit
    assert parent.data.params["manifest_sha256"] == decision["manifest_sha256"]
    version = client.get_model_version(f"edge-gate.{repo.model}", recorded["targets"][TARGET]["model_version"])
    assert json.loads(version.tags["recipe"]) == {"method": "dynamic", "per_channel": False, "weight_type": "qint8"}
    assert "speed-up: 3.4" in version.description and version.tags["logged_as"] == "copied (auto)"


def test_a_candidate_is_referenced_in_the_dvc_remote_not_copied(new_repo, store_uri,  # type: ignore[no-untyped-def]
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    repo = new_repo()
    repo.write_candidate(PASSING, scale=1.0, fmt="gguf")
    (repo.path / ".dvc").mkdir()
    (repo.path / ".dvc/config").write_text(
        "[core]\n    remote = storage\n['remote \"storage\"']\n    url = ssh://cache.example.invalid/dvc\n")
    md5 = "0123456789abcdef0123456789abcdef.dir"
    cand = f"build/gate/{repo.model}/targets/{TARGET}/candidate"
    (repo.path / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": {
        f"optimize-{repo.model}-{TARGET}": {"cmd": "gate optimize", "outs": [{"path": cand, "md5": md5}]}}}))
    repo.commit("a GGUF candidate built by DVC")
    repo.decide()
    monkeypatch.setenv("EDGE_GATE_MLFLOW_CANDIDATES", "reference")
    recorded = json.loads(repo.gate("record").stdout)
    client = repo.client()
    version = client.get_model_version(f"edge-gate.{repo.model}", recorded["targets"][TARGET]["model_version"])
    assert version.source == f"ssh://cache.example.invalid/dvc/files/md5/01/{md5[2:]}"
    assert (version.tags["dvc_md5"], version.tags["dvc_path"]) == (md5, cand)
    assert version.tags["logged_as"].startswith("reference")
    run_id = recorded["targets"][TARGET]["run_id"]
    assert "candidate" not in {a.path for a in client.list_artifacts(run_id)}  # nothing copied
    child = client.get_run(run_id)
    assert child.data.params["lineage.candidate"] == f"{md5} {cand}"
    from pathlib import Path

    table = json.loads(Path(client.download_artifacts(run_id, "lineage.json", str(repo.path))).read_text())
    assert table["columns"] == ["stage", "kind", "path", "md5", "role"]
    assert table["data"] == [[f"optimize-{repo.model}-{TARGET}", "outs", cand, md5, "candidate"]]
