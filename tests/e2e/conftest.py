"""A real pipeline in a temporary git repository: real DVC, real MiniLM, real MLflow store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def make_runner(cwd: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "HF_HUB_OFFLINE": "1",
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{args} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    return run


def init_repo(path: Path, manifests: dict[str, Path]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """A fresh git + DVC repository holding the given example folders under models/."""
    path.mkdir(parents=True, exist_ok=True)
    for name, src in manifests.items():
        shutil.copytree(src, path / "models" / name, ignore=shutil.ignore_patterns("make_eval.py"))
    shutil.copytree(REPO / "policies", path / "policies")
    run = make_runner(path)
    run("git", "init", "-q", "-b", "main")
    run("dvc", "init", "-q")
    run("dvc", "config", "--local", "core.site_cache_dir", str(path / ".dvc" / "site-cache"))
    return run


@pytest.fixture(scope="session")
def minilm_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Callable[..., subprocess.CompletedProcess[str]]]:
    """The MiniLM example after `gate plan`, a commit and a first `dvc repro`."""
    path = tmp_path_factory.mktemp("minilm-repo")
    run = init_repo(path, {"minilm": REPO / "examples" / "minilm"})
    run("gate", "plan")
    run("git", "add", "-A")
    run("git", "commit", "-q", "-m", "manifest")
    run("dvc", "repro")
    return path, run


@pytest.fixture(autouse=True)
def _not_in_github_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    """These repositories are local checkouts: the protected branch is the checked-out one,
    also when this suite itself runs in GitHub Actions (tests/unit/test_protected_branch.py
    simulates GitHub's variables; test_action.py passes its own to each step)."""
    for var in ("GITHUB_ACTIONS", "GITHUB_EVENT_NAME", "GITHUB_REF", "GITHUB_REF_PROTECTED", "GITHUB_HEAD_REF"):
        monkeypatch.delenv(var, raising=False)
