"""Eight `gate record` processes at once against one store: nothing lost, nothing locked (C20)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.registry.conftest import PASSING, TARGET

pytestmark = pytest.mark.e2e
RECORDERS = 8


def test_parallel_recorders_lose_no_run(new_repo, store_uri, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = new_repo("0")
    first.write_candidate(PASSING, scale=1.0, fmt="gguf")  # a non-ONNX candidate: a folder source
    first.commit("leg 0")
    assert first.decide()["verdict"] == "pass"
    repos = [first.path]
    for i in range(1, RECORDERS):  # same manifest and decision, one distinct commit per CI leg
        path = tmp_path / f"repo-{i}"
        shutil.copytree(first.path, path, symlinks=True)
        first.run("git", "-C", str(path), "commit", "-q", "--allow-empty", "-m", f"leg {i}")
        repos.append(path)
    commits = [first.run("git", "-C", str(p), "rev-parse", "HEAD").stdout.strip() for p in repos]
    assert len(set(commits)) == RECORDERS

    env = {**os.environ, "MLFLOW_TRACKING_URI": store_uri, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    procs = [subprocess.Popen(["gate", "record"], cwd=p, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for p in repos]
    outputs = [proc.communicate(timeout=540) for proc in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
        assert "database is locked" not in out + err
    results = [json.loads(out) for out, _ in outputs]

    client = first.client()
    exp = client.get_experiment_by_name(f"edge-gate/{first.model}")
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = {r.info.run_id: r for r in runs if "mlflow.parentRunId" not in r.data.tags}
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert sorted(parents) == sorted(r["run_id"] for r in results)
    assert len(parents) == len(children) == RECORDERS
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == set(parents)
    assert sorted(p.data.tags["mlflow.source.git.commit"] for p in parents.values()) == sorted(commits)
    assert all(c.data.metrics["rule.speed-up"] == pytest.approx(17.0 / 5.0) for c in children)

    versions = client.search_model_versions(f"name = 'edge-gate.{first.model}'")
    assert sorted(int(v.version) for v in versions) == list(range(1, RECORDERS + 1))
    assert sorted(v.tags["commit"] for v in versions) == sorted(commits)
    assert sorted(r["targets"][TARGET]["model_version"] for r in results) == sorted(str(v.version) for v in versions)
    assert all(v.source.endswith("/candidate") and v.tags["format"] == "gguf" for v in versions)
    import mlflow.artifacts

    local = mlflow.artifacts.download_artifacts(artifact_uri=versions[0].source, dst_path=str(tmp_path / "dl"),
                                                tracking_uri=store_uri)
    assert (Path(local) / "model.gguf").read_bytes()[:4] == b"GGUF"
    assert json.loads((Path(local) / "artifact.json").read_text())["format"] == "gguf"
