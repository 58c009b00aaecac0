"""Attack 2: measurements from other measure settings or other eval bytes are stale.

The config hash that every ``measurements.json`` carries covers the candidate, the measure
settings and the eval set's bytes, so `gate decide` refuses (ERROR, "stale measurements")
a file a failed `dvc repro` left behind after any of them changed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gate.config.manifest import load_manifest

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    folder = tmp_path / "manifests" / "positive"
    folder.mkdir(parents=True)
    shutil.copy(DATA / "sentences-20.txt", tmp_path / "sentences-20.txt")
    path = folder / "gate.yaml"
    path.write_text((DATA / "manifests/positive/minimal.yaml").read_text())
    (tmp_path / ".git").mkdir()  # the repository root
    return path


@pytest.mark.parametrize("edit", [
    "measure: {threads: 1}", "measure: {timed_runs: 70}", "measure: {rounds: 3}", "measure: {warmup_runs: 9}",
])
def test_measure_settings_change_the_config_hash(manifest: Path, edit: str) -> None:
    before = load_manifest(manifest).config_hash("int8")
    manifest.write_text(manifest.read_text() + edit + "\n")
    assert load_manifest(manifest).config_hash("int8") != before


def test_eval_bytes_change_the_config_hash(manifest: Path) -> None:
    before = load_manifest(manifest).config_hash("int8")
    data = manifest.parent.parent.parent / "sentences-20.txt"
    data.write_text(data.read_text().replace("a", "b", 1))
    assert load_manifest(manifest).config_hash("int8") != before
    unchanged = load_manifest(manifest).config_hash("int8")
    assert load_manifest(manifest).config_hash("int8") == unchanged  # and it is deterministic
