"""The sticky PR comment client against GitHub's comment endpoints served on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ghactions import FakeGitHub

from gate.github import (
    GitHubClient,
    PullRequest,
    comment_from_env,
    marker,
    pull_request_from_event,
    upsert_comment,
)

REPO_NAME = "acme/models"


@pytest.fixture
def github():  # type: ignore[no-untyped-def]
    with FakeGitHub() as server:
        yield server


def event(tmp_path: Path, number: int = 7, head_repo: str = REPO_NAME, fork: bool = False) -> Path:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"action": "synchronize", "number": number, "pull_request": {
        "number": number, "base": {"sha": "a" * 40},
        "head": {"sha": "b" * 40, "repo": {"full_name": head_repo, "fork": fork}}}}))
    return path


def env_for(server: FakeGitHub, event_path: Path, workflow: str = "model-gate") -> dict[str, str]:
    return {"GITHUB_EVENT_PATH": str(event_path), "GITHUB_REPOSITORY": REPO_NAME,
            "GITHUB_API_URL": server.url, "GITHUB_TOKEN": server.token,
            "GITHUB_WORKFLOW": workflow, "GITHUB_EVENT_NAME": "pull_request"}


def test_first_push_creates_and_second_push_updates_the_same_comment(github, tmp_path) -> None:  # type: ignore[no-untyped-def]
    github.comments[(REPO_NAME, 7)] = [{"id": 5, "body": "LGTM, a human"}]
    env = env_for(github, event(tmp_path))
    first = comment_from_env("verdict FAIL", env)
    assert first.action == "created"
    second = comment_from_env("verdict PASS", env)
    assert second.action == "updated" and second.comment_id == first.comment_id
    comments = github.comments[(REPO_NAME, 7)]
    assert [c["id"] for c in comments] == [5, first.comment_id]  # not duplicated; the human's kept
    assert comments[1]["body"] == f"{marker('model-gate')}\nverdict PASS"
    assert ("PATCH", f"/repos/{REPO_NAME}/issues/comments/{first.comment_id}") in github.requests
    # another workflow keeps its own sticky comment
    other = comment_from_env("other workflow", env_for(github, event(tmp_path), workflow="nightly"))
    assert other.action == "created" and len(github.comments[(REPO_NAME, 7)]) == 3


def test_the_marker_is_found_on_a_later_page(github, tmp_path) -> None:  # type: ignore[no-untyped-def]
    mark = marker("model-gate")
    others = [{"id": i, "body": f"comment {i}"} for i in range(1, 131)]
    github.comments[(REPO_NAME, 7)] = [*others, {"id": 500, "body": f"{mark}\nold report"}]
    client = GitHubClient(github.url, github.token)
    try:
        outcome = upsert_comment(client, PullRequest(REPO_NAME, 7, fork=False), "new report", mark)
    finally:
        client.close()
    assert outcome.action == "updated" and outcome.comment_id == 500
    assert github.comments[(REPO_NAME, 7)][-1]["body"] == f"{mark}\nnew report"
    pages = [p for m, p in github.requests if m == "GET"]
    assert len(pages) == 2


def test_a_fork_with_a_read_only_token_is_skipped_not_raised(github, tmp_path) -> None:  # type: ignore[no-untyped-def]
    github.read_only = True
    path = event(tmp_path, head_repo="someone/models", fork=True)
    pr = pull_request_from_event(path, REPO_NAME)
    assert pr is not None and pr.fork
    outcome = comment_from_env("report", env_for(github, path))
    assert outcome.action == "skipped" and "HTTP 403" in outcome.reason and "fork" in outcome.reason
    assert github.comments == {}


def test_cli_exits_zero_on_403_and_warns(github, tmp_path, repo_root) -> None:  # type: ignore[no-untyped-def]
    github.read_only = True
    body = tmp_path / "comment.md"
    body.write_text("## edge-gate: report")
    env = {**os.environ, **env_for(github, event(tmp_path, fork=True)), "PYTHONPATH": str(repo_root)}
    proc = subprocess.run([sys.executable, "-m", "gate", "comment", str(body)], env=env,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("::warning title=edge-gate::PR comment not posted: HTTP 403")


def test_not_a_pull_request_and_no_token_are_skipped(github, tmp_path) -> None:  # type: ignore[no-untyped-def]
    push = tmp_path / "push.json"
    push.write_text(json.dumps({"ref": "refs/heads/main", "before": "0" * 40}))
    assert comment_from_env("x", env_for(github, push)).action == "skipped"
    no_token = {**env_for(github, event(tmp_path)), "GITHUB_TOKEN": ""}
    outcome = comment_from_env("x", no_token)
    assert outcome.action == "skipped" and "no token" in outcome.reason
    assert github.requests == []
