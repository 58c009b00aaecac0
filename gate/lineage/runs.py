"""Lineage in MLflow: one run per manifest, a child run per target, a model version per
candidate (the versions and aliases are :mod:`gate.lineage.versions`'s).

MLflow is read from the files the DVC stages wrote (``decision.json``, ``measurements.json``,
``dvc.lock``, the artifact folders), never written from inside a cached stage, so a fully
cached ``dvc repro`` still records correct lineage. The store is chosen and opened by
:mod:`gate.lineage.store`.

Idempotence: a run is identified by a ``edge_gate.record_key`` tag, the hash of
(commit, model, manifest sha256[, target]). Recording the same (commit, manifest, target)
again finds the run by that tag and updates it; it never creates a second one. That is also
what makes retrying a whole record after "database is locked" safe.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import yaml

from gate import layout
from gate.config.schema import sha256_json
from gate.documents import Decision, Measurements
from gate.errors import DocumentError, InfrastructureError, LineageError
from gate.lineage.store import EXPERIMENT_KIND, experiment_id, log_tags, open_client, unavailable, with_retry

KEY_TAG = "edge_gate.record_key"


def git_info(root: Path) -> dict[str, str]:
    """Commit sha, branch and pull-request number of the checkout at ``root``.

    In GitHub Actions the branch is ``GITHUB_HEAD_REF`` (a pull request's source branch) or
    ``GITHUB_REF_NAME``, and the PR number comes from ``GITHUB_REF=refs/pull/<n>/merge``
    (GitHub's documented default variables); ``GATE_PR_NUMBER`` overrides it. Outside git
    every value is an empty string.
    """

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    branch = os.environ.get("GITHUB_HEAD_REF") or os.environ.get("GITHUB_REF_NAME") or git(
        "rev-parse", "--abbrev-ref", "HEAD")
    match = re.fullmatch(r"refs/pull/(\d+)/(?:merge|head)", os.environ.get("GITHUB_REF", ""))
    pr = os.environ.get("GATE_PR_NUMBER") or (match.group(1) if match else "")
    return {"commit": git("rev-parse", "HEAD"), "branch": branch, "pr_number": pr}


def dvc_lock_hashes(root: Path) -> dict[str, dict[str, str]]:
    """``{stage: {"deps:<path>" | "outs:<path>": md5}}`` from ``dvc.lock`` (empty if none)."""
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


def record_key(commit: str, model: str, manifest_sha256: str, target: str | None = None) -> str:
    """16 hex digits identifying one recording of a manifest (``target=None``) or a target."""
    return sha256_json({"commit": commit, "model": model, "manifest_sha256": manifest_sha256,
                        "target": target})[:16]


def read_decision(root: Path, model: str) -> dict[str, Any]:
    """``build/gate/<model>/decision.json`` as a dict.

    Raises:
        LineageError: missing, not JSON, or not a decision document.
    """
    path = root / layout.decision_file(model)
    if not path.is_file():
        raise LineageError(f"no decision for {model}: {path} is missing", hint="run `gate decide` first")
    try:
        return Decision.read(path).dump()  # validated by the decision's schema (gate.documents)
    except DocumentError as exc:
        raise LineageError(str(exc)) from None


def find_or_create_run(client: Any, exp_id: str, key: str, run_name: str, tags: dict[str, str]) -> Any:
    """The run tagged ``edge_gate.record_key = key`` in ``exp_id``, created when missing.

    Two writers racing on the same key both create, then both keep the oldest run
    (start time, then run id) and delete their own if it is not that one.
    """

    def search() -> list[Any]:
        runs = client.search_runs([exp_id], f"tags.`{KEY_TAG}` = '{key}'", max_results=50)
        return sorted(runs, key=lambda r: (r.info.start_time, r.info.run_id))

    found = search()
    if found:
        return found[0]
    mine = client.create_run(exp_id, run_name=run_name, tags={**tags, KEY_TAG: key})
    winner = search()[0]
    if winner.info.run_id != mine.info.run_id:
        client.delete_run(mine.info.run_id)
    return winner


def log_new_params(client: Any, run: Any, params: dict[str, Any]) -> None:
    """Log the params the run does not have yet (MLflow params are immutable)."""
    from mlflow.entities import Param

    have = run.data.params
    new = [Param(k, str(v)) for k, v in params.items() if k not in have]
    if new:
        client.log_batch(run.info.run_id, params=new)


def record(root: Path, model: str, eval_source: Path | None = None) -> dict[str, Any]:
    """Record the decision of ``model`` (from ``build/gate/<model>/``) in MLflow.

    ``eval_source`` is the manifest's eval set file, logged as the dataset's source.
    Returns ``{"run_id", "tracking_uri", "targets": {target: {"run_id", "model_version"}},
    "candidate_alias": version or None}``, and ``run_url`` (the run's page in MLflow's UI,
    in its model-training view) when the store is a server.

    Raises:
        LineageError: no decision file, MLflow refused a write, or the store stayed locked.
    """
    from mlflow.exceptions import MlflowException

    from gate.lineage import run_view as view
    from gate.lineage import versions as registry

    decision = read_decision(root, model)
    git = git_info(root)
    locks = dvc_lock_hashes(root)
    mlflow, client, uri = open_client(root)
    tags = {
        "edge_gate.model": model, "edge_gate.verdict": decision["verdict"],
        "edge_gate.policy": decision["policy"], "edge_gate.manifest": decision["manifest"],
        "edge_gate.manifest_sha256": decision["manifest_sha256"],
        "edge_gate.policy_sha256": decision["policy_sha256"], "edge_gate.decided_at": decision["decided_at"],
        "edge_gate.source_sha256": decision.get("source_sha256", ""),
        "edge_gate.eval_sha256": decision.get("eval_sha256", ""),
        **view.source_tags(root, git, f"gate record {decision['manifest']}"),
        "edge_gate.git_branch": git["branch"], "edge_gate.pr_number": git["pr_number"],
    }

    def once() -> dict[str, Any]:
        exp_id = experiment_id(client, f"edge-gate/{model}", EXPERIMENT_KIND)
        key = record_key(git["commit"], model, decision["manifest_sha256"])
        parent = find_or_create_run(client, exp_id, key, f"{model}@{git['commit'][:8] or 'nogit'}", tags)
        run_id = parent.info.run_id
        log_tags(client, run_id, tags)
        log_new_params(client, parent, {  # the parameters table shows these whole (tag chips cut them)
            "commit": git["commit"], "branch": git["branch"], "manifest": decision["manifest"],
            "policy": decision["policy"], "manifest_sha256": decision["manifest_sha256"],
            "policy_sha256": decision["policy_sha256"]})
        logged = _log_decision_files(client, root, model, run_id)
        report = root / layout.report_file(model)
        if report.is_file():  # the run's description: the report, its plots from the run's artifacts
            log_tags(client, run_id, {"mlflow.note.content": view.report_note(report.read_text(), run_id, logged)})
        passed = [t["verdict"] in view.PASSING for t in decision["targets"]]
        _log_metrics(client, run_id, {"passed": 1.0 if decision["verdict"] in view.PASSING else 0.0,
                                      "targets_passed": float(sum(passed)), "targets": float(len(passed))})
        out: dict[str, Any] = {"run_id": run_id, "tracking_uri": uri, "targets": {}}
        if uri.startswith(("http://", "https://")):  # MLflow 3.17's UI picks its view from this parameter
            out["run_url"] = f"{uri.rstrip('/')}/#/experiments/{exp_id}/runs/{run_id}?workflowType=machine_learning"
        for t in decision["targets"]:
            child_tags = {**tags, "mlflow.parentRunId": run_id, "edge_gate.target": t["target"],
                          "edge_gate.verdict": t["verdict"]}
            child_key = record_key(git["commit"], model, decision["manifest_sha256"], t["target"])
            child = find_or_create_run(client, exp_id, child_key, t["target_id"], child_tags)
            log_tags(client, child.info.run_id, {**child_tags, "mlflow.note.content": view.target_note(t)})
            _record_target(client, root, model, t, child, locks, eval_source)
            version = registry.register_candidate(client, mlflow, root, model, decision, t, child,
                                                  git["commit"], child_key)
            client.set_terminated(child.info.run_id, "FINISHED")
            out["targets"][t["target"]] = {"run_id": child.info.run_id, "model_version": version}
        client.set_terminated(run_id, "FINISHED")
        out["candidate_alias"] = registry.set_candidate(client, model, decision, out["targets"])
        return out

    try:
        return with_retry(once, f"record {model} in MLflow ({uri})")
    except MlflowException as exc:
        if unavailable(exc):
            raise InfrastructureError(f"MLflow ({uri}) stopped answering during record: {exc.message[:300]}",
                                      hint="run `gate record` again: it updates what was recorded") from None
        raise LineageError(f"MLflow ({uri}) refused a write: {exc.message}") from None


def _record_target(client: Any, root: Path, model: str, t: dict[str, Any], run: Any,
                   locks: dict[str, dict[str, str]], eval_source: Path | None) -> None:
    """Params, tags, metrics, artifacts and the eval dataset of one target's child run."""
    from gate.lineage import run_view as view

    run_id, name = run.info.run_id, t["target"]
    rows = view.lineage_rows(locks, model, name)
    log_new_params(client, run, {"backend": t["backend"], "platform": t["platform"],
                                 "target_id": t["target_id"], "config_hash": t["config_hash"],
                                 **view.lineage_params(rows)})
    if rows:  # every dvc.lock entry of the target's stages, as a table the UI shows
        client.log_dict(run_id, {"columns": ["stage", "kind", "path", "md5", "role"],
                                 "data": [[r[c] for c in ("stage", "kind", "path", "md5", "role")] for r in rows]},
                        "lineage.json")
    _log_metrics(client, run_id, view.figure_metrics(t))
    if t.get("error"):
        log_tags(client, run_id, {"edge_gate.error": t["error"]})
        return
    measurements = Measurements.read(root / t["measurements"]).dump()  # validated (gate.documents)
    details = measurements["candidate"]["artifact"]["details"]
    note = measurements["baseline"]["artifact"]["details"].get("note")
    if note:  # e.g. an F16 baseline that is an upcast of a Q4_1 file
        log_tags(client, run_id, {"edge_gate.baseline_note": str(note)})
    log_new_params(client, run, {f"recipe.{k}": v for k, v in details.items()
                                 if isinstance(v, str | int | float | bool) and len(str(v)) <= 500})
    fp = measurements["fingerprint"]
    log_tags(client, run_id, {
        "edge_gate.fingerprint_id": fp.get("id", ""), "edge_gate.cpu_model": fp.get("cpu_model", ""),
        "edge_gate.isa": " ".join(fp.get("isa", [])), "edge_gate.measurements_sha256": t["measurements_sha256"],
        **{f"version.{k}": v for k, v in measurements.get("versions", {}).items()},
    })
    values = {f"candidate.{k}": v for k, v in measurements["candidate"]["metrics"].items()}
    values |= {f"baseline.{k}": v for k, v in measurements["baseline"]["metrics"].items()}
    _log_metrics(client, run_id, values)
    client.log_dict(run_id, fp, "fingerprint.json")
    client.log_artifact(run_id, str(root / t["measurements"]))
    _log_eval_dataset(client, root, model, run_id, measurements, eval_source)


def _log_metrics(client: Any, run_id: str, values: dict[str, Any]) -> None:
    """Log numeric ``values`` as metrics at step 0 (MLflow takes at most 1000 per batch)."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [Metric(k, float(v), now, 0) for k, v in values.items() if isinstance(v, int | float)]
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i:i + 1000])


def _log_decision_files(client: Any, root: Path, model: str, run_id: str) -> dict[str, str]:
    """Log decision.json, report.md, certificate.json and the plots under ``decision/``;
    returns ``{file name: artifact path}``."""
    folder = (root / layout.decision_file(model)).parent
    files = [root / layout.decision_file(model), root / layout.report_file(model),
             root / layout.certificate_file(model)]
    files += sorted(folder.glob("*.png")) + sorted(folder.glob("*.svg"))  # the Pareto and latency plots
    logged = {}
    for path in files:
        if path.is_file():
            client.log_artifact(run_id, str(path), "decision")
            logged[path.name] = f"decision/{path.name}"
    return logged


def _log_eval_dataset(client: Any, root: Path, model: str, run_id: str, measurements: dict[str, Any],
                      eval_source: Path | None) -> None:
    """Log the tokenized eval set as an MLflow dataset input (context ``eval``)."""
    import mlflow.data
    import numpy as np
    from mlflow.entities import DatasetInput, InputTag

    inputs = root / layout.inputs_file(model)
    if not inputs.is_file():
        return
    with np.load(inputs) as npz:
        features = {k: npz[k] for k in npz.files if k.startswith("eval.")}
    with warnings.catch_warnings():
        # mlflow registers its local-file dataset source twice ("" and "file" schemes) and warns
        # that a path matches both; either one records the same path.
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        dataset = mlflow.data.from_numpy(  # type: ignore[attr-defined]
            features, source=str(eval_source or inputs), name=f"{model}-eval",
            digest=str(measurements.get("inputs_sha256", ""))[:16] or None)
    client.log_inputs(run_id, datasets=[DatasetInput(dataset._to_mlflow_entity(),
                                                     tags=[InputTag("mlflow.data.context", "eval")])])
