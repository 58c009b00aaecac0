"""The sticky pull-request comment, through GitHub's REST API (httpx).

One comment per workflow and pull request, found again by a hidden HTML marker that names the
workflow, and edited in place on every push (and after a rebase: the pull request number and
the marker do not change). Endpoints (https://docs.github.com/en/rest/issues/comments):

* ``GET   /repos/{owner}/{repo}/issues/{number}/comments?per_page=100&page=N``
* ``POST  /repos/{owner}/{repo}/issues/{number}/comments``
* ``PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}``

* ``GET   /user`` (who the token is; an Actions ``GITHUB_TOKEN`` gets 403 there and
  comments as ``github-actions[bot]``)

The sticky comment is the oldest comment that *starts with* the marker **and** was written by
the token's own identity: anyone can paste the marker into a comment of their own, and that
comment is never edited. The body, marker included, is capped below GitHub's limit of 65,536
characters (a longer one is answered 422 and the old comment would stay, showing an old
verdict). Every call shares one deadline for the whole upsert (``TOTAL_TIMEOUT_S``), so a
server that trickles bytes cannot hold the job; an answer that is not the JSON expected
(an HTML error page with status 200) is a skip, not a crash.

A comment is a courtesy, never the verdict: a pull request from a fork gets a read-only token
and a 403 (a fork's read-only token), and any HTTP or network failure is returned as ``skipped`` with
its reason, so the check's outcome never depends on it; the job summary carries the report.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from gate.errors import ConfigError

API_VERSION = "2022-11-28"
#: Seconds for any one network operation (connect, a read of the next bytes).
TIMEOUT_S = 10.0
#: Seconds for the whole upsert (identity, listing, the write), however the server trickles.
TOTAL_TIMEOUT_S = 30.0
#: GitHub's cap on an issue comment's body, in characters
#: (https://docs.github.com/en/rest/issues/comments: longer bodies are answered 422).
MAX_BODY_CHARS = 65_536
#: The author of comments made with an Actions ``GITHUB_TOKEN``.
ACTIONS_BOT = "github-actions[bot]"
#: Pages of 100 comments read at most while looking for the sticky comment.
MAX_PAGES = 30


def marker(workflow: str) -> str:
    """The hidden marker of ``workflow``'s sticky comment (an HTML comment GitHub does not show)."""
    safe = workflow.replace("--", "- -").replace(">", "")
    return f"<!-- edge-gate:sticky-comment workflow={safe} -->"


@dataclass(frozen=True)
class CommentOutcome:
    """What happened to the comment: ``created``, ``updated`` or ``skipped`` (with why)."""

    action: str
    comment_id: int | None = None
    url: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class PullRequest:
    """The pull request an Actions run belongs to, from its event payload."""

    repository: str
    number: int
    fork: bool


