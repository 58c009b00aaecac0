"""Release semantics (gate.verdict.release): alternatives per platform, required targets, ERROR
first, the nearest miss and a hint for every failing rule, decided by the real `decide` from
hand-built measurements written through the typed document (tests/factories.py)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from gate.config.loading import load_pair
from gate.documents import Decision, Measurements, Verdict
from gate.reports.markdown import render_markdown
from gate.verdict.decision import decide
from gate.verdict.troubleshoot import hints_for
from tests.factories import PASSING, write_measurements

REPO = Path(__file__).resolve().parents[2]
#: accuracy kept 0.80 < 0.95 (FAIL); speed-up 17/12 = 1.42 < 2 (FAIL); memory cut 1 - 80/90 (FAIL)
LOW_ACCURACY = {**PASSING, "nn10_overlap": 0.80}
SLOW = {**PASSING, "latency_p50_ms": 12.0}
HEAVY = {**PASSING, "model_memory_bytes": 80e6}
SLOW_AND_HEAVY = {**PASSING, "latency_p50_ms": 16.0, "model_memory_bytes": 85e6}
#: half the items keep 0.9, half 1.0: accuracy kept 0.95 with an interval around it (INCONCLUSIVE)
STRADDLING = [0.9, 1.0] * 300


def target(name: str, platform: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "platform": platform, "backend": "onnxruntime",
            "recipe": {"precision": "int8", "method": "dynamic", "per_channel": name.endswith("pc")}, **extra}


def make(tmp_path: Path, targets: list[dict[str, Any]], statistics: dict[str, Any] | None = None,
         waivers: list[dict[str, Any]] | None = None) -> Any:
    """A repository holding the MiniLM example with ``targets``; returns ``decide_with``."""
    folder = tmp_path / "models" / "m"
    shutil.copytree(REPO / "examples" / "minilm", folder, ignore=shutil.ignore_patterns("make_eval.py"))
    doc = yaml.safe_load((folder / "gate.yaml").read_text())
    doc |= {"name": "m", "targets": targets}
    if waivers:
        doc["waivers"] = waivers
    (folder / "gate.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    shutil.copytree(REPO / "policies", tmp_path / "policies")
    override = None
    if statistics:
        policy = yaml.safe_load((tmp_path / "policies" / "edge-default.yaml").read_text())
        policy["statistics"] = statistics
        override = tmp_path / "policies" / "edge-tuned.yaml"
        override.write_text(yaml.safe_dump(policy, sort_keys=False))
    (tmp_path / ".git").mkdir()
    loaded, policy_loaded = load_pair(folder / "gate.yaml", override)

    def decide_with(figures: dict[str, dict[str, float] | None], **kw: Any) -> Decision:
        for name, metrics in figures.items():
            if metrics is not None:
                write_measurements(tmp_path, loaded, name, metrics, **kw.get(name, {}))
        return decide(loaded, policy_loaded, tmp_path, today=dt.date(2026, 12, 1))

    return decide_with


def test_one_passing_alternative_ships_and_a_platform_with_none_blocks(tmp_path: Path) -> None:
    decide_with = make(tmp_path, [target("a", "x86-cpu"), target("b", "x86-cpu"), target("c", "x86-cpu"),
                                  target("d", "arm-cpu"), target("e", "arm-cpu")])
    d = decide_with({"a": LOW_ACCURACY, "b": PASSING, "c": SLOW, "d": HEAVY, "e": SLOW_AND_HEAVY})
    x86, arm = d.platforms
    assert (x86.platform, x86.verdict, x86.release) == ("x86-cpu", Verdict.PASS, "b")
    assert x86.reason.startswith("b ships: highest weighted score")
    assert [t.target for t in d.targets if t.ships] == ["b"]
    why = {t.target: t.why_not for t in d.targets}
    assert why["a"].startswith("fail: accuracy-kept FAIL") and "0.8" in why["a"]
    assert why["c"].startswith("fail: speed-up FAIL") and "1.417" in why["c"]
    assert (arm.verdict, arm.release) == (Verdict.FAIL, None)
    assert d.verdict == Verdict.FAIL and d.exit_code == 1 and d.blocked_platforms() == ["arm-cpu"]
    # d misses one rule by 1 - 80/90 = 0.111 against 0.5 (relative shortfall 0.778); e misses two
    assert arm.nearest_miss is not None and arm.nearest_miss.target == "d"
    margins = {r.rule: r for r in arm.nearest_miss.rules}
    assert margins["memory-cut"].margin == pytest.approx(1 - 80 / 90 - 0.5)
    assert margins["memory-cut"].relative == pytest.approx((1 - 80 / 90 - 0.5) / 0.5)
    assert margins["speed-up"].margin == pytest.approx(17 / 5 - 2.0) and margins["speed-up"].verdict == Verdict.PASS
    assert arm.nearest_miss.shortfall == pytest.approx(-(1 - 80 / 90 - 0.5) / 0.5)
    assert "nearest miss d" in arm.reason
    # every failing rule of every candidate has a hint; the report names the blocked platform
    docs = {t.target: Measurements.read(tmp_path / str(t.measurements)) for t in d.targets}
    hints = {t.target: hints_for(t.rules, docs[t.target]) for t in d.targets}
    for t in d.targets:
        assert set(hints[t.target]) == {r.rule for r in t.rules if r.verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE)}
    text = render_markdown(d, docs, hints=hints)
    assert "**Blocked:** arm-cpu" in text and "Nearest miss on arm-cpu" in text
    assert "| x86-cpu | ✅ PASS | b |" in text
    only_x86 = make(tmp_path / "one", [target("a", "x86-cpu"), target("b", "x86-cpu"), target("c", "x86-cpu")])
    d1 = only_x86({"a": LOW_ACCURACY, "b": PASSING, "c": SLOW})
    assert (d1.verdict, d1.exit_code, d1.recommendation) == (Verdict.PASS, 0, "b")


def test_an_error_anywhere_makes_the_manifest_error(tmp_path: Path) -> None:
    decide_with = make(tmp_path, [target("a", "x86-cpu"), target("b", "x86-cpu"), target("c", "arm-cpu")])
    d = decide_with({"a": PASSING, "b": None, "c": PASSING})  # b was never measured
    x86, arm = d.platforms
    assert x86.verdict == Verdict.ERROR and x86.release is None and "b could not be judged" in x86.reason
    assert arm.verdict == Verdict.PASS and arm.release == "c"
    assert d.verdict == Verdict.ERROR and d.exit_code == 3
    assert d.target("a").why_not.startswith("passes, but the platform does not ship: b could not be judged")


def test_a_required_target_must_pass_itself(tmp_path: Path) -> None:
    decide_with = make(tmp_path, [target("a", "x86-cpu", required=True), target("b", "x86-cpu")])
    d = decide_with({"a": SLOW, "b": PASSING})
    (x86,) = d.platforms
    assert (x86.verdict, x86.release, x86.required) == (Verdict.FAIL, None, ["a"])
    assert x86.reason == "nothing ships: required a is FAIL" and d.exit_code == 1
    assert d.target("b").why_not == "passes, but the platform does not ship: required a is FAIL"
    d2 = decide_with({"a": PASSING, "b": SLOW})
    assert (d2.verdict, d2.platforms[0].release) == (Verdict.PASS, "a")


@pytest.mark.parametrize(("mode", "code"), [("block", 1), ("warn", 0), ("neutral", 0)])
def test_inconclusive_keeps_its_meaning_per_platform(tmp_path: Path, mode: str, code: int) -> None:
    decide_with = make(tmp_path, [target("a", "x86-cpu"), target("b", "x86-cpu")], statistics={"inconclusive": mode})
    d = decide_with({"a": PASSING, "b": SLOW}, a={"overlap": STRADDLING})
    (x86,) = d.platforms
    assert d.target("a").verdict == Verdict.INCONCLUSIVE and x86.verdict == Verdict.INCONCLUSIVE
    assert x86.release is None and d.verdict == Verdict.INCONCLUSIVE and d.exit_code == code
    assert x86.nearest_miss is not None and x86.nearest_miss.target == "a"
    docs = {t.target: Measurements.read(tmp_path / str(t.measurements)) for t in d.targets}
    (general, narrower) = hints_for(d.target("a").rules, docs["a"])["accuracy-kept"]
    assert "eval items" in narrower.remedy and general.general


def test_a_waived_alternative_ships_with_its_waiver_shown(tmp_path: Path) -> None:
    waiver = {"rule": "speed-up", "target": "b", "reason": "edge box is fast enough", "owner": "ml-platform",
              "expires": "2099-01-01"}
    decide_with = make(tmp_path, [target("a", "x86-cpu"), target("b", "x86-cpu")], waivers=[waiver])
    d = decide_with({"a": LOW_ACCURACY, "b": SLOW})
    (x86,) = d.platforms
    assert (x86.verdict, x86.release, d.verdict, d.exit_code) == (Verdict.PASS, "b", Verdict.PASS, 0)
    (speed,) = [r for r in d.target("b").rules if r.rule == "speed-up"]
    assert speed.verdict == Verdict.WAIVED and speed.waiver is not None and speed.waiver["applied"]
    assert d.target("a").why_not.startswith("fail: accuracy-kept FAIL")


def test_pareto_axes_are_the_rule_values(tmp_path: Path) -> None:
    decide_with = make(tmp_path, [target("a", "x86-cpu"), target("b", "x86-cpu")])
    d = decide_with({"a": PASSING, "b": SLOW})
    for t in d.targets:
        rules = {r.rule: r.value for r in t.rules}
        assert t.point == {"speedup": rules["speed-up"], "memory_cut": rules["memory-cut"],
                           "fidelity": rules["accuracy-kept"]}


def test_decision_round_trips_through_its_schema(tmp_path: Path) -> None:
    decide_with = make(tmp_path, [target("a", "x86-cpu")])
    d = decide_with({"a": PASSING})
    data = d.dump()
    assert data["schema"] == "edge-gate/decision/v2" and "schema_" not in data
    assert Decision.model_validate(data) == d


def test_pareto_chart_draws_the_rule_bounds_and_intervals(tmp_path: Path) -> None:
    from gate.reports.plots import thresholds, write_plots
    from gate.verdict.pareto import axis_rules

    decide_with = make(tmp_path, [target("a", "x86-cpu"), target("b", "x86-cpu"), target("d", "arm-cpu")])
    d = decide_with({"a": PASSING, "b": SLOW, "d": HEAVY}, a={"overlap": STRADDLING})
    assert thresholds(d.targets, d.primary_metric) == {
        "fidelity": [("accuracy-kept min", 0.95)], "speedup": [("speed-up min", 2.0)],
        "memory_cut": [("memory-cut min", 0.5)]}
    fidelity = axis_rules(d.target("a").rules, d.primary_metric)["fidelity"]
    assert fidelity.low < 0.95 < fidelity.high  # the error bar the chart draws straddles the bound
    docs = {t.target: Measurements.read(tmp_path / str(t.measurements)) for t in d.targets}
    written = write_plots(d, docs, tmp_path / "plots")
    assert [w["png"] for w in written] == ["pareto.png", "latency.png"]
    assert (tmp_path / "plots" / "pareto.svg").stat().st_size > 10_000
