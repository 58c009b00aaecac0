"""The MLflow model registry: a model version per candidate, and aliases.

Every candidate is a version of registered model ``edge-gate.<model>``, tagged with its
verdict, target, backend, recipe (its scalar settings), commit and the figures of each rule,
with a description that tabulates them. How the candidate's files reach MLflow is
``EDGE_GATE_MLFLOW_CANDIDATES`` (or ``gate record --candidates``):

* ``copy``: ONNX candidates are logged with MLflow's ``onnx`` flavour, so
  ``models:/edge-gate.<model>@champion`` loads in MLflow; other formats (GGUF, MLX, OpenVINO
  IR) are copied as run artifacts and the version's source is that folder;
* ``reference``: nothing is copied; the version's source is the candidate folder's object in
  the DVC remote (``<remote url>/files/md5/<hash[:2]>/<hash[2:]>``, DVC 3's layout, the hash
  from ``dvc.lock``), and tags ``dvc_remote``, ``dvc_md5`` and ``dvc_path`` say how to get it
  (``dvc pull <dvc_path>`` at the recorded commit). Without a DVC remote or a ``dvc.lock``
  hash the candidate is copied and tag ``logged_as`` says why;
* ``auto`` (the default): ``reference`` for candidates larger than
  ``EDGE_GATE_MLFLOW_COPY_MAX_BYTES`` (default 100 MB), ``copy`` otherwise.

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

MODE_VAR = "EDGE_GATE_MLFLOW_CANDIDATES"
LIMIT_VAR = "EDGE_GATE_MLFLOW_COPY_MAX_BYTES"
#: Candidates larger than this are referenced, not copied, in mode ``auto`` (100 MB: an INT8
#: MiniLM is 23 MB and is copied; a Q8_0 Gemma3-270M GGUF, ~290 MB, is referenced).
COPY_MAX_BYTES = 100_000_000
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
    scalars = {k: v for k, v in details.items() if isinstance(v, str | int | float | bool) and len(str(v)) <= 200}
    tags = {
        "verdict": t["verdict"], "decision_verdict": decision["verdict"], "target": t["target"],
        "target_id": t["target_id"], "backend": t["backend"], "platform": t["platform"],
        "recipe": json.dumps(scalars, sort_keys=True), "commit": commit,
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
    source, model_id, how = _log_candidate(client, mlflow, root, model, t["target"], cand_dir, artifact, run)
    mine = client.create_model_version(name, source=source, run_id=run.info.run_id, tags={**tags, **how},
                                       model_id=model_id, description=version_description(t, commit))
    winner = versions_with_key(client, name, key)[0]  # a racing writer may have created one too
    if str(winner.version) != str(mine.version):
        client.delete_model_version(name, str(mine.version))
    return str(winner.version)


def version_description(t: dict[str, Any], commit: str) -> str:
    """A model version's description: target, verdict, commit and one line per rule."""
    lines = [f"{t['target_id']}: **{t['verdict'].upper()}** at commit `{commit[:12] or 'unknown'}`", ""]
    for r in t.get("rules", []):
        value = "—" if r.get("value") is None else f"{r['value']:.4g}"
        lines.append(f"- {r['rule']}: {value} ({r.get('bound', '')}): {r['verdict']}")
    return "\n".join(lines)


def candidate_mode() -> tuple[str, int]:
    """``(mode, copy limit in bytes)`` from ``EDGE_GATE_MLFLOW_CANDIDATES`` and
    ``EDGE_GATE_MLFLOW_COPY_MAX_BYTES`` (module docstring).

    Raises:
        ConfigError: an unknown mode or a limit that is not a whole number.
    """
    import os

    from gate.errors import ConfigError

    mode = os.environ.get(MODE_VAR, "auto") or "auto"
    if mode not in ("auto", "copy", "reference"):
        raise ConfigError(f"{MODE_VAR}={mode!r}: expected auto, copy or reference")
    limit = os.environ.get(LIMIT_VAR, str(COPY_MAX_BYTES))
    if not limit.isdigit():
        raise ConfigError(f"{LIMIT_VAR}={limit!r}: expected a whole number of bytes")
    return mode, int(limit)