def pull_request_from_event(event_path: Path, repository: str) -> PullRequest | None:
    """The pull request of a ``pull_request`` event payload (``GITHUB_EVENT_PATH``), else None.

    Raises:
        ConfigError: the payload file is missing or not JSON.
    """
    try:
        event = json.loads(event_path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the event payload {event_path}: {exc}") from None
    pr = event.get("pull_request") if isinstance(event, dict) else None
    if not isinstance(pr, dict) or not isinstance(pr.get("number"), int):
        return None
    head_repo = (pr.get("head") or {}).get("repo") or {}
    fork = bool(head_repo.get("fork")) or head_repo.get("full_name", repository) != repository
    return PullRequest(repository=repository, number=pr["number"], fork=fork)


class UnexpectedAnswer(httpx.HTTPError):
    """The API answered, but not with the JSON shape the endpoint documents."""


class GitHubClient:
    """A small client for the endpoints above. ``api_url`` is ``GITHUB_API_URL``; every call
    of one client shares a deadline of ``total_timeout_s`` seconds from its creation."""

    def __init__(self, api_url: str, token: str, transport: httpx.BaseTransport | None = None,
                 total_timeout_s: float = TOTAL_TIMEOUT_S) -> None:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION,
                   "User-Agent": "edge-gate"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=api_url.rstrip("/"), headers=headers, timeout=TIMEOUT_S,
                                  transport=transport)
        self._deadline = time.monotonic() + total_timeout_s

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, url: str, **kw: Any) -> Any:
        """One request, read in chunks against the shared deadline; the decoded JSON.

        Raises:
            httpx.TimeoutException: the deadline passed. httpx.HTTPStatusError: a 4xx/5xx.
            UnexpectedAnswer: the body is not JSON.
        """
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise httpx.TimeoutException(f"{TOTAL_TIMEOUT_S:g} s for the whole comment update ran out")
        request = self._http.build_request(method, url, timeout=min(TIMEOUT_S, left), **kw)
        response = self._http.send(request, stream=True)
        try:
            chunks = []
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                if time.monotonic() > self._deadline:
                    raise httpx.TimeoutException(f"{TOTAL_TIMEOUT_S:g} s for the whole comment update ran "
                                                 f"out while reading {method} {request.url.path}")
        finally:
            response.close()
        response.raise_for_status()
        try:
            return json.loads(b"".join(chunks))
        except ValueError:
            kind = response.headers.get("content-type", "no content type")
            raise UnexpectedAnswer(f"{method} {request.url.path} answered {response.status_code} with {kind}, "
                                   f"not JSON") from None

    def identity(self) -> str:
        """The login comments made with this token carry: ``GET /user``, or
        ``github-actions[bot]`` for an Actions token (which ``/user`` refuses with 403)."""
        try:
            data = self._call("GET", "/user")
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code in (401, 403, 404):
                return ACTIONS_BOT
            raise
        if not isinstance(data, dict) or not isinstance(data.get("login"), str):
            raise UnexpectedAnswer("GET /user answered without a login")
        return str(data["login"])

    def list_comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        """Every comment of issue/PR ``number`` (paginated, 100 a page, at most MAX_PAGES)."""
        out: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            batch = self._call("GET", f"/repos/{repo}/issues/{number}/comments",
                               params={"per_page": 100, "page": page})
            if not isinstance(batch, list) or not all(isinstance(c, dict) for c in batch):
                raise UnexpectedAnswer(f"the comments of #{number} are not a JSON list of comments")
            out.extend(batch)
            if len(batch) < 100:
                break
        return out

    def create_comment(self, repo: str, number: int, body: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/repos/{repo}/issues/{number}/comments", json={"body": body}))

    def update_comment(self, repo: str, comment_id: int, body: str) -> dict[str, Any]:
        return dict(self._call("PATCH", f"/repos/{repo}/issues/comments/{comment_id}", json={"body": body}))


def upsert_comment(client: GitHubClient, pr: PullRequest, body: str, mark: str) -> CommentOutcome:
    """Create or update the sticky comment holding ``mark``; never raises for HTTP problems.

    The oldest comment that starts with ``mark`` and whose author is the token's identity
    (:meth:`GitHubClient.identity`) is updated; if none exists one is created with ``mark``
    as its first line. The whole text, marker included, is cut to :data:`MAX_BODY_CHARS`.
    Returns ``skipped`` with the reason on a 403/404 (read-only token of a fork pull
    request), any other HTTP or network error, the deadline, or an answer that is not JSON.
    """
    text = fit(f"{mark}\n{body.removeprefix(mark).lstrip(chr(10))}")
    try:
        me = client.identity()
        existing = [c for c in client.list_comments(pr.repository, pr.number)
                    if str(c.get("body") or "").startswith(mark)
                    and isinstance(c.get("user"), dict) and c["user"].get("login") == me]
        if existing:
            first = min(existing, key=lambda c: int(c["id"]))
            done = client.update_comment(pr.repository, int(first["id"]), text)
            return CommentOutcome("updated", int(done["id"]), done.get("html_url"))
        done = client.create_comment(pr.repository, pr.number, text)
        return CommentOutcome("created", int(done["id"]), done.get("html_url"))
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        why = "read-only token (a pull request from a fork?)" if status in (403, 404) else "GitHub API error"
        return CommentOutcome("skipped", reason=f"HTTP {status} on {exc.request.method} {exc.request.url.path}: {why}")
    except (httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
        return CommentOutcome("skipped", reason=f"{type(exc).__name__}: {exc}")


def fit(text: str, limit: int = MAX_BODY_CHARS) -> str:
    """``text`` cut to ``limit`` characters, a notice in place of what was cut."""
    if len(text) <= limit:
        return text
    notice = "\n\n… cut to fit GitHub's comment limit; the job summary has the full report."
    return text[: limit - len(notice)] + notice


def comment_from_env(body: str, env: dict[str, str] | None = None) -> CommentOutcome:
    """Post ``body`` as the sticky comment of the current Actions run (``GITHUB_*`` variables).

    Skips (without raising) when the run is not for a pull request or has no token.
    """
    env = dict(os.environ if env is None else env)
    event_path, repository = env.get("GITHUB_EVENT_PATH"), env.get("GITHUB_REPOSITORY")
    if not event_path or not repository:
        return CommentOutcome("skipped", reason="not running in GitHub Actions (GITHUB_EVENT_PATH unset)")
    pr = pull_request_from_event(Path(event_path), repository)
    if pr is None:
        return CommentOutcome("skipped", reason=f"event {env.get('GITHUB_EVENT_NAME', '?')} is not a pull request")
    token = env.get("GITHUB_TOKEN", "")
    if not token:
        return CommentOutcome("skipped", reason="no token (input github-token is empty)")
    client = GitHubClient(env.get("GITHUB_API_URL", "https://api.github.com"), token)
    try:
        return upsert_comment(client, pr, body, marker(env.get("GITHUB_WORKFLOW", "edge-gate")))
    finally:
        client.close()
