"""Promotion and rollback run only on the protected branch, named by facts a pull request's
author cannot set, and only from a committed tree whose files are the decided ones.

A real git repository in a temporary folder; GitHub's environment is simulated.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from gate.errors import ExitCode, LineageError, PromotionRefused
from gate.lineage.promotion import require_committed, require_protected_branch

GITHUB_VARS = ("GITHUB_ACTIONS", "GITHUB_EVENT_NAME", "GITHUB_REF", "GITHUB_REF_PROTECTED", "GITHUB_HEAD_REF",
               "GITHUB_REF_NAME", "GATE_PROTECTED_BRANCH")


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in GITHUB_VARS:
        monkeypatch.delenv(var, raising=False)
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "t@example.com")
    git(tmp_path, "config", "user.name", "t")
    (tmp_path / "gate.yaml").write_text("name: demo\n")
    git(tmp_path, "add", "gate.yaml")
    git(tmp_path, "commit", "-qm", "manifest")
    return tmp_path


def actions(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def test_a_fork_branch_called_main_never_promotes(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Attack 3: GITHUB_HEAD_REF=main on a pull request's merge ref promoted before."""
    actions(monkeypatch, GITHUB_EVENT_NAME="pull_request", GITHUB_REF="refs/pull/7/merge",
            GITHUB_HEAD_REF="main", GITHUB_REF_NAME="7/merge")
    with pytest.raises(PromotionRefused, match=r"push to the protected branch 'main'; this is a 'pull_request' "
                                                r"event for 'refs/pull/7/merge'") as exc:
        require_protected_branch(repo, None, "promote")
    assert exc.value.exit_code == ExitCode.BLOCKED


def test_github_event_facts_count_without_github_actions(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same pull-request facts with GITHUB_ACTIONS unset fell back to the checked-out
    branch (main) and promoted: any GitHub event fact makes the event decide."""
    monkeypatch.setenv("GITHUB_EVENT_NAME", "pull_request")
    monkeypatch.setenv("GITHUB_REF", "refs/pull/7/merge")
    monkeypatch.setenv("GITHUB_HEAD_REF", "main")
    with pytest.raises(PromotionRefused, match=r"this is a 'pull_request' event"):
        require_protected_branch(repo, None, "promote")
    monkeypatch.delenv("GITHUB_EVENT_NAME")
    with pytest.raises(PromotionRefused):
        require_protected_branch(repo, None, "rollback")


@pytest.mark.parametrize(("event", "ref", "protected", "allowed"), [
    ("push", "refs/heads/main", "", True),
    ("push", "refs/heads/release", "true", True),  # GitHub says the pushed branch is protected
    ("push", "refs/heads/feature", "", False),
    ("push", "refs/heads/feature", "false", False),
    ("push", "refs/tags/main", "true", False),  # a tag is not a branch
    ("pull_request_target", "refs/heads/main", "true", False),  # runs in the base's context for any PR
    ("workflow_dispatch", "refs/heads/main", "true", False),
    ("pull_request", "refs/pull/7/merge", "true", False),
])
def test_only_a_push_to_the_protected_ref_qualifies(repo: Path, monkeypatch: pytest.MonkeyPatch, event: str,
                                                    ref: str, protected: str, allowed: bool) -> None:
    actions(monkeypatch, GITHUB_EVENT_NAME=event, GITHUB_REF=ref, GITHUB_REF_PROTECTED=protected,
            GITHUB_HEAD_REF="main")
    if allowed:
        assert require_protected_branch(repo, None, "rollback") == "main"
    else:
        with pytest.raises(PromotionRefused, match="gate rollback runs on"):
            require_protected_branch(repo, None, "rollback")


def test_locally_the_checked_out_branch_decides(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_HEAD_REF", "main")  # ignored outside Actions as well
    assert require_protected_branch(repo, None, "promote") == "main"
    git(repo, "checkout", "-qb", "feature")
    with pytest.raises(PromotionRefused, match="not on 'feature'"):
        require_protected_branch(repo, None, "promote")
    assert require_protected_branch(repo, "feature", "promote") == "feature"
    git(repo, "checkout", "-q", "--detach")
    with pytest.raises(PromotionRefused, match="detached HEAD"):
        require_protected_branch(repo, "feature", "promote")


def test_uncommitted_or_other_committed_files_never_promote(repo: Path) -> None:
    """Attack 3: an uncommitted manifest edit (two waivers) was decided and promoted."""
    manifest = repo / "gate.yaml"
    decided = hashlib.sha256(manifest.read_bytes()).hexdigest()
    require_committed(repo, {"manifest": manifest}, {"manifest": decided})  # clean and the same: fine

    manifest.write_text("name: demo\nwaivers: [a, b]\n")
    edited = hashlib.sha256(manifest.read_bytes()).hexdigest()
    with pytest.raises(LineageError, match=r"the manifest gate.yaml is not committed as it is \(git status: M\)"):
        require_committed(repo, {"manifest": manifest}, {"manifest": edited})
    git(repo, "add", "gate.yaml")
    with pytest.raises(LineageError, match=r"git status: M"):  # staged is not committed
        require_committed(repo, {"manifest": manifest}, {"manifest": edited})
    git(repo, "commit", "-qm", "waivers")
    with pytest.raises(LineageError, match=r"committed manifest gate.yaml is not the one decided"):
        require_committed(repo, {"manifest": manifest}, {"manifest": decided})

    (repo / "eval.txt").write_text("a\nb\n")
    with pytest.raises(LineageError, match=r"eval data eval.txt is not committed as it is \(git status: \?\?\)"):
        require_committed(repo, {"eval data": repo / "eval.txt"}, {})
    outside = repo.parent / "bundled-policy.yaml"  # edge-gate's own policies are not git's to check
    outside.write_text("name: p\n")
    require_committed(repo, {"policy": outside}, {"policy": "0" * 64})
