"""A small GitHub Actions runner for tests: runs a composite action's steps as action.yml
defines them, and a GitHub REST API for issue comments on 127.0.0.1.

The runner does what the real one does for a composite action: it resolves input defaults,
evaluates each step's ``if:`` and the ``${{ }}`` expressions in ``env:``/``run:`` (contexts
``inputs``, ``steps.<id>.outputs``, ``github``; operators ``== != && || !``, parentheses and
``always()/success()/failure()``, with GitHub's rules: ``||``/``&&`` return an operand, string
comparison ignores case), runs ``run:`` with ``bash --noprofile --norc -eo pipefail`` and a
fresh ``GITHUB_OUTPUT`` file per step, appends to one ``GITHUB_STEP_SUMMARY``, and skips later
steps after a failure unless their condition says ``always()``
(https://docs.github.com/en/actions/learn-github-actions/expressions).
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import yaml

_TOKEN = re.compile(r"\s*(?:('(?:[^']|'')*')|(==|!=|&&|\|\||!|\(|\))|([A-Za-z_][\w.\-]*(?:\(\))?))")


class Expr:
    """Evaluate one GitHub Actions expression against ``ctx`` (``inputs``, ``steps``, ``github``)."""

    def __init__(self, text: str, ctx: dict[str, Any], status_ok: bool) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos, text = 0, text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise ValueError(f"cannot parse expression at {text[pos:]!r}")
            pos = m.end()
            if m.group(1) is not None:
                self.tokens.append(("str", m.group(1)[1:-1].replace("''", "'")))
            elif m.group(2) is not None:
                self.tokens.append(("op", m.group(2)))
            else:
                self.tokens.append(("name", m.group(3)))
        self.i, self.ctx, self.status_ok = 0, ctx, status_ok

    def value(self) -> Any:
        out = self._or()
        if self.i != len(self.tokens):
            raise ValueError(f"trailing tokens {self.tokens[self.i:]}")
        return out

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _or(self) -> Any:
        left = self._and()
        while self._peek() == ("op", "||"):
            self.i += 1
            right = self._and()
            left = left if truthy(left) else right
        return left

    def _and(self) -> Any:
        left = self._cmp()
        while self._peek() == ("op", "&&"):
            self.i += 1
            right = self._cmp()
            left = right if truthy(left) else left
        return left

    def _cmp(self) -> Any:
        left = self._unary()
        while self._peek() in (("op", "=="), ("op", "!=")):
            op = self.tokens[self.i][1]
            self.i += 1
            right = self._unary()
            equal = str(left).lower() == str(right).lower()
            left = equal if op == "==" else not equal
        return left

    def _unary(self) -> Any:
        tok = self._peek()
        if tok == ("op", "!"):
            self.i += 1
            return not truthy(self._unary())
        if tok == ("op", "("):
            self.i += 1
            out = self._or()
            assert self._peek() == ("op", ")"), "missing )"
            self.i += 1
            return out
        self.i += 1
        assert tok is not None, "unexpected end of expression"
        kind, text = tok
        if kind == "str":
            return text
        if text in ("true", "false"):
            return text == "true"
        if text == "always()":
            return True
        if text in ("success()", "failure()"):
            return self.status_ok if text == "success()" else not self.status_ok
        node: Any = self.ctx
        for part in text.split("."):
            node = node.get(part, "") if isinstance(node, dict) else ""
        return node


def truthy(value: Any) -> bool:
    return value not in ("", False, 0, None)


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


_EMBED = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def substitute(text: str, ctx: dict[str, Any], status_ok: bool = True) -> str:
    """Replace every ``${{ expr }}`` in ``text`` by the expression's value, as the runner does."""
    return _EMBED.sub(lambda m: as_text(Expr(m.group(1), ctx, status_ok).value()), text)


def condition(text: str | None, ctx: dict[str, Any], status_ok: bool) -> bool:
    """A step's ``if:``: default ``success()``; status functions decide after a failure."""
    if text is None:
        return status_ok
    expr = str(text).strip()
    m = _EMBED.fullmatch(expr)
    expr = m.group(1) if m else expr
    if not re.search(r"\b(always|success|failure)\(\)", expr):
        expr = f"success() && ({expr})"
    return truthy(Expr(expr, ctx, status_ok).value())


def read_outputs(path: Path) -> dict[str, str]:
    """Parse a ``GITHUB_OUTPUT`` file (``name=value`` and ``name<<DELIM`` blocks)."""
    out: dict[str, str] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            j = lines.index(delim, i + 1)
            out[name] = "\n".join(lines[i + 1 : j])
            i = j + 1
            continue
        name, _, value = line.partition("=")
        out[name] = value
        i += 1
    return out


@dataclass
class StepRun:
    name: str
    id: str | None
    ran: bool
    returncode: int = 0
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class ActionRun:
    steps: list[StepRun]
    outputs: dict[str, str]
    failed: bool
    summary: str

    def step(self, name_or_id: str) -> StepRun:
        return next(s for s in self.steps if name_or_id in (s.id, s.name))

    @property
    def annotations(self) -> list[str]:
        return [line for s in self.steps for line in s.stdout.splitlines() if line.startswith("::")]


