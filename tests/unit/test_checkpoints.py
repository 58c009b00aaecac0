"""PyTorch checkpoints from a pull request load tensors only, unless the manifest opts in."""

from __future__ import annotations

import collections
import datetime as dt
import shutil
from pathlib import Path

import pytest
import torch

from gate.config.loading import load_pair
from gate.errors import ConfigError
from gate.tasks.checkpoints import load_checkpoint
from gate.verdict.decision import decide

DATA = Path(__file__).resolve().parent.parent / "data"


def test_plain_state_dict_loads(tmp_path: Path) -> None:
    path = tmp_path / "ok.pth"
    torch.save({"w": torch.ones(2, 3)}, path)
    assert torch.equal(load_checkpoint(path)["w"], torch.ones(2, 3))


def test_pickled_objects_are_refused_unless_allowed(tmp_path: Path) -> None:
    path = tmp_path / "hostile.pth"
    # an object outside torch's weights_only allow-list: unpickling it means importing and
    # calling arbitrary globals, which is how a malicious checkpoint runs code
    torch.save({"w": torch.ones(1), "when": dt.datetime(2026, 1, 1)}, path)
    with pytest.raises(ConfigError, match="pickled objects beyond tensors") as info:
        load_checkpoint(path)
    assert str(info.value).startswith(str(path)) and "allow_pickle" in str(info.value)
    loaded = load_checkpoint(path, allow_pickle=True)
    assert loaded["when"] == dt.datetime(2026, 1, 1)


def test_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "zero.pth"
    path.write_bytes(b"\0" * 64)
    with pytest.raises(ConfigError):
        load_checkpoint(path)


def test_the_opt_in_is_in_the_decision(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    folder = repo / "tests" / "data" / "manifests" / "positive"
    folder.mkdir(parents=True)
    shutil.copy(DATA / "sentences-20.txt", repo / "tests" / "data" / "sentences-20.txt")
    text = (DATA / "manifests" / "positive" / "minimal.yaml").read_text()
    manifest = folder / "gate.yaml"
    manifest.write_text(text.replace("  path: model\n", "  path: model\n  allow_pickle: true\n"))
    loaded, policy = load_pair(manifest)
    assert loaded.manifest.source.allow_pickle is True
    d = decide(loaded, policy, repo)
    assert d.verdict.value == "error"  # nothing was measured here
    assert any("allow_pickle" in note for note in d.notes)
    assert collections.Counter(t.verdict.value for t in d.targets) == {"error": 1}