def dvc_reference(root: Path, model: str, target: str) -> dict[str, str] | None:
    """Where the DVC remote keeps target ``target``'s candidate folder: ``{"dvc_remote",
    "dvc_md5", "dvc_path", "source"}``, or None without a default remote or a ``dvc.lock`` hash."""
    import configparser

    import yaml

    config = configparser.ConfigParser()
    config.read([root / ".dvc" / "config", root / ".dvc" / "config.local"])
    remote = config.get("core", "remote", fallback="")
    # DVC writes the section as ['remote "<name>"'] (configobj quoting)
    section = next((s for s in (f"'remote \"{remote}\"'", f'remote "{remote}"') if config.has_section(s)), "")
    url = config.get(section, "url", fallback="") if remote and section else ""
    lock = root / "dvc.lock"
    if not url or not lock.is_file():
        return None
    rel = str(layout.candidate_dir(model, target))
    stage = ((yaml.safe_load(lock.read_text()) or {}).get("stages") or {}).get(f"optimize-{model}-{target}") or {}
    md5 = next((str(o.get("md5") or "") for o in stage.get("outs") or [] if o.get("path") == rel), "")
    if not md5:
        return None
    if "://" not in url and not Path(url).is_absolute():  # a local remote relative to .dvc/
        url = str((root / ".dvc" / url).resolve())
    return {"dvc_remote": url, "dvc_md5": md5, "dvc_path": rel,
            "source": f"{url.rstrip('/')}/files/md5/{md5[:2]}/{md5[2:]}"}


def _log_candidate(client: Any, mlflow: Any, root: Path, model: str, target: str, cand_dir: Path, artifact: Any,
                   run: Any) -> tuple[str, str | None, dict[str, str]]:
    """Log (or reference) the candidate once; returns (version source, logged model id or None,
    tags saying how it was logged).

    The source is remembered on the run (tag ``edge_gate.candidate_source``) so that a retried
    record does not log the model a second time.
    """
    run_id = run.info.run_id
    have = client.get_run(run_id).data.tags
    if have.get("edge_gate.candidate_source"):
        return (have["edge_gate.candidate_source"], have.get("edge_gate.candidate_model_id") or None,
                {"logged_as": have.get("edge_gate.candidate_logged_as", "")})
    mode, limit = candidate_mode()
    ref = dvc_reference(root, model, target) if mode != "copy" else None
    if mode == "reference" or (mode == "auto" and artifact.size_bytes > limit):
        if ref is not None:
            how = {"logged_as": f"reference ({mode}: {artifact.size_bytes} bytes, not copied)",
                   **{k: v for k, v in ref.items() if k != "source"}}
            log_tags(client, run_id, {"edge_gate.candidate_source": ref["source"], "edge_gate.candidate_model_id": "",
                                      "edge_gate.candidate_logged_as": how["logged_as"],
                                      **{f"edge_gate.candidate_{k}": v for k, v in how.items() if k != "logged_as"}})
            client.log_artifact(run_id, str(cand_dir / "artifact.json"), "candidate-artifact")
            return ref["source"], None, how
        why = "copied: no DVC remote or dvc.lock hash to reference"
    else:
        why = f"copied ({mode})"
    source, model_id = _copy_candidate(client, mlflow, cand_dir, artifact, run)
    log_tags(client, run_id, {"edge_gate.candidate_source": source, "edge_gate.candidate_model_id": model_id or "",
                              "edge_gate.candidate_logged_as": why})
    return source, model_id, {"logged_as": why}


def _copy_candidate(client: Any, mlflow: Any, cand_dir: Path, artifact: Any, run: Any) -> tuple[str, str | None]:
    """Copy the candidate into the run's artifacts (ONNX as an MLflow model)."""
    run_id = run.info.run_id
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
