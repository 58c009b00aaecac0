"""Promote, promote, rollback on the real MiniLM candidate that `dvc repro` built and measured.

On the machines this was developed on, the ORT INT8 candidate misses two rules of
edge-default (see README), so its decision is FAIL and promotion is refused; to exercise
promotion on the real candidate, the test then waives exactly the failing rules in the
manifest (reason, owner, expiry: the documented route, shown in every report), never by
loosening the policy. Where the candidate passes outright, no waiver is written.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml

from tests.e2e.registry.conftest import GateRepo

pytestmark = pytest.mark.e2e
TARGET = "ort-int8-dynamic"


def test_promote_promote_rollback_on_real_minilm(minilm_repo, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    root, run = minilm_repo
    repo = GateRepo(root, "minilm", f"sqlite:///{tmp_path / 'registry.db'}")
    original = repo.manifest.read_text()
    # earlier tests of the shared repository leave their edits (a recipe, targets) uncommitted;
    # a promotion is bound to a committed tree, so this test commits the state it starts from
    run("git", "add", "-A", "models", "dvc.yaml", "gate-params.yaml")
    run("git", "commit", "-q", "--allow-empty", "-m", "the state earlier tests left")
    try:
        decision = repo.decide()
        assert decision["verdict"] in ("pass", "fail", "inconclusive")
        failing = sorted((t["target"], r["rule"]) for t in decision["targets"] for r in t["rules"]
                         if r["verdict"] in ("fail", "inconclusive"))
        if failing:
            repo.gate("record")
            refused = repo.gate("promote", check=False)
            assert refused.returncode == 1 and f"is {decision['verdict'].upper()}" in refused.stderr
            expires = (dt.date.today() + dt.timedelta(days=30)).isoformat()
            waivers = [{"rule": r, "target": t, "owner": "edge-gate-tests", "expires": expires,
                        "reason": f"registry e2e: exercise promotion of the real candidate that misses {r}"}
                       for t, r in failing]
            repo.manifest.write_text(original + yaml.safe_dump({"waivers": waivers}, sort_keys=False))
            run("git", "commit", "-qam", "waive the failing rules for the registry test")
            waived = repo.decide()
            assert waived["verdict"] == "pass"  # a waived rule counts as passing (gate.verdict.rules.worst)
            assert sorted((t["target"], r["rule"]) for t in waived["targets"] for r in t["rules"]
                          if r["verdict"] == "waived") == failing
        first = json.loads(repo.gate("record").stdout)
        v1 = first["targets"][TARGET]["model_version"]
        assert json.loads(repo.gate("promote", "--target", TARGET).stdout)["champion"] == v1

        run("git", "commit", "-q", "--allow-empty", "-m", "a later commit on main")
        repo.decide()
        second = json.loads(repo.gate("record").stdout)
        v2 = second["targets"][TARGET]["model_version"]
        assert v2 != v1 and second["run_id"] != first["run_id"]
        promoted = json.loads(repo.gate("promote", "--target", TARGET).stdout)
        assert (promoted["champion"], promoted["previous"]) == (v2, v1)
        rolled = json.loads(repo.gate("rollback", "minilm").stdout)
        assert (rolled["champion"], rolled["previous"]) == (v1, v2)

        h = json.loads(repo.gate("history", "minilm", "--json").stdout)
        assert [(e["action"], e["champion"]) for e in h["events"]] == [("promote", v1), ("promote", v2), ("rollback", v1)]
        ort = next(t for t in repo.decide()["targets"] if t["target"] == TARGET)
        rules = {r["rule"]: r for r in ort["rules"]}
        assert float(h["events"][0]["figures"]["speed-up"]["value"]) == pytest.approx(rules["speed-up"]["value"], rel=1e-5)
        table = repo.gate("history", "minilm").stdout
        with capsys.disabled():
            print("\n" + table)

        import mlflow.onnx
        import onnx

        mlflow.set_tracking_uri(repo.uri)
        champion = mlflow.onnx.load_model("models:/edge-gate.minilm@champion-x86-cpu")
        built = onnx.load(str(root / "build/gate/minilm/targets" / TARGET / "candidate/model.onnx"))
        assert [n.op_type for n in champion.graph.node] == [n.op_type for n in built.graph.node]
        assert "MatMulInteger" in {n.op_type for n in champion.graph.node}  # the INT8 candidate

        child = repo.client().get_run(first["targets"][TARGET]["run_id"])
        lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"][f"measure-minilm-{TARGET}"]
        out = lock["outs"][0]
        assert child.data.params["lineage.measurements"] == f"{out['md5']} {out['path']}"
        (dataset,) = child.inputs.dataset_inputs
        assert dataset.dataset.name == "minilm-eval"
        assert json.loads(dataset.dataset.source)["uri"].endswith("models/minilm/sentences.txt")
    finally:
        repo.manifest.write_text(original)
        run("git", "commit", "-qam", "restore the manifest", check=False)
