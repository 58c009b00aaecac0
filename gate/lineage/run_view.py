"""What an MLflow run shows a reader: source fields, the description, lineage and figures.

Pure functions from the decision, ``dvc.lock`` and the environment to MLflow tag, param and
metric dictionaries; :mod:`gate.lineage.runs` writes them. MLflow's own reserved tags are used
where the UI reads them (https://mlflow.org/docs/latest/ml/tracking/#system-tags):
``mlflow.source.name``/``type``/``git.commit``/``git.repoURL`` (the run page's "Source" and
commit), ``mlflow.note.content`` (the run's description, rendered as markdown).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from gate import layout

#: MLflow's limit on a tag value (``mlflow.utils.validation.MAX_TAG_VAL_LENGTH``, 8000 in MLflow
#: 3); the description is cut below it with a pointer to the full report artifact.
NOTE_MAX_CHARS = 7500

#: A verdict as a number, so the runs table sorts and charts it: 1 passes (pass, waived), 0
#: does not (fail, inconclusive, error).
PASSING = ("pass", "waived")


def source_tags(root: Path, git: dict[str, str], what: str) -> dict[str, str]:
    """MLflow's source fields for a run recorded at ``root``.

    In GitHub Actions the source is the workflow run (``GITHUB_SERVER_URL``/``GITHUB_REPOSITORY``/
    ``actions/runs/GITHUB_RUN_ID``, type JOB) and the repository URL is GitHub's; elsewhere
    it is ``what`` (the command and manifest, type LOCAL) and the repository URL is git's
    ``remote.origin.url`` when set.
    """
    import subprocess

    server, repo, run_id = (os.environ.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY",
                                                            "GITHUB_RUN_ID"))
    if server and repo and run_id:
        name, kind, url = f"{server}/{repo}/actions/runs/{run_id}", "JOB", f"{server}/{repo}"
    else:
        proc = subprocess.run(["git", "config", "--get", "remote.origin.url"], cwd=root, capture_output=True,
                              text=True, check=False)
        name, kind, url = what, "LOCAL", proc.stdout.strip()
    tags = {"mlflow.source.name": name, "mlflow.source.type": kind, "mlflow.source.git.commit": git["commit"],
            "mlflow.source.git.branch": git["branch"]}
    if url:
        tags["mlflow.source.git.repoURL"] = url
    return tags


def artifact_link(run_id: str, path: str) -> str:
    """A URL of run artifact ``path`` that MLflow's UI serves, relative to the UI's root (the
    ``get-artifact`` route the UI itself uses for artifact previews)."""
    from urllib.parse import quote

    return f"get-artifact?path={quote(path, safe='')}&run_uuid={run_id}"


def report_note(report: str, run_id: str, logged: dict[str, str]) -> str:
    """The markdown report as a run description: image and link targets that name a logged
    file (``logged``: file name in the report's folder -> artifact path) point at the run's
    artifact; cut to :data:`NOTE_MAX_CHARS` with a pointer to the full report."""

    def swap(match: re.Match[str]) -> str:
        target = match.group(2)
        return f"]({artifact_link(run_id, logged[target])})" if target in logged else match.group(0)

    text = re.sub(r"\]\(([<]?)([^()\s<>]+)[>]?\)", lambda m: swap(m), report)
    if len(text) > NOTE_MAX_CHARS:
        cut = text[:NOTE_MAX_CHARS].rsplit("\n", 1)[0]
        full = logged.get("report.md", "decision/report.md")
        text = f"{cut}\n\n… (cut here; the full report is the run artifact [{full}]({artifact_link(run_id, full)}))\n"
    return text


def target_note(t: dict[str, Any]) -> str:
    """A child run's description: its verdict and one table row per rule."""
    lines = [f"**{t['target_id']}**: verdict **{t['verdict'].upper()}**", ""]
    if t.get("error"):
        return "\n".join([*lines, f"Error: {t['error']}"])
    lines += ["| rule | value | interval | bound | verdict |", "|---|---|---|---|---|"]
    for r in t["rules"]:
        value = "—" if r.get("value") is None else f"{r['value']:.4g}"
        span = "" if r.get("low") is None or r.get("low") == r.get("high") else f"[{r['low']:.4g}, {r['high']:.4g}]"
        lines.append(f"| {r['rule']} | {value} | {span} | {r.get('bound', '')} | {r['verdict']} |")
    return "\n".join(lines) + "\n"


def figure_metrics(t: dict[str, Any]) -> dict[str, float]:
    """Every rule's value (``rule.<id>``), interval ends (``rule.<id>.low``/``.high``) and
    whether it passed (``rule.<id>.passed``, 1 or 0), and the target's ``passed`` (1 or 0)."""
    out: dict[str, float] = {"passed": 1.0 if t["verdict"] in PASSING else 0.0}
    for r in t.get("rules", []):
        if r.get("value") is not None:
            out[f"rule.{r['rule']}"] = float(r["value"])
        for end in ("low", "high"):
            if r.get(end) is not None:
                out[f"rule.{r['rule']}.{end}"] = float(r[end])
        out[f"rule.{r['rule']}.passed"] = 1.0 if r["verdict"] in PASSING else 0.0
    return out


def lineage_rows(locks: dict[str, dict[str, str]], model: str, target: str | None) -> list[dict[str, str]]:
    """``dvc.lock`` entries of one model's stages (and of ``target``'s when given) as rows
    ``{"stage", "kind", "path", "md5", "role"}``, ``role`` naming the known paths (manifest,
    eval_data, baseline, inputs, candidate, measurements) and empty for others."""
    roles = {str(layout.baseline_dir(model)): "baseline", str(layout.inputs_file(model)): "inputs"}
    if target is not None:
        roles |= {str(layout.candidate_dir(model, target)): "candidate",
                  str(layout.measurements_file(model, target)): "measurements"}
    rows = []
    for stage, entries in locks.items():
        if not (stage.endswith(f"-{model}") or (target is not None and stage.endswith(f"-{model}-{target}"))):
            continue
        for key, md5 in entries.items():
            kind, _, path = key.partition(":")
            role = roles.get(path, "")
            if not role and kind == "deps" and stage.startswith("baseline-"):
                role = "eval_data" if not path.startswith(str(layout.OUT_ROOT)) else ""
            if not role and kind == "deps" and stage.startswith("plan-") and path.endswith((".yaml", ".yml")):
                role = "manifest" if path.endswith("gate.yaml") else "policy"
            rows.append({"stage": stage, "kind": kind, "path": path, "md5": md5, "role": role})
    return rows


def lineage_params(rows: list[dict[str, str]]) -> dict[str, str]:
    """One param per known role, ``lineage.<role>`` = ``<md5> <path>`` (the DVC hash of that
    file or folder, and where it lies): MLflow's parameters table shows keys and values
    whole, where its tag chips cut them."""
    params: dict[str, str] = {}
    for row in rows:
        if row["role"] and f"lineage.{row['role']}" not in params:
            params[f"lineage.{row['role']}"] = f"{row['md5']} {row['path']}"
    return params
