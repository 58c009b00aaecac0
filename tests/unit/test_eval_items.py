"""Eval sets that cannot measure anything are bad input (exit 2 at ``eval.data``), before
anything is built: repeats, too few distinct items, non-UTF-8 bytes, one label for all."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gate.config.manifest import load_manifest
from gate.errors import ConfigError, ExitCode
from gate.config.evalset import read_eval_items
from gate.tasks import embedding, image_classification

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture
def loaded_with(tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(eval_bytes: bytes, min_items: int = 20):  # type: ignore[no-untyped-def]
        folder = tmp_path / "m"
        folder.mkdir(exist_ok=True)
        (tmp_path / ".git").mkdir(exist_ok=True)
        (folder / "eval.txt").write_bytes(eval_bytes)
        text = (DATA / "manifests/positive/minimal.yaml").read_text()
        text = text.replace("../../sentences-20.txt", "eval.txt").replace("min_items: 20", f"min_items: {min_items}")
        (folder / "gate.yaml").write_text(text)
        return load_manifest(folder / "gate.yaml")
    return make


def test_the_shipped_sets_are_accepted(loaded_with) -> None:  # type: ignore[no-untyped-def]
    assert len(read_eval_items(loaded_with((DATA / "sentences-20.txt").read_bytes()), embedding)) == 20


def test_one_sentence_repeated_is_refused(loaded_with) -> None:  # type: ignore[no-untyped-def]
    """Attack 4: 60 copies of one sentence turned accuracy 0.872 FAIL into 1.0 PASS."""
    sentences = (DATA / "sentences-20.txt").read_text().splitlines()
    with pytest.raises(ConfigError, match=r"eval set repeats items: 60 of 80 repeat an earlier one \(at most 5%\)") as exc:
        read_eval_items(loaded_with("\n".join(sentences + [sentences[0]] * 60).encode()), embedding)
    assert exc.value.exit_code == ExitCode.BAD_INPUT and ":9:" in str(exc.value)  # located at eval.data
    one_repeat = sentences + [sentences[0]]  # 1 of 21 is under 5%
    assert len(read_eval_items(loaded_with("\n".join(one_repeat).encode()), embedding)) == 21


def test_distinct_items_count_for_min_items(loaded_with) -> None:  # type: ignore[no-untyped-def]
    sentences = (DATA / "sentences-20.txt").read_text().splitlines()
    with pytest.raises(ConfigError, match="eval set has 20 distinct items; the manifest asks for at least 21"):
        read_eval_items(loaded_with("\n".join(sentences + [sentences[3]]).encode(), min_items=21), embedding)


def test_non_utf8_eval_names_the_line(loaded_with) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=r"eval data eval.txt line 3 is not UTF-8 text"):
        read_eval_items(loaded_with(b"one\ntwo\nthr\xffee\n"), embedding)


def test_one_label_for_every_item_is_degenerate(loaded_with) -> None:  # type: ignore[no-untyped-def]
    lines = [f"skimage data/chelsea.png {x} 0 200 {f} 281" for x in range(0, 50, 5) for f in (0, 1)]
    with pytest.raises(ConfigError, match=r"degenerate label set: all 20 labelled eval items have labels '281'"):
        read_eval_items(loaded_with("\n".join(lines).encode()), image_classification)
    mixed = lines[:-1] + ["skimage data/camera.png 0 0 512 0 -"]  # an unlabelled item: still one label
    with pytest.raises(ConfigError, match="degenerate label set"):
        read_eval_items(loaded_with("\n".join(mixed).encode()), image_classification)
    other = lines[:-1] + ["skimage data/camera.png 0 0 512 0 872"]
    assert len(read_eval_items(loaded_with("\n".join(other).encode()), image_classification)) == 20
    unlabelled = [line.replace(" 281", " -") for line in lines]  # fidelity only: fine
    assert len(read_eval_items(loaded_with("\n".join(unlabelled).encode()), image_classification)) == 20
