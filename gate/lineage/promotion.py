"""Promotion, rollback and the champion's history, with MLflow registry aliases.

* ``promote``: on the protected branch, move ``champion`` to the recommended passing candidate
  of the current decision and keep the version it replaces under ``previous``. Refused when
  the decision is not passing (fail, inconclusive, error never promote), when it was computed
  from another manifest or policy than the files now hold (stale metrics, shared case C16),
  or when the candidate was not recorded at this commit, or when the champion comes from a
  newer commit (unless ``allow_older``). Promoting the version that already is champion
  changes nothing and logs nothing (idempotent).
* ``rollback``: swap ``champion`` and ``previous``.
* Both run only on the protected branch, from a committed tree, after re-verifying the
  evidence chain (:mod:`gate.lineage.evidence`), and move the aliases under a lock
  (:func:`registry_lock`), so concurrent promotions leave one champion and a ``previous``
  chain that the history matches.
* Each promotion or rollback is logged as a run in experiment
  ``edge-gate/<model>/promotions`` carrying the version, the one it replaced, the verdicts
  and the rule figures that justified it; ``history`` reads them back.

Aliases are resolved by lookup on every call (:func:`gate.lineage.versions.resolve_alias`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import random
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gate.errors import InfrastructureError, LineageError, PromotionRefused
from gate.lineage.evidence import verify_decision
from gate.lineage.runs import git_info, read_decision, record_key
from gate.lineage.store import already_exists, experiment_id, log_tags, open_client, with_retry
from gate.lineage.versions import (
    PASSING,
    aliases,
    recommended_target,
    registered_name,
    require_alias,
    resolve_alias,
    versions_with_key,
)

#: The branch ``gate promote`` runs on unless told otherwise (``--branch`` or
#: ``GATE_PROTECTED_BRANCH``); in GitHub Actions a push to any branch GitHub reports as
#: protected (``GITHUB_REF_PROTECTED=true``) also qualifies.
DEFAULT_PROTECTED_BRANCH = "main"


def require_protected_branch(root: Path, branch: str | None, action: str) -> str:
    """Refuse ``action`` (promote, rollback) unless it runs on the protected branch.

    The branch is taken from facts a pull request's author cannot set. In GitHub Actions
    (``GITHUB_ACTIONS=true``): the event must be a ``push`` (``GITHUB_EVENT_NAME``) to
    ``refs/heads/<branch>`` (``GITHUB_REF``), or to a branch GitHub marks protected
    (``GITHUB_REF_PROTECTED``). ``GITHUB_HEAD_REF`` is never read: it is the name of the pull
    request's source branch, which its author chooses (a fork's branch may be called ``main``).
    Elsewhere: the branch checked out at ``root`` (``git symbolic-ref``; a detached HEAD is
    on no branch).

    Returns the protected branch's name.

    Raises:
        PromotionRefused: not a push to the protected branch, or another branch checked out.
    """
    name = branch or os.environ.get("GATE_PROTECTED_BRANCH") or DEFAULT_PROTECTED_BRANCH
    hint = "--branch names another protected branch"
    if os.environ.get("GITHUB_ACTIONS") == "true":
        event, ref = os.environ.get("GITHUB_EVENT_NAME", ""), os.environ.get("GITHUB_REF", "")
        if event != "push":
            raise PromotionRefused(f"gate {action} runs on a push to the protected branch {name!r}; "
                                   f"this is a {event or '(unnamed)'!r} event for {ref or '(no ref)'!r}",
                                   hint=hint)
        protected = ref.startswith("refs/heads/") and os.environ.get("GITHUB_REF_PROTECTED") == "true"
        if ref != f"refs/heads/{name}" and not protected:
            raise PromotionRefused(f"gate {action} runs on the protected branch {name!r}, not on {ref!r}",
                                   hint=hint)
        return name
    proc = subprocess.run(["git", "symbolic-ref", "--quiet", "--short", "HEAD"], cwd=root,
                          capture_output=True, text=True, check=False)
    current = proc.stdout.strip() if proc.returncode == 0 else ""
    if current != name:
        raise PromotionRefused(f"gate {action} runs on the protected branch {name!r}, not on "
                               f"{current or '(detached HEAD or no git checkout)'!r}", hint=hint)
    return name


def require_committed(root: Path, files: dict[str, Path], decided: dict[str, str]) -> None:
    """Refuse unless every file of ``files`` inside ``root`` is committed, unmodified, and its
    committed bytes have the sha256 the decision recorded (``decided[what]``, where given).

    ``files`` maps a description (``manifest``, ``policy``, ``eval data``) to a path. A file
    outside the repository (a policy bundled with edge-gate) is not git's to check.

    Raises:
        LineageError: a file is untracked, modified or staged, or its committed bytes differ
            from the decided ones (the message names the file).
    """
    top = root.resolve()
    for what, path in files.items():
        resolved = path.resolve()
        if not resolved.is_relative_to(top):
            continue
        rel = resolved.relative_to(top).as_posix()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", rel],
                                cwd=root, capture_output=True, text=True, check=False)
        if status.returncode != 0 or status.stdout.strip():
            state = status.stdout.strip()[:2].strip() or "not in a git checkout"
            raise LineageError(f"the {what} {rel} is not committed as it is (git status: {state}); a "
                               f"promotion is bound to a clean, committed tree",
                               hint="commit the file, then decide and record again")
        blob = subprocess.run(["git", "show", f"HEAD:{rel}"], cwd=root, capture_output=True, check=False)
        if blob.returncode != 0:
            raise LineageError(f"the {what} {rel} is not in commit HEAD", hint="commit it first")
        if what in decided and hashlib.sha256(blob.stdout).hexdigest() != decided[what]:
            raise LineageError(f"the committed {what} {rel} is not the one decided (sha256 "
                               f"{hashlib.sha256(blob.stdout).hexdigest()[:12]} committed, "
                               f"{decided[what][:12]} decided)", hint="decide and record again")


def events_experiment(model: str) -> str:
    return f"edge-gate/{model}/promotions"


def check_fresh_decision(decision: dict[str, Any], manifest_sha256: str, policy_sha256: str) -> None:
    """Refuse a decision computed from other manifest or policy bytes than the current files.

    Raises:
        LineageError: either sha256 differs (the message gives both).
    """
    for what, recorded, now in (("manifest", decision["manifest_sha256"], manifest_sha256),
                                ("policy", decision["policy_sha256"], policy_sha256)):
        if recorded != now:
            raise LineageError(
                f"stale decision for {decision['model']}: it was computed from {what} sha256 "
                f"{recorded[:12]}, the {what} file now has {now[:12]}; its metrics do not describe "
                f"the current {what}", hint="run `dvc repro`, `gate decide` and `gate record` again")


def promote(root: Path, manifest: Path, target: str | None = None,
            protected_branch: str | None = None, new_hardware: bool = False,
            policy_override: Path | None = None, allow_older: bool = False) -> dict[str, Any]:
    """Move ``champion`` to this commit's recommended (or the named) passing candidate.

    A candidate measured on another hardware fingerprint than the current champion (CPU
    model, ISA flags, cores) is refused unless ``new_hardware`` says the fleet changed: figures
    from a VNNI machine say nothing about one without it (shared case C03).

    Returns ``{"model", "champion", "previous", "changed", "target"}`` (versions as strings).

    Raises:
        PromotionRefused: not on the protected branch; the decision or the target is not
            passing (exit 1).
        LineageError: stale decision; candidate not recorded at this commit; MLflow failure.
        EvidenceError: a measured file changed since the decision
            (:func:`gate.lineage.evidence.verify_decision`).
        ConfigError: the manifest or policy is invalid.
    """
    from gate.config.loading import load_pair

    loaded, policy = load_pair(manifest, policy_override)
    model = loaded.manifest.name
    require_protected_branch(root, protected_branch, "promote")
    git = git_info(root)
    decision = read_decision(root, model)
    check_fresh_decision(decision, loaded.sha256, policy.sha256)
    if decision["verdict"] not in PASSING:
        raise PromotionRefused(f"the decision for {model} is {decision['verdict'].upper()}: a failing, "
                               f"inconclusive or errored decision never promotes")
    if target is None:
        chosen = recommended_target(decision)
    else:
        chosen = next((t for t in decision["targets"] if t["target"] == target), None)
        if chosen is None:
            raise LineageError(f"the decision for {model} has no target {target!r}")
    if chosen is None or chosen["verdict"] not in PASSING:
        which = "no target" if chosen is None else f"target {chosen['target']!r}"
        raise PromotionRefused(f"{which} of {model} is passing; nothing can be promoted")
    require_committed(root, {"manifest": loaded.path, "policy": policy.path, "eval data": loaded.eval_path()},
                      {"manifest": decision["manifest_sha256"], "policy": decision["policy_sha256"]})
    verify_decision(root, loaded, policy, decision, promote=chosen["target"])
    _, client, _ = open_client(root)
    name = registered_name(model)
    key = record_key(git["commit"], model, decision["manifest_sha256"], chosen["target"])
    recorded = with_retry(lambda: versions_with_key(client, name, key), "find the candidate version")
    if not recorded:
        raise LineageError(f"{model}/{chosen['target']} is not recorded at commit {git['commit'][:12]}",
                           hint="run `gate record` first")
    version = recorded[0]
    if version.tags.get("verdict") not in PASSING:
        raise PromotionRefused(f"version {version.version} of {name} is tagged verdict "
                               f"{version.tags.get('verdict')!r}; it cannot be promoted")

    def move() -> dict[str, Any]:
        with registry_lock(client, name):
            return move_locked()

    def move_locked() -> dict[str, Any]:
        current = resolve_alias(client, name, "champion")
        out = {"model": model, "target": chosen["target"], "champion": str(version.version), "changed": False}
        if current is not None and str(current.version) == str(version.version):
            prev = resolve_alias(client, name, "previous")
            return {**out, "previous": None if prev is None else str(prev.version)}
        if current is not None and not allow_older:
            older = _older_than(root, git["commit"], decision["decided_at"], current)
            if older:
                raise PromotionRefused(f"champion v{current.version} of {name} comes from a newer commit: {older}",
                                       hint="--allow-older promotes an older commit on purpose")
        if current is not None and not new_hardware:
            old_fp, new_fp = current.tags.get("fingerprint_id", ""), version.tags.get("fingerprint_id", "")
            if old_fp != new_fp:
                raise PromotionRefused(
                    f"champion v{current.version} of {name} was measured on hardware {old_fp or '(unknown)'}, "
                    f"v{version.version} on {new_fp or '(unknown)'}: their figures are not comparable",
                    hint="--new-hardware promotes anyway when the deployment hardware changed")
        if current is not None:
            client.set_registered_model_alias(name, "previous", str(current.version))
        client.set_registered_model_alias(name, "champion", str(version.version))
        replaced = None if current is None else str(current.version)
        _log_event(client, model, "promote", version, replaced, git["commit"])
        return {**out, "previous": replaced, "changed": True}

    return with_retry(move, f"promote {name} v{version.version}")


#: Seconds a promotion waits for another one to finish, and the age after which a lock left
#: by a process that died is taken over.
LOCK_WAIT_S = 60.0
LOCK_STALE_S = 120.0


@contextlib.contextmanager
def registry_lock(client: Any, name: str) -> Iterator[None]:
    """Hold the promotion lock of registered model ``name`` for the block.

    MLflow has no compare-and-set on aliases, so a promotion reads ``champion``, writes
    ``previous`` and ``champion`` and logs the event under a mutex: creating the registered
    model ``<name>.promotion-lock`` succeeds for exactly one writer (the store's unique name
    constraint, in sqlite and behind a server alike); the others wait until it is deleted.
    Without it, two concurrent promotes both recorded ``previous: 1`` and one version fell
    out of the rollback chain.

    Raises:
        InfrastructureError: still held by another writer after :data:`LOCK_WAIT_S` (exit 4).
    """
    from mlflow.exceptions import MlflowException

    lock = f"{name}.promotion-lock"
    me = f"{os.getpid()}@{time.time():.3f}"
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            client.create_registered_model(lock, tags={"holder": me, "since": f"{time.time():.3f}"},
                                           description="held while edge-gate moves this model's aliases")
            break
        except MlflowException as exc:
            if not already_exists(exc):
                raise
        try:
            held = client.get_registered_model(lock)
            since = float(held.tags.get("since", "0"))
        except MlflowException:
            continue  # released meanwhile: try again at once
        if time.time() - since > LOCK_STALE_S:
            with contextlib.suppress(MlflowException):
                client.delete_registered_model(lock)  # its holder died: take it over
            continue
        if time.monotonic() > deadline:
            raise InfrastructureError(f"another promotion of {name} has held its lock for {time.time() - since:.0f} s",
                                      hint="retry when it has finished")
        time.sleep(0.2 + random.random() * 0.3)
    try:
        yield
    finally:
        with contextlib.suppress(MlflowException):
            client.delete_registered_model(lock)


def _older_than(root: Path, commit: str, decided_at: str, champion: Any) -> str:
    """Why this promotion's commit is older than the champion's, or "" when it is not.

    By git when the champion's commit is in this checkout (this commit is its ancestor);
    else (a shallow CI clone) by the decision times recorded on the versions.
    """
    theirs = champion.tags.get("commit", "")
    if not theirs or theirs == commit:
        return ""
    known = subprocess.run(["git", "cat-file", "-e", f"{theirs}^{{commit}}"], cwd=root,
                           capture_output=True, check=False).returncode == 0
    if known:
        ancestor = subprocess.run(["git", "merge-base", "--is-ancestor", commit, theirs], cwd=root,
                                  capture_output=True, check=False).returncode == 0
        return f"{commit[:12]} is an ancestor of {theirs[:12]}" if ancestor else ""
    their_time = champion.tags.get("decided_at", "")
    if their_time and decided_at and their_time > decided_at:
        return (f"it was decided at {their_time}, this commit {commit[:12]} at {decided_at} "
                f"(its commit {theirs[:12]} is not in this checkout to compare by git)")
    return ""


def rollback(root: Path, model: str, protected_branch: str | None = None) -> dict[str, Any]:
    """Swap ``champion`` and ``previous`` of ``edge-gate.<model>``, on the protected branch only
    (:func:`require_protected_branch`, the same check as ``promote``).

    Returns ``{"model", "champion", "previous"}`` after the swap.

    Raises:
        PromotionRefused: not on the protected branch (exit 1).
        LineageError: either alias resolves to no version (never set, or its version deleted).
    """
    require_protected_branch(root, protected_branch, "rollback")
    _, client, _ = open_client(root)
    name = registered_name(model)
    with registry_lock(client, name):
        champion = require_alias(client, name, "champion")
        previous = require_alias(client, name, "previous")
        client.set_registered_model_alias(name, "champion", str(previous.version))
        client.set_registered_model_alias(name, "previous", str(champion.version))
        _log_event(client, model, "rollback", client.get_model_version(name, str(previous.version)),
                   str(champion.version), git_info(root)["commit"])
    return {"model": model, "champion": str(previous.version), "previous": str(champion.version)}


def _log_event(client: Any, model: str, action: str, version: Any, replaced: str | None, commit: str) -> None:
    """One run in ``edge-gate/<model>/promotions`` describing a move of ``champion``."""
    exp_id = experiment_id(client, events_experiment(model))
    vt = version.tags
    run = client.create_run(exp_id, run_name=f"{action} v{version.version}", tags={
        "edge_gate.action": action, "edge_gate.champion": str(version.version),
        "edge_gate.replaced": replaced or "", "edge_gate.target": vt.get("target", ""),
        "edge_gate.version_commit": vt.get("commit", ""), "edge_gate.commit": commit,
        "edge_gate.verdict": vt.get("verdict", ""), "edge_gate.decided_at": vt.get("decided_at", ""),
        "edge_gate.source_run_id": version.run_id or "",
    })
    log_tags(client, run.info.run_id, {f"figure.{k}": v for k, v in vt.items() if k.startswith("rule.")})
    client.set_terminated(run.info.run_id, "FINISHED")


def history(root: Path, model: str) -> dict[str, Any]:
    """The champion over time: every promotion and rollback, oldest first, with the verdicts
    and rule figures recorded on the version at the time; plus the aliases now (by lookup).

    Returns ``{"model", "registered_model", "events": [...], "aliases": {alias: version}}``.
    """
    _, client, _ = open_client(root)
    name = registered_name(model)
    exp = client.get_experiment_by_name(events_experiment(model))
    runs = [] if exp is None else client.search_runs([exp.experiment_id], max_results=10000)
    events = []
    for run in sorted(runs, key=lambda r: r.info.start_time):
        tags = run.data.tags
        figures = {k[len("figure.rule."):]: v for k, v in tags.items()
                   if k.startswith("figure.rule.") and not k.endswith(".verdict")}
        events.append({
            "at": dt.datetime.fromtimestamp(run.info.start_time / 1000, dt.UTC).isoformat(timespec="seconds"),
            "action": tags.get("edge_gate.action", ""), "champion": tags.get("edge_gate.champion", ""),
            "replaced": tags.get("edge_gate.replaced") or None, "target": tags.get("edge_gate.target", ""),
            "commit": tags.get("edge_gate.version_commit", ""), "verdict": tags.get("edge_gate.verdict", ""),
            "figures": {k: {"value": v, "verdict": tags.get(f"figure.rule.{k}.verdict", "")}
                        for k, v in sorted(figures.items())},
        })
    return {"model": model, "registered_model": name, "events": events, "aliases": aliases(client, name)}


def format_history(h: dict[str, Any]) -> str:
    """``history`` as a plain-text table for the terminal (newest last)."""
    lines = [f"champion history of {h['registered_model']} (oldest first)"]
    if not h["events"]:
        lines.append("  no promotion yet")
    for e in h["events"]:
        figures = ", ".join(f"{k} {f['value']} ({f['verdict']})" for k, f in e["figures"].items())
        lines.append(f"  {e['at']}  {e['action']:<8} champion v{e['champion']:<3} replaced "
                     f"{'v' + e['replaced'] if e['replaced'] else '-':<4} {e['target']}@{e['commit'][:8]} "
                     f"verdict {e['verdict']}: {figures}")
    now = ", ".join(f"{a} v{v}" for a, v in sorted(h["aliases"].items())) or "no aliases"
    lines.append(f"now: {now}")
    return "\n".join(lines)
