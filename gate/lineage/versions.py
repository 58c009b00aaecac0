"""The MLflow model registry: a model version per candidate, and aliases.

Every candidate is a version of registered model ``edge-gate.<model>``, tagged with its
verdict, target, backend, recipe, commit and the figures of each rule. ONNX candidates are
logged with MLflow's ``onnx`` flavour, so ``models:/edge-gate.<model>@champion`` loads in
MLflow; other formats (GGUF, MLX, OpenVINO IR) are versions whose source is their artifact
folder, logged as run artifacts.

Aliases only (MLflow stages are deprecated since MLflow 2.9), one set per platform
(:func:`alias_for`): ``candidate-<platform>`` (the platform's release in a passing decision),
``champion-<platform>`` and ``previous-<platform>`` (:mod:`gate.lineage.promotion`, which says
why aliases per platform rather than a registered model per platform). MLflow keeps exactly one
version per alias. Aliases are always resolved by lookup, never remembered as numbers, so a
deleted version is noticed; version numbers are compared as strings because the sqlite store
returns ``int`` and the REST API ``str``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gate import layout
from gate.documents import Decision, passes
from gate.errors import LineageError
from gate.lineage.store import log_tags, registered_model

#: The roles of an alias; each is suffixed with the platform (:func:`alias_for`).
ALIASES = ("candidate", "champion", "previous")


def alias_for(role: str, platform: str) -> str:
    """The alias of ``role`` (candidate, champion, previous) on ``platform``: ``champion-x86-cpu``.
    Platform names are ``[a-z0-9][a-z0-9_-]*`` (the manifest's schema), valid in an alias."""
    if role not in ALIASES:
        raise ValueError(f"role must be one of {ALIASES}, not {role!r}")
    return f"{role}-{platform}"


def platforms_with(found: dict[str, str], role: str) -> list[str]:
    """The platforms that have an alias of ``role`` among ``found`` (``{alias: version}``), sorted."""
    return sorted(a[len(role) + 1:] for a in found if a.startswith(f"{role}-"))


def registered_name(model: str) -> str:
    """The registered model of a manifest: ``edge-gate.<model>``."""
    return f"edge-gate.{model}"


def versions_with_key(client: Any, name: str, key: str) -> list[Any]:
    """Versions of ``name`` tagged ``record_key = key``, lowest version first."""
    found = client.search_model_versions(f"name = '{name}' and tags.record_key = '{key}'")
    return sorted(found, key=lambda v: int(v.version))


def resolve_alias(client: Any, name: str, alias: str) -> Any | None:
    """The version holding ``alias`` of ``name``, or None when the alias is unset (also when
    the version it pointed to was deleted: MLflow drops the alias with the version)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def require_alias(client: Any, name: str, alias: str) -> Any:
    """Like :func:`resolve_alias`, but a missing alias is a LineageError naming it."""
    version = resolve_alias(client, name, alias)
    if version is None:
        raise LineageError(
            f"alias {alias!r} of registered model {name!r} resolves to no version: it was never "
            f"set, or the version holding it was deleted",
            hint="see `gate history`; MLflow drops an alias when its version is deleted")
    return version


def version_tags(decision: dict[str, Any], t: dict[str, Any], commit: str, key: str,
                 details: dict[str, Any]) -> dict[str, str]:
    """Tags of one candidate's model version (strings; MLflow caps values at 5,000 chars)."""
    tags = {
        "verdict": t["verdict"], "decision_verdict": decision["verdict"], "target": t["target"],
        "target_id": t["target_id"], "backend": t["backend"], "platform": t["platform"],
        "recipe": json.dumps(details, sort_keys=True, default=str), "commit": commit,
        "config_hash": t["config_hash"], "record_key": key, "policy": decision["policy"],
        "manifest_sha256": decision["manifest_sha256"], "policy_sha256": decision["policy_sha256"],
        "decided_at": decision["decided_at"], "fingerprint_id": (t.get("fingerprint") or {}).get("id", ""),
    }
    for r in t["rules"]:
        tags[f"rule.{r['rule']}"] = "" if r["value"] is None else f"{r['value']:.6g}"
        tags[f"rule.{r['rule']}.verdict"] = r["verdict"]
    return {k: v[:5000] for k, v in tags.items()}


def register_candidate(client: Any, mlflow: Any, root: Path, model: str, decision: dict[str, Any],
                       t: dict[str, Any], run: Any, commit: str, key: str) -> str | None:
    """The model version of target ``t``'s candidate: found by ``record_key`` and its tags
    updated, or logged and created. Returns the version as a string, or None when the target
    has no candidate artifact (it errored before optimizing)."""
    from gate.backends.base import Artifact

    cand_dir = root / layout.candidate_dir(model, t["target"])
    if not (cand_dir / "artifact.json").is_file():
        return None
    artifact = Artifact.read(cand_dir)
    name = registered_name(model)
    registered_model(client, name, f"edge-gate candidates of {model}")
    tags = version_tags(decision, t, commit, key, artifact.details)
    tags |= {"format": artifact.format, "precision": artifact.precision}
    existing = versions_with_key(client, name, key)
    if existing:
        version = existing[0]
        for k, v in tags.items():
            if version.tags.get(k) != v:
                client.set_model_version_tag(name, str(version.version), k, v)
        return str(version.version)
    source, model_id = _log_candidate(client, mlflow, cand_dir, artifact, run)
    mine = client.create_model_version(name, source=source, run_id=run.info.run_id, tags=tags,
                                       model_id=model_id)
    winner = versions_with_key(client, name, key)[0]  # a racing writer may have created one too
    if str(winner.version) != str(mine.version):
        client.delete_model_version(name, str(mine.version))
    return str(winner.version)


def _log_candidate(client: Any, mlflow: Any, cand_dir: Path, artifact: Any, run: Any) -> tuple[str, str | None]:
    """Log the candidate to its run once; returns (version source, logged model id or None).

    The source is remembered on the run (tag ``edge_gate.candidate_source``) so that a retried
    record does not log the model a second time.
    """
    run_id = run.info.run_id
    have = client.get_run(run_id).data.tags
    if have.get("edge_gate.candidate_source"):
        return have["edge_gate.candidate_source"], have.get("edge_gate.candidate_model_id") or None
    model_id: str | None = None
    if artifact.format == "onnx":
        import mlflow.onnx
        import onnx

        proto = onnx.load(str(cand_dir / artifact.entry))  # loads external data beside it too
        with mlflow.start_run(run_id=run_id):
            info = mlflow.onnx.log_model(proto, name="candidate",
                                         onnx_execution_providers=["CPUExecutionProvider"])
        source, model_id = info.model_uri, info.model_id
        client.log_artifact(run_id, str(cand_dir / "artifact.json"), "candidate-artifact")
    else:
        client.log_artifacts(run_id, str(cand_dir), "candidate")
        source = f"{run.info.artifact_uri}/candidate"
    log_tags(client, run_id, {"edge_gate.candidate_source": source,
                              "edge_gate.candidate_model_id": model_id or ""})
    return source, model_id


def set_candidate(client: Any, model: str, decision: dict[str, Any],
                  recorded: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Point alias ``candidate-<platform>`` at each platform's release when the decision passes.

    A failing, inconclusive or errored decision leaves every alias where it was. Returns
    ``{platform: version}`` of the aliases set by this call.
    """
    typed = Decision.model_validate(decision)
    if not passes(typed.verdict):
        return {}
    out = {}
    for platform, target in typed.releases().items():
        version = recorded.get(target.target, {}).get("model_version")
        if version is not None:
            client.set_registered_model_alias(registered_name(model), alias_for("candidate", platform), str(version))
            out[platform] = str(version)
    return out


def aliases(client: Any, name: str) -> dict[str, str]:
    """``{alias: version}`` of registered model ``name``, versions as strings (sqlite gives
    int, REST gives str)."""
    from mlflow.exceptions import MlflowException

    try:
        found = client.get_registered_model(name).aliases
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return {}
        raise
    return {str(k): str(v) for k, v in dict(found).items()}
