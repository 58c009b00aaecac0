"""Real DVC on a plan that no longer matches its manifest: `dvc repro` after a manifest edit
and `dvc exp run -S` on the generated params both stop at `plan-<model>` (exit 2's message in
DVC's output), before any stage runs or removes an output."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import REPO, init_repo

pytestmark = pytest.mark.e2e


@pytest.fixture
def repo(tmp_path: Path):  # type: ignore[no-untyped-def]
    root = tmp_path / "repo"
    run = init_repo(root, {"minilm": REPO / "examples" / "minilm"})
    run("gate", "plan")
    run("git", "add", "-A")
    run("git", "commit", "-q", "-m", "manifest")
    return root, run


def test_dvc_repro_after_a_manifest_edit_stops_at_the_plan_check(repo) -> None:  # type: ignore[no-untyped-def]
    root, run = repo
    manifest = root / "models/minilm/gate.yaml"
    manifest.write_text(manifest.read_text().replace("calibration_size: 128", "calibration_size: 64"))
    proc = run("dvc", "repro", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "the plan is stale" in out and "targets.ov-int8.recipe.calibration_size: 128 planned, 64 now" in out
    assert "Running stage 'plan-minilm'" in out and "Running stage 'baseline-minilm'" not in out
    assert not (root / "build/gate/minilm/baseline").exists()


def test_dvc_exp_run_set_param_stops_before_anything_is_removed(repo) -> None:  # type: ignore[no-untyped-def]
    _, run = repo
    proc = run("dvc", "exp", "run", "-S", "gate-params.yaml:minilm.targets.ov-int8.recipe.calibration_size=50",
               check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "the plan is stale" in out and "gate exp run -S" in out
    assert "Running stage 'baseline-minilm'" not in out
