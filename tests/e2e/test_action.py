"""The Action on the real MiniLM repository, its steps run as action.yml defines them.

Each scenario is a pull request in a temporary git repository (base and head commits), with
the GITHUB_* variables, an event payload, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, and
GitHub's comment API served on 127.0.0.1 (tests/ghactions.py). The repository is a copy of the
session's MiniLM repository whose stages already ran, so `dvc repro` inside the action is a
no-op and the measurements are the real ones.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from ghactions import ActionRun, FakeGitHub, run_action

from gate.github import marker

from .conftest import make_runner

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MANIFEST = "models/minilm/gate.yaml"
SLUG = "acme/models"


@pytest.fixture(scope="module")
def repo(minilm_repo, tmp_path_factory):  # type: ignore[no-untyped-def]
    """A private copy of the MiniLM repository (the session's one stays as it was)."""
    src, _ = minilm_repo
    path = tmp_path_factory.mktemp("action") / "repo"
    shutil.copytree(src, path, symlinks=True, ignore=shutil.ignore_patterns("mlflow.db", "mlruns"))
    run = make_runner(path)
    run("git", "branch", "-f", "base-main", "HEAD")
    return path, run


@pytest.fixture
def github():  # type: ignore[no-untyped-def]
    with FakeGitHub() as server:
        yield server


def open_pr(root: Path, run: Callable[..., Any], branch: str, edits: dict[str, str]) -> tuple[str, str]:
    """A branch from base-main with one commit of ``edits`` (path -> appended text)."""
    run("git", "checkout", "-q", "-B", branch, "base-main")
    for rel, text in edits.items():
        with (root / rel).open("a") as fh:
            fh.write(text)
        run("git", "add", rel)
    run("git", "commit", "-q", "-m", f"{branch}: edit {', '.join(edits)}")
    sha = lambda ref: run("git", "rev-parse", ref).stdout.strip()  # noqa: E731
    return sha("base-main"), sha("HEAD")


def act(root: Path, tmp: Path, server: FakeGitHub, base: str, head: str, number: int,
        inputs: dict[str, str] | None = None, fork: bool = False) -> ActionRun:
    """Run action.yml for a pull_request event of PR ``number`` (``base`` -> ``head``)."""
    head_repo = "someone/models" if fork else SLUG
    event = {"action": "synchronize", "number": number, "pull_request": {
        "number": number, "base": {"sha": base, "ref": "main"},
        "head": {"sha": head, "ref": "feature", "repo": {"full_name": head_repo, "fork": fork}}}}
    tmp.mkdir(parents=True, exist_ok=True)
    event_path = tmp / "event.json"
    event_path.write_text(json.dumps(event))
    github = {"event_name": "pull_request", "event": event, "repository": SLUG, "sha": head,
              "token": server.token, "workflow": "model-gate", "ref": f"refs/pull/{number}/merge"}
    env = {
        **os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "CI": "true",
        "GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_REPOSITORY": SLUG, "GITHUB_API_URL": server.url, "GITHUB_WORKFLOW": "model-gate",
        "GITHUB_SHA": head, "GITHUB_REF": github["ref"], "DVC_NO_ANALYTICS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    return run_action(REPO, root, {"install": "false", "record": "false", **(inputs or {})},
                      github, env, tmp / "runner")


def decision(root: Path) -> dict[str, Any]:
    return json.loads((root / "build/gate/minilm/decision.json").read_text())


def target_line(root: Path, index: int) -> int:
    from gate.config.yamlio import load_yaml

    return load_yaml(root / MANIFEST).marks[("targets", index)][0]


def test_pull_request_run_reports_everywhere_and_updates_one_sticky_comment(repo, github, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, run = repo
    base, head = open_pr(root, run, "pr-11", {MANIFEST: "# a reviewer asked for this line\n"})
    result = act(root, tmp_path / "push1", github, base, head, 11)

    changed = result.step("changed")
    assert changed.outputs == {"manifests": MANIFEST, "any": "true"}
    legs = json.loads(result.outputs["matrix"])["include"]
    d = decision(root)
    names = [t["target"] for t in d["targets"]]
    assert sorted(leg["target"] for leg in legs) == sorted(names)
    assert all(leg["manifest"] == MANIFEST and leg["runs_on"] == ["ubuntu-latest"] for leg in legs)
    build = result.step("build")
    # cached: nothing is rebuilt; only the plan check reruns, because the manifest's text changed
    ran = [line for line in build.stdout.splitlines() if line.startswith("Running stage")]
    assert build.outputs["exit-code"] == "0" and ran == ["Running stage 'plan-minilm':"], build.stdout

    assert d["verdict"] in ("pass", "fail", "inconclusive")  # measured, never an error
    rules = [(i, t["target"], r) for i, t in enumerate(d["targets"]) for r in t["rules"]]
    failing = sorted((name, r["rule"]) for _, name, r in rules if r["verdict"] == "fail")
    undecided = sorted((name, r["rule"]) for _, name, r in rules if r["verdict"] == "inconclusive")
    assert result.outputs["verdict"] == d["verdict"]
    assert result.outputs["exit-code"] == str(d["exit_code"])
    assert result.failed is (d["verdict"] != "pass")  # fail-on: inconclusive (the default)

    # the job summary carries the full report; the comment is the same markdown, with the marker
    report = (root / "build/gate-report/report.md").read_text()
    assert result.summary.strip() == report.strip()
    assert "speed-up" in report and f"`{head[:12]}`" in report
    (comment,) = github.comments[(SLUG, 11)]
    assert comment["body"] == f"{marker('model-gate')}\n{(root / 'build/gate-report/comment.md').read_text()}"

    # annotations at each target's line of the manifest: an error per failing rule, a warning
    # per inconclusive one, one per platform that ships nothing (GitHub shows at most 10 of
    # each level), then a summary notice
    lines = {t["target"]: target_line(root, i) for i, t in enumerate(d["targets"])}
    blocked = {v: [p["platform"] for p in d["platforms"] if p["verdict"] == v] for v in ("fail", "inconclusive")}
    errors = [a for a in result.annotations if a.startswith("::error file=")]
    warnings = [a for a in result.annotations if a.startswith("::warning file=")]
    assert len(errors) == min(10, len(failing) + len(blocked["fail"]))
    assert len(warnings) == min(10, len(undecided) + len(blocked["inconclusive"]))
    for platform in blocked["fail"]:
        assert any(f"minilm platform {platform}::" in a for a in errors), errors
    for a in errors + warnings:
        assert any(a.startswith(f"::{lvl} file={MANIFEST},line={ln},col=") for lvl in ("error", "warning")
                   for ln in lines.values()), a
    assert any(a.startswith("::notice title=edge-gate::") for a in result.annotations)

    junit = ET.parse(root / "build/gate-report/junit.xml").getroot()
    # one case per rule, plus one "release" case per platform (failing where nothing ships)
    assert junit.get("tests") == str(len(rules) + len(d["platforms"]))
    blocking = len(blocked["fail"]) + len(blocked["inconclusive"])
    assert junit.get("failures") == str(len(failing) + len(undecided) + blocking)  # both block
    sarif = json.loads((root / "build/gate-report/edge-gate.sarif").read_text())
    results = sarif["runs"][0]["results"]
    assert len([r for r in results if r["level"] == "error"]) == len(failing) + len(blocked["fail"])
    assert len([r for r in results if r["level"] == "warning"]) == len(undecided) + len(blocked["inconclusive"])
    assert {r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results} <= set(lines.values())

    # a second push after a rebase onto a newer main: the same comment is updated, not duplicated
    run("git", "checkout", "-q", "base-main")
    (root / "NOTES.md").write_text("main moved on\n")
    run("git", "add", "NOTES.md")
    run("git", "commit", "-q", "-m", "main: notes")  # base-main moves on
    run("git", "checkout", "-q", "pr-11")
    run("git", "rebase", "-q", "base-main")
    new_base = run("git", "rev-parse", "base-main").stdout.strip()
    new_head = run("git", "rev-parse", "HEAD").stdout.strip()
    assert new_head != head
    again = act(root, tmp_path / "push2", github, new_base, new_head, 11)
    assert again.outputs["verdict"] == d["verdict"]
    (updated,) = github.comments[(SLUG, 11)]
    assert updated["id"] == comment["id"] and f"`{new_head[:12]}`" in updated["body"]
    assert ("PATCH", f"/repos/{SLUG}/issues/comments/{comment['id']}") in github.requests
    assert [m for m, _ in github.requests].count("POST") == 1


def test_fork_pull_request_never_fails_on_the_comment(repo, github, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, run = repo
    github.read_only = True
    base, head = open_pr(root, run, "pr-12", {MANIFEST: "# from a fork\n"})
    result = act(root, tmp_path, github, base, head, 12, fork=True)
    d = decision(root)
    comment_step = result.step("Comment on the pull request")
    assert comment_step.ran and comment_step.returncode == 0
    assert "::warning title=edge-gate::PR comment not posted: HTTP 403" in comment_step.stdout
    assert github.comments == {}
    assert result.outputs["verdict"] == d["verdict"] and result.failed is (d["verdict"] != "pass")
    assert "speed-up" in result.summary and f"`{head[:12]}`" in result.summary


def test_a_change_no_manifest_uses_gates_nothing(repo, github, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, run = repo
    base, head = open_pr(root, run, "pr-13", {"NOTES.md": "docs only\n"})
    result = act(root, tmp_path, github, base, head, 13)
    assert result.step("changed").outputs["any"] == "false"
    assert not result.step("decide").ran and not result.step("report").ran
    assert result.outputs["verdict"] == "skipped" and not result.failed
    assert json.loads(result.outputs["matrix"]) == {"include": []}
    assert github.requests == []


def test_matrix_legs_gathered_and_a_leg_that_never_reported_is_an_error(repo, github, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, run = repo
    second = ("  - name: ort-int8-per-channel\n    platform: arm-cpu\n    backend: onnxruntime\n"
              "    recipe: {precision: int8, method: dynamic, per_channel: true}\n")
    base, head = open_pr(root, run, "pr-14", {MANIFEST: second})
    plan = act(root, tmp_path / "plan", github, base, head, 14, {"mode": "plan"})
    legs = json.loads(plan.outputs["matrix"])["include"]
    names = [t["name"] for t in yaml.safe_load((root / MANIFEST).read_text())["targets"]]
    assert [leg["target"] for leg in legs] == names and names[-1] == "ort-int8-per-channel"
    assert legs[-1]["runs_on"] == ["ubuntu-24.04-arm"] and legs[0]["runs_on"] == ["ubuntu-latest"]
    assert not plan.step("build").ran and not plan.step("decide").ran

    # the first leg on its runner: its stages are cached here, so `dvc repro` reruns nothing
    leg = act(root, tmp_path / "leg", github, base, head, 14,
              {"mode": "leg", "manifests": legs[0]["manifest"], "stage": legs[0]["stage"]})
    ran = [s.name for s in leg.steps if s.ran]
    assert ran == ["Run one matrix leg (dvc repro STAGE)"] and not leg.failed
    assert f"Stage '{legs[0]['stage']}' didn't change" in leg.steps[1].stdout
    # download-artifact output: the example's legs reported, the new one crashed before uploading
    downloaded = root / "edge-gate-legs"
    shutil.rmtree(downloaded, ignore_errors=True)
    for reported in legs[:-1]:
        shutil.copytree(root / reported["target_dir"], downloaded / reported["artifact"])
    result = act(root, tmp_path / "decide", github, base, head, 14,
                 {"mode": "decide", "measurements": "edge-gate-legs"})
    assert "placed build/gate/minilm/targets/ort-int8-dynamic/measurements.json" in result.step("Gather the legs' measurements").stdout
    d = decision(root)
    verdicts = {t["target"]: t["verdict"] for t in d["targets"]}
    assert verdicts.pop("ort-int8-per-channel") == "error"
    assert set(verdicts.values()) <= {"pass", "fail", "inconclusive"}
    assert result.outputs["verdict"] == "error" and result.outputs["exit-code"] == "3" and result.failed
    assert result.step("Fail the check unless the gate passed").returncode == 3
    first_error = next(a for a in result.annotations if a.startswith("::error file="))
    assert first_error.startswith(f"::error file={MANIFEST},line={target_line(root, len(names) - 1)},col=")
    assert "not measured" in first_error
    (comment,) = github.comments[(SLUG, 14)]
    assert "not measured" in comment["body"] and "ERROR" in comment["body"]
    assert yaml.safe_load((root / MANIFEST).read_text())["targets"][-1]["name"] == "ort-int8-per-channel"
