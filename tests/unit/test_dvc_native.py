"""The plan as DVC shows it: metrics and plots declared per target, the plan-check stage that
stops a stale plan before anything is rebuilt, `gate repro` planning again after a manifest
edit, and `gate exp run -S` writing a value into the manifest (comments kept)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gate.cli import main
from gate.commands.repro import planned_manifests, replan
from gate.errors import ConfigError
from gate.lineage import run_view
from gate.plan.overrides import apply_override, parse_override
from gate.plan.stage_figures import latency_rows


@pytest.fixture
def repo(tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(repo_root / "examples/minilm", root / "models/minilm")
    shutil.copytree(repo_root / "policies", root / "policies")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    monkeypatch.chdir(root)
    assert main(["plan"]) == 0
    return root


def test_every_target_declares_metrics_and_plots(repo: Path) -> None:
    dvc = yaml.safe_load((repo / "dvc.yaml").read_text())
    targets = [t["name"] for t in yaml.safe_load((repo / "models/minilm/gate.yaml").read_text())["targets"]]
    for t in targets:
        stage = dvc["stages"][f"figures-minilm-{t}"]
        assert stage["deps"] == [f"build/gate/minilm/targets/{t}/measurements.json"]
        assert stage["metrics"] == [f"build/gate/minilm/targets/{t}/figures/metrics.json"]
        assert stage["params"] == [{"gate-params.yaml": ["minilm.policy"]}]
    plots = {next(iter(p)): next(iter(p.values())) for p in dvc["plots"]}
    assert set(plots) == {f"latency-minilm-{t}" for t in targets} | {"frontier-minilm"}
    assert set(plots["frontier-minilm"]["y"]) == {f"build/gate/minilm/targets/{t}/figures/frontier.json"
                                                  for t in targets}
    # the plan check runs first: the baseline depends on its output
    assert "build/gate/minilm/plan-checked.txt" in dvc["stages"]["baseline-minilm"]["deps"]
    assert dvc["stages"]["plan-minilm"]["deps"][:2] == ["models/minilm/gate.yaml", "policies/edge-default.yaml"]
    params = yaml.safe_load((repo / "gate-params.yaml").read_text())["minilm"]
    assert [r["id"] for r in params["policy"]["rules"]] == ["accuracy-kept", "speed-up", "memory-cut", "size-cut"]


def test_a_stale_plan_is_named_and_gate_repro_plans_again(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--verify", "models/minilm/gate.yaml"]) == 0
    assert (repo / "build/gate/minilm/plan-checked.txt").is_file()
    manifest = repo / "models/minilm/gate.yaml"
    manifest.write_text(manifest.read_text().replace("calibration_size: 128", "calibration_size: 64"))
    capsys.readouterr()
    assert main(["plan", "--verify", "models/minilm/gate.yaml"]) == 2
    err = capsys.readouterr().err
    assert "the plan is stale" in err and "calibration_size" in err and "gate repro" in err
    assert planned_manifests(repo) == [repo / "models/minilm/gate.yaml"]
    changed = replan(repo)
    assert [p.name for p in changed] == ["gate-params.yaml"]
    assert "re-planned: gate-params.yaml" in capsys.readouterr().out
    assert main(["plan", "--verify", "models/minilm/gate.yaml"]) == 0
    assert replan(repo) == []


def test_exp_override_replaces_one_scalar_and_keeps_comments(repo: Path) -> None:
    manifest = repo / "models/minilm/gate.yaml"
    before = manifest.read_text()
    o = parse_override("gate-params.yaml:minilm.targets.ov-int8.recipe.calibration_size=50")
    assert (o.model, o.keys, o.value) == ("minilm", ("targets", "ov-int8", "recipe", "calibration_size"), "50")
    assert apply_override(manifest, o) == before
    after = manifest.read_text()
    assert after.replace("calibration_size: 50", "calibration_size: 128") == before
    assert after.count("#") == before.count("#")
    with pytest.raises(ConfigError, match="is not stated in the manifest"):
        apply_override(manifest, parse_override("minilm.targets.ov-int8.recipe.preset=mixed"))
    with pytest.raises(ConfigError, match=r"only gate-params\.yaml"):
        parse_override("params.yaml:minilm.measure.rounds=3")


def test_exp_override_writes_exactly_one_value(repo: Path) -> None:
    # hostile -S text: what lands in the manifest is the YAML emitter's rendering of one scalar
    manifest = repo / "models/minilm/gate.yaml"
    key = "minilm.targets.ov-int8.recipe.calibration_size"
    apply_override(manifest, parse_override(f"{key}=&a 64"))
    assert "calibration_size: 64\n" in manifest.read_text() and "&a" not in manifest.read_text()
    for value in ("*a", "1\nmeasure: {rounds: 2}", "[1, 2]", "{a: 1}", "!!python/object/apply:os.system [id]"):
        before = manifest.read_text()
        with pytest.raises(ConfigError, match=r"is not (one value|a YAML value)"):
            apply_override(manifest, parse_override(f"{key}={value}"))
        assert manifest.read_text() == before
    apply_override(manifest, parse_override(f"{key}=it's # not a comment in the file"))
    assert "calibration_size: it's\n" in manifest.read_text()


def test_exp_run_refuses_an_invalid_value_and_restores_the_manifest(repo: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    manifest = repo / "models/minilm/gate.yaml"
    before = manifest.read_text()
    assert main(["exp", "run", "-S", "minilm.measure.rounds=-3"]) == 2
    assert manifest.read_text() == before
    assert "rounds" in capsys.readouterr().err


def test_run_view_reads_well() -> None:
    t = {"target": "x", "target_id": "x-cpu/ort/int8", "verdict": "fail", "rules": [
        {"rule": "speed-up", "value": 1.5, "low": 1.4, "high": 1.6, "bound": ">= 2", "verdict": "fail"},
        {"rule": "size-cut", "value": 0.75, "low": 0.75, "high": 0.75, "bound": ">= 0.5", "verdict": "pass"}]}
    m = run_view.figure_metrics(t)
    assert m == {"passed": 0.0, "rule.speed-up": 1.5, "rule.speed-up.low": 1.4, "rule.speed-up.high": 1.6,
                 "rule.speed-up.passed": 0.0, "rule.size-cut": 0.75, "rule.size-cut.low": 0.75,
                 "rule.size-cut.high": 0.75, "rule.size-cut.passed": 1.0}
    note = run_view.target_note(t)
    assert "| speed-up | 1.5 | [1.4, 1.6] | >= 2 | fail |" in note and "**FAIL**" in note
    report = "# r\n![Pareto](pareto.png) ([SVG](pareto.svg)) [other](https://x.invalid/a.png)\n"
    out = run_view.report_note(report, "abc", {"pareto.png": "decision/pareto.png"})
    assert "![Pareto](get-artifact?path=decision%2Fpareto.png&run_uuid=abc)" in out
    assert "[SVG](pareto.svg)" in out and "(https://x.invalid/a.png)" in out
    long = run_view.report_note("line\n" * 5000, "abc", {})
    assert len(long) < run_view.NOTE_MAX_CHARS + 300 and "full report" in long
    locks = {"baseline-m": {"deps:models/m/sentences.txt": "e" * 32, "outs:build/gate/m/baseline": "b" * 32 + ".dir"},
             "measure-m-x": {"outs:build/gate/m/targets/x/measurements.json": "c" * 32},
             "measure-m-y": {"outs:build/gate/m/targets/y/measurements.json": "d" * 32}}
    params = run_view.lineage_params(run_view.lineage_rows(locks, "m", "x"))
    assert params == {"lineage.eval_data": f"{'e' * 32} models/m/sentences.txt",
                      "lineage.baseline": f"{'b' * 32}.dir build/gate/m/baseline",
                      "lineage.measurements": f"{'c' * 32} build/gate/m/targets/x/measurements.json"}


def test_latency_rows_pair_the_interleaved_runs() -> None:
    doc = {"samples": {"latency_rounds_ms": {"baseline": [[2.0, 2.2], [2.1]], "candidate": [[1.0, 1.1], [1.2]]}}}
    assert latency_rows(doc) == [
        {"run": 1, "round": 1, "baseline_ms": 2.0, "candidate_ms": 1.0},
        {"run": 2, "round": 1, "baseline_ms": 2.2, "candidate_ms": 1.1},
        {"run": 3, "round": 2, "baseline_ms": 2.1, "candidate_ms": 1.2}]
    assert latency_rows({}) == []
