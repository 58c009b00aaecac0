"""The guards every move of a champion passes: the protected branch, a committed tree that
is the one decided, a fresh decision, one writer at a time, and no older commit replacing a
newer champion. Used by :mod:`gate.lineage.promotion` (``gate promote`` and ``gate rollback``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from gate.documents import Decision
from gate.errors import InfrastructureError, LineageError, PromotionRefused
from gate.lineage.store import already_exists

#: The branch ``gate promote`` runs on unless told otherwise (``--branch`` or
#: ``GATE_PROTECTED_BRANCH``); in GitHub Actions a push to any branch GitHub reports as
#: protected (``GITHUB_REF_PROTECTED=true``) also qualifies.
DEFAULT_PROTECTED_BRANCH = "main"


def require_protected_branch(root: Path, branch: str | None, action: str) -> str:
    """Refuse ``action`` (promote, rollback) unless it runs on the protected branch.

    The branch is taken from facts a pull request's author cannot set. In GitHub Actions
    (``GITHUB_ACTIONS=true``, or ``GITHUB_EVENT_NAME`` or ``GITHUB_REF`` set): the event must
    be a ``push`` (``GITHUB_EVENT_NAME``) to
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
    # Any GitHub event fact in the environment counts: a runner that leaves GITHUB_ACTIONS out
    # must not fall back to the checked-out branch (a pull request's merge checkout can be
    # made on a branch called main).
    env = os.environ
    if env.get("GITHUB_ACTIONS") == "true" or env.get("GITHUB_EVENT_NAME") or env.get("GITHUB_REF"):
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


def check_fresh_decision(decision: Decision | Mapping[str, Any], manifest_sha256: str, policy_sha256: str) -> None:
    """Refuse a decision computed from other manifest or policy bytes than the current files.
    ``decision`` is a :class:`gate.documents.Decision` (or its fields as a mapping).

    Raises:
        LineageError: either sha256 differs (the message gives both).
    """
    fields = decision.model_dump() if isinstance(decision, Decision) else decision
    for what, recorded, now in (("manifest", fields["manifest_sha256"], manifest_sha256),
                                ("policy", fields["policy_sha256"], policy_sha256)):
        if recorded != now:
            raise LineageError(
                f"stale decision for {fields['model']}: it was computed from {what} sha256 "
                f"{recorded[:12]}, the {what} file now has {now[:12]}; its metrics do not describe "
                f"the current {what}", hint="run `dvc repro`, `gate decide` and `gate record` again")


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
            # MLflow's store answers a taken name by reading it back; when its holder released
            # it in between, that read fails with RESOURCE_DOES_NOT_EXIST: free again, retry
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                continue
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


def older_than(root: Path, commit: str, decided_at: str, champion: Any) -> str:
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
