"""Lineage in MLflow: one run per manifest, a child run per target, a model version per
candidate.

MLflow is read from the files the DVC stages wrote (``decision.json``, ``measurements.json``,
``dvc.lock``, the artifact folders), never written from inside a cached stage, so a fully
cached ``dvc repro`` still records correct lineage. The tracking store is
``MLFLOW_TRACKING_URI`` when set, else the embedded ``sqlite:///mlflow.db`` in the repository
root with artifacts under ``mlruns/`` (MLflow's own default). Registry stages are deprecated;
edge-gate uses tags (and, for promotion, aliases) only.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from gate import layout
from gate.errors import LineageError


def git_info(root: Path) -> dict[str, str]:
    """Commit sha and branch of the repository at ``root`` (empty strings outside git)."""

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    return {"commit": git("rev-parse", "HEAD"), "branch": git("rev-parse", "--abbrev-ref", "HEAD")}


def dvc_lock_hashes(root: Path) -> dict[str, dict[str, str]]:
    """``{stage: {path: md5}}`` of every dep and out recorded in ``dvc.lock`` (empty if none)."""
    lock = root / "dvc.lock"
    if not lock.is_file():
        return {}
    data = yaml.safe_load(lock.read_text()) or {}
    out: dict[str, dict[str, str]] = {}
    for stage, body in (data.get("stages") or {}).items():
        entries = {}
        for kind in ("deps", "outs"):
            for item in body.get(kind) or []:
                entries[f"{kind}:{item['path']}"] = str(item.get("md5") or item.get("hash") or "")
        out[stage] = entries
    return out


def _tracking_uri(root: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(root / 'mlflow.db').resolve()}"


def record(root: Path, model: str) -> dict[str, Any]:
    """Record the decision of ``model`` (from ``build/gate/<model>/``) in MLflow.

    Returns ``{"run_id": ..., "targets": {target: {"run_id", "model_version"}}}``.

    Raises:
        LineageError: no decision file, or MLflow refused a write.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    decision_path = root / layout.decision_file(model)
    if not decision_path.is_file():
        raise LineageError(f"no decision for {model}: {decision_path} is missing", hint="run `gate decide` first")
    decision = json.loads(decision_path.read_text())
    git = git_info(root)
    locks = dvc_lock_hashes(root)
    uri = _tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(tracking_uri=uri)
    tags = {
        "edge_gate.model": model, "edge_gate.verdict": decision["verdict"],
        "edge_gate.policy": decision["policy"], "edge_gate.manifest_sha256": decision["manifest_sha256"],
        "edge_gate.policy_sha256": decision["policy_sha256"], "mlflow.source.git.commit": git["commit"],
        "edge_gate.git_branch": git["branch"],
    }
    result: dict[str, Any] = {"targets": {}}
    try:
        mlflow.set_experiment(f"edge-gate/{model}")
        with mlflow.start_run(run_name=f"{model}@{git['commit'][:8] or 'nogit'}", tags=tags) as parent:
            result["run_id"] = parent.info.run_id
            mlflow.log_artifact(str(decision_path), "decision")
            mlflow.log_artifact(str(root / layout.report_file(model)), "decision")
            certificate = root / layout.certificate_file(model)
            if certificate.is_file():
                mlflow.log_artifact(str(certificate), "decision")
            for plot in sorted(decision_path.parent.glob("*.png")) + sorted(decision_path.parent.glob("*.svg")):
                mlflow.log_artifact(str(plot), "decision")  # the Pareto and latency plots
            for t in decision["targets"]:
                result["targets"][t["target"]] = _record_target(client, mlflow, root, model, decision, t, tags, locks)
    except MlflowException as exc:
        raise LineageError(f"MLflow ({uri}) refused a write: {exc.message}") from None
    result["tracking_uri"] = uri
    return result


def _record_target(client: Any, mlflow: Any, root: Path, model: str, decision: dict[str, Any],
                   t: dict[str, Any], tags: dict[str, str], locks: dict[str, dict[str, str]]) -> dict[str, Any]:
    name = t["target"]
    stage_hashes = {
        f"dvc.{stage}.{key}": md5 for stage, entries in locks.items()
        if stage.endswith(f"-{model}") or stage.endswith(f"-{model}-{name}") for key, md5 in entries.items()
    }
    with mlflow.start_run(run_name=t["target_id"], nested=True,
                          tags={**tags, "edge_gate.target": name, "edge_gate.verdict": t["verdict"]}) as run:
        mlflow.log_params({"backend": t["backend"], "platform": t["platform"], "target_id": t["target_id"],
                           "config_hash": t["config_hash"]})
        mlflow.set_tags({k[:250]: v for k, v in stage_hashes.items()})
        out: dict[str, Any] = {"run_id": run.info.run_id, "model_version": None}
        if t.get("error"):
            mlflow.set_tag("edge_gate.error", t["error"][:5000])
            return out
        measurements = json.loads((root / t["measurements"]).read_text())
        mlflow.log_params({f"recipe.{k}": v for k, v in measurements["candidate"]["artifact"]["details"].items()
                           if isinstance(v, str | int | float | bool)})
        metrics = {f"candidate.{k}": v for k, v in measurements["candidate"]["metrics"].items()}
        metrics |= {f"baseline.{k}": v for k, v in measurements["baseline"]["metrics"].items()}
        metrics |= {f"rule.{r['rule']}": r["value"] for r in t["rules"] if r["value"] is not None}
        mlflow.log_metrics(metrics)
        mlflow.log_dict(measurements["fingerprint"], "fingerprint.json")
        mlflow.log_artifact(str(root / t["measurements"]))
        mlflow.log_artifacts(str(root / layout.candidate_dir(model, name)), "candidate")
        registered = f"edge-gate.{model}"
        if not client.search_registered_models(filter_string=f"name = '{registered}'"):
            client.create_registered_model(registered, description=f"edge-gate candidates of {model}")
        version = client.create_model_version(
            registered, source=f"{run.info.artifact_uri}/candidate", run_id=run.info.run_id,
            tags={"verdict": t["verdict"], "target": t["target_id"], "backend": t["backend"],
                  "commit": tags["mlflow.source.git.commit"], "config_hash": t["config_hash"]},
        )
        out["model_version"] = str(version.version)
        return out
