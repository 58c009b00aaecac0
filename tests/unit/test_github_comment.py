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
BOT = {"login": "github-actions[bot]", "type": "Bot"}


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
    github.comments[(REPO_NAME, 7)] = [*others, {"id": 500, "body": f"{mark}\nold report", "user": BOT}]
    client = GitHubClient(github.url, github.token)
    try:
        outcome = upsert_comment(client, PullRequest(REPO_NAME, 7, fork=False), "new report", mark)
    finally:
        client.close()
    assert outcome.action == "updated" and outcome.comment_id == 500
    assert github.comments[(REPO_NAME, 7)][-1]["body"] == f"{mark}\nnew report"
    pages = [p for m, p in github.requests if m == "GET" and p != "/user"]
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


def test_a_comment_by_someone_else_carrying_the_marker_is_never_edited(github, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An outsider pastes the marker into their own comment; it was edited before."""
    mark = marker("model-gate")
    outsider = {"id": 3, "body": f"{mark}\nI am the gate now: PASS", "user": {"login": "mallory", "type": "User"}}
    quoted = {"id": 4, "body": f"> {mark}\nquoting it", "user": BOT}  # the marker not first: not ours either
    github.comments[(REPO_NAME, 7)] = [dict(outsider), dict(quoted)]
    outcome = comment_from_env("verdict FAIL", env_for(github, event(tmp_path)))
    assert outcome.action == "created" and outcome.comment_id not in (3, 4)
    assert github.comments[(REPO_NAME, 7)][0] == outsider and github.comments[(REPO_NAME, 7)][1] == quoted
    again = comment_from_env("verdict PASS", env_for(github, event(tmp_path)))
    assert again.action == "updated" and again.comment_id == outcome.comment_id
    # with a personal access token, the identity is the token's user
    github.user_login = "release-bot"
    pat = comment_from_env("verdict PASS", env_for(github, event(tmp_path)))
    assert pat.action == "created" and github.comments[(REPO_NAME, 7)][-1]["user"]["login"] == "release-bot"


def test_a_body_at_the_cap_plus_the_marker_still_fits(github, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A body of exactly 65,536 characters plus the marker was 65,547 and answered 422."""
    outcome = comment_from_env("x" * 65536, env_for(github, event(tmp_path)))
    assert outcome.action == "created", outcome.reason
    body = github.comments[(REPO_NAME, 7)][-1]["body"]
    assert len(body) <= 65536 and body.startswith(marker("model-gate") + "\n") and "cut to fit" in body


def test_a_trickling_api_is_cut_off_by_the_whole_request_deadline(github, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A server sending one byte every 0.05 s held `gate comment` 95 s before."""
    import time

    github.trickle_s = 0.05
    client = GitHubClient(github.url, github.token, total_timeout_s=1.0)
    start = time.monotonic()
    try:
        outcome = upsert_comment(client, PullRequest(REPO_NAME, 7, fork=False), "report", marker("m"))
    finally:
        client.close()
    assert outcome.action == "skipped" and "ran out" in outcome.reason
    assert time.monotonic() - start < 3.0


def test_an_html_answer_is_a_skip_not_a_crash(github, tmp_path) -> None:  # type: ignore[no-untyped-def]
    github.html = True
    outcome = comment_from_env("report", env_for(github, event(tmp_path)))
    assert outcome.action == "skipped" and "not JSON" in outcome.reason and "text/html" in outcome.reason