def run_action(action_dir: Path, workspace: Path, inputs: dict[str, str], github: dict[str, Any],
               env: dict[str, str], runner_temp: Path) -> ActionRun:
    """Run the composite action in ``action_dir`` in ``workspace`` as GitHub's runner would."""
    action = yaml.safe_load((action_dir / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    ctx: dict[str, Any] = {"github": github, "steps": {}, "inputs": {}}
    for name, spec in action.get("inputs", {}).items():
        default = str(spec.get("default", ""))
        ctx["inputs"][name] = inputs[name] if name in inputs else substitute(default, ctx)
    unknown = set(inputs) - set(ctx["inputs"])
    assert not unknown, f"inputs not declared in action.yml: {unknown}"
    runner_temp.mkdir(parents=True, exist_ok=True)
    summary = runner_temp / "step_summary.md"
    summary.touch()
    ok, runs = True, []
    for n, step in enumerate(action["runs"]["steps"]):
        name = step.get("name", f"step {n}")
        if not condition(step.get("if"), ctx, ok):
            runs.append(StepRun(name, step.get("id"), ran=False))
            continue
        assert step.get("shell") == "bash" and "run" in step, f"{name}: only bash run steps are simulated"
        output_file = runner_temp / f"output-{n}"
        script = runner_temp / f"step-{n}.sh"
        script.write_text(substitute(step["run"], ctx, ok))
        step_env = {
            **env,
            "GITHUB_ACTION_PATH": str(action_dir), "RUNNER_TEMP": str(runner_temp),
            "GITHUB_OUTPUT": str(output_file), "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_WORKSPACE": str(workspace),
            **{k: substitute(str(v), ctx, ok) for k, v in (step.get("env") or {}).items()},
        }
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                              cwd=workspace, env=step_env, capture_output=True, text=True,
                              timeout=900, check=False)
        outputs = read_outputs(output_file)
        runs.append(StepRun(name, step.get("id"), True, proc.returncode, proc.stdout, proc.stderr, outputs))
        if step.get("id"):
            ctx["steps"][step["id"]] = {"outputs": outputs,
                                        "outcome": "success" if proc.returncode == 0 else "failure"}
        ok = ok and proc.returncode == 0
    outs = {k: substitute(str(v["value"]), ctx, ok) for k, v in action.get("outputs", {}).items()}
    return ActionRun(runs, outs, failed=not ok, summary=summary.read_text())


class FakeGitHub:
    """GitHub's issue-comment REST endpoints on 127.0.0.1, with a fork mode that answers 403.

    Holds comments per ``owner/repo#number``; records every request as ``(method, path)``.
    """

    def __init__(self, token: str = "ghs_test", page_size: int = 100) -> None:
        self.token, self.page_size = token, page_size
        self.comments: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.requests: list[tuple[str, str]] = []
        self.read_only = False
        #: Who the token is: None answers ``GET /user`` with 403, as for an Actions token,
        #: whose comments GitHub attributes to ``github-actions[bot]``; a login acts as a PAT.
        self.user_login: str | None = None
        #: Seconds between the bytes of every answer (a trickling server), and an HTML page
        #: with status 200 instead of JSON (a proxy's error page).
        self.trickle_s = 0.0
        self.html = False
        self._next_id = 1000
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                html = owner.html
                data = b"<html><body>Unicorn! Try again</body></html>" if html else json.dumps(body).encode()
                self.send_response(200 if html else status)
                self.send_header("Content-Type", "text/html" if html else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if not owner.trickle_s:
                    self.wfile.write(data)
                    return
                for i in range(len(data)):
                    try:
                        self.wfile.write(data[i : i + 1])
                        self.wfile.flush()
                    except OSError:  # the client gave up
                        return
                    time.sleep(owner.trickle_s)

            def _handle(self, method: str) -> None:
                url = urlparse(self.path)
                owner.requests.append((method, url.path))
                if self.headers.get("Authorization") != f"Bearer {owner.token}":
                    return self._send(401, {"message": "Bad credentials"})
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length)) if length else {}
                status, body = owner.route(method, url.path, parse_qs(url.query), payload)
                self._send(status, body)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGitHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def route(self, method: str, path: str, query: dict[str, list[str]], payload: dict[str, Any]) -> tuple[int, Any]:
        forbidden = (403, {"message": "Resource not accessible by integration",
                           "documentation_url": "https://docs.github.com/rest/issues/comments"})
        if path == "/user" and method == "GET":
            if self.user_login is None:
                return forbidden
            return 200, {"login": self.user_login, "type": "User"}
        if method in ("POST", "PATCH") and len(str(payload.get("body", ""))) > 65536:
            return 422, {"message": "Validation Failed", "errors": [{"field": "body", "code": "too_long"}]}
        author = {"login": self.user_login or "github-actions[bot]", "type": "User" if self.user_login else "Bot"}
        m = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/(\d+)/comments", path)
        if m:
            key = (m.group(1), int(m.group(2)))
            if method == "GET":
                page, per = int(query.get("page", ["1"])[0]), int(query.get("per_page", ["30"])[0])
                per = min(per, self.page_size)
                items = self.comments.get(key, [])
                return 200, items[(page - 1) * per : page * per]
            if method == "POST":
                if self.read_only:
                    return forbidden
                self._next_id += 1
                comment = {"id": self._next_id, "body": payload["body"], "user": author,
                           "html_url": f"https://github.com/{key[0]}/pull/{key[1]}#issuecomment-{self._next_id}"}
                self.comments.setdefault(key, []).append(comment)
                return 201, comment
        m = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/comments/(\d+)", path)
        if m and method == "PATCH":
            if self.read_only:
                return forbidden
            for (repo, _), items in self.comments.items():
                for comment in items:
                    if repo == m.group(1) and comment["id"] == int(m.group(2)):
                        comment["body"] = payload["body"]
                        return 200, comment
        return 404, {"message": "Not Found"}
