"""`gate changed` on a real git history, and `gate plan --matrix` legs and runner labels."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from gate.cli import main
from gate.config.platforms import runner_labels
from gate.plan.changes import changed_manifests
from gate.plan.matrix import artifact_name, parse_artifact_name

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}


def git(root: Path, *args: str) -> str:
    import os

    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True,
                          env={**os.environ, **GIT_ENV})
    return proc.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, repo_root: Path) -> Path:
    """Two manifests: `a` uses the repository's edge-default policy, `b` a policy in its folder."""
    root = tmp_path / "repo"
    for name in ("a", "b"):
        shutil.copytree(repo_root / "examples/minilm", root / "models" / name)
        m = root / "models" / name / "gate.yaml"
        m.write_text(m.read_text().replace("name: minilm", f"name: {name}"))
    shutil.copytree(repo_root / "policies", root / "policies")
    shutil.copy(repo_root / "policies/edge-default.yaml", root / "models/b/strict.yaml")
    mb = root / "models/b/gate.yaml"
    mb.write_text(mb.read_text().replace("policy: edge-default", "policy: strict.yaml"))
    (root / "README.md").write_text("models\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    return root


def commit(root: Path, rel: str, text: str) -> str:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", f"edit {rel}")
    return git(root, "rev-parse", "HEAD")


def names(paths: list[Path]) -> list[str]:
    return [p.parent.name for p in paths]


@pytest.mark.parametrize(("rel", "expected"), [
    ("README.md", []),
    ("policies/edge-default.yaml", ["a"]),        # a policy that only `a` uses
    ("models/b/strict.yaml", ["b"]),              # `b`'s own policy file
    ("models/a/sentences.txt", ["a"]),            # the eval set
    ("templates/dvc.yaml.j2", ["a", "b"]),        # the template every manifest is planned with
])
def test_a_change_to_what_a_manifest_uses_selects_it(repo: Path, rel: str, expected: list[str]) -> None:
    base = git(repo, "rev-parse", "HEAD")
    old = (repo / rel).read_text() if (repo / rel).exists() else ""
    commit(repo, rel, old + "\n# edited\n")
    assert names(changed_manifests(repo, base, "HEAD", [])) == expected


def test_merge_base_globs_and_no_base(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "feature")
    commit(repo, "models/b/gate.yaml", (repo / "models/b/gate.yaml").read_text() + "# tweak\n")
    git(repo, "checkout", "-q", "main")
    commit(repo, "models/a/gate.yaml", (repo / "models/a/gate.yaml").read_text() + "# on main\n")
    git(repo, "checkout", "-q", "feature")
    # base...head is the pull request's own change: main's later edit of `a` is not in it
    assert names(changed_manifests(repo, "main", "HEAD", [])) == ["b"]
    assert names(changed_manifests(repo, base, "HEAD", ["models/a/*"])) == []
    assert names(changed_manifests(repo, None, "HEAD", [])) == ["a", "b"]
    assert names(changed_manifests(repo, "0" * 40, "HEAD", ["*/b/gate.yaml"])) == ["b"]


def test_an_invalid_manifest_that_changed_is_still_selected(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    commit(repo, "models/a/gate.yaml", "name: a\ntargets: nope\n")
    assert names(changed_manifests(repo, base, "HEAD", [])) == ["a"]


def test_unknown_base_is_bad_input(repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(repo)
    assert main(["changed", "--base", "no-such-ref"]) == 2
    assert "fetch-depth: 0" in capsys.readouterr().err


def test_matrix_legs_carry_runner_labels(repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    mb = repo / "models/b/gate.yaml"
    text = mb.read_text().replace("    platform: x86-cpu\n", "    platform: intel-cpu\n    runs_on: [self-hosted, lab-7]\n")
    text += ("  - name: gpu-int8\n    platform: nvidia-gpu\n    backend: onnxruntime\n"
             "    recipe: {precision: int8, method: dynamic}\n")
    mb.write_text(text)
    monkeypatch.chdir(repo)
    assert main(["plan", "--matrix"]) == 0
    legs = json.loads(capsys.readouterr().out)["include"]
    got = {(leg["model"], leg["target"]): leg for leg in legs}
    assert got[("a", "ort-int8-dynamic")]["runs_on"] == ["ubuntu-latest"]
    assert got[("b", "ort-int8-dynamic")]["runs_on"] == ["self-hosted", "lab-7"]
    assert got[("b", "gpu-int8")]["runs_on"] == ["self-hosted", "linux", "x64", "nvidia-gpu"]
    leg = got[("b", "gpu-int8")]
    assert leg["manifest"] == "models/b/gate.yaml" and leg["stage"] == "measure-b-gpu-int8"
    assert leg["measurements"] == "build/gate/b/targets/gpu-int8/measurements.json"
    assert parse_artifact_name(leg["artifact"]) == ("b", "gpu-int8")
    assert not (repo / "dvc.yaml").exists()  # --matrix writes nothing
    monkeypatch.chdir(repo / "models")
    assert main(["plan", "--matrix", "--root", "/nonexistent-empty"]) == 0
    assert json.loads(capsys.readouterr().out) == {"include": []}


def test_labels_and_artifact_names() -> None:
    assert runner_labels("arm-cpu") == ["ubuntu-24.04-arm"]
    assert runner_labels("riscv-board") == ["self-hosted", "riscv-board"]
    assert runner_labels("x86-cpu", ["big-box"]) == ["big-box"]
    assert parse_artifact_name(artifact_name("m-1", "t_2")) == ("m-1", "t_2")
    assert parse_artifact_name("edge-gate-report") is None


def test_decide_on_a_relative_manifest_path(repo: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The Action passes repository-relative paths (`gate decide models/a/gate.yaml`)."""
    from gate.config.loading import load_pair
    from gate.verdict.decision import decide

    monkeypatch.chdir(repo)
    loaded, policy = load_pair(Path("models/a/gate.yaml"))
    d = decide(loaded, policy, repo)
    assert d.manifest == "models/a/gate.yaml"
    assert d.verdict == "error" and d.targets[0].error.startswith("not measured")  # type: ignore[union-attr]
