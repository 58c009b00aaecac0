"""Hostile inputs from a pull request: symlinks out of the repository, fuzzed YAML, markup."""

from __future__ import annotations

import shutil
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.cli import main
from gate.config.manifest import load_manifest
from gate.config.policy import load_policy
from gate.errors import ConfigError

DATA = Path(__file__).resolve().parent.parent / "data"
MINIMAL = DATA / "manifests" / "positive" / "minimal.yaml"


def make_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "models" / "tiny").mkdir(parents=True)
    shutil.copy(DATA / "sentences-20.txt", repo / "sentences.txt")
    return repo


def manifest_text(eval_path: str) -> str:
    return MINIMAL.read_text().replace("../../sentences-20.txt", eval_path)


def test_symlinked_manifest_outside_the_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_repo(tmp_path)
    outside = tmp_path / "outside.yaml"
    outside.write_text(manifest_text("../../sentences.txt"))
    (repo / "models" / "tiny" / "gate.yaml").symlink_to(outside)
    assert main(["validate", str(repo / "models" / "tiny" / "gate.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "leaves the repository" in err


def test_symlinked_eval_data_outside_the_repository(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cr3t\n" * 50)
    (repo / "models" / "tiny" / "data.txt").symlink_to(secret)
    (repo / "models" / "tiny" / "gate.yaml").write_text(manifest_text("data.txt"))
    with pytest.raises(ConfigError, match="eval data 'data.txt' leaves the repository"):
        load_manifest(repo / "models" / "tiny" / "gate.yaml")


def test_two_manifests_with_one_name_are_refused_together(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    # a pull request adding a second manifest named like the team's would share its stages,
    # build folders, CI legs and MLflow runs: validate, plan and the CI matrix all refuse it
    repo = make_repo(tmp_path)
    (repo / "models" / "copy").mkdir()
    for folder in ("tiny", "copy"):
        (repo / "models" / folder / "gate.yaml").write_text(manifest_text("../../sentences.txt"))
    first, second = (str(repo / "models" / f / "gate.yaml") for f in ("tiny", "copy"))
    assert main(["validate", first]) == main(["validate", second]) == 0
    capsys.readouterr()
    for argv in (["validate", first, second], ["plan", "--matrix", "--root", str(repo), first, second]):
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert err.count("\n") == 1 and "is also used by" in err and first in err and "include" not in out


def test_dotdot_eval_path(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo / "models" / "tiny" / "gate.yaml").write_text(manifest_text("../../../outside.txt"))
    with pytest.raises(ConfigError, match="leaves the repository"):
        load_manifest(repo / "models" / "tiny" / "gate.yaml")


YAML_CHARS = string.ascii_letters + string.digits + " :-_[]{},.'\"#\n\t|>&*!%@`?=~"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=YAML_CHARS, max_size=300))
def test_fuzzed_files_never_crash_the_loaders(text: str, tmp_path: Path) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text)
    for load in (load_policy, load_manifest):
        try:
            load(path)
        except ConfigError as exc:
            assert str(exc).startswith(str(path)), str(exc)
            assert "\n" not in exc.message


def _mutations() -> st.SearchStrategy[str]:
    lines = MINIMAL.read_text().splitlines()
    return st.lists(st.sampled_from(range(len(lines))), min_size=1, max_size=3).flatmap(
        lambda idx: st.lists(st.text(alphabet=YAML_CHARS, max_size=20), min_size=len(idx), max_size=len(idx)).map(
            lambda repl: "\n".join(
                (line.split(":")[0] + ": " + repl[idx.index(i)]) if i in idx and ":" in line else line
                for i, line in enumerate(lines)
            )
        )
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_mutations())
def test_mutated_manifests_are_valid_or_clean_errors(text: str, tmp_path: Path) -> None:
    folder = tmp_path / "tests" / "data" / "manifests" / "positive"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA / "sentences-20.txt", tmp_path / "tests" / "data" / "sentences-20.txt")
    path = folder / "m.yaml"
    path.write_text(text)
    try:
        load_manifest(path, repo_root=tmp_path)
    except ConfigError as exc:
        assert str(exc).startswith(f"{path}:") or str(exc).startswith(str(path)), str(exc)
