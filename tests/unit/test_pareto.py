"""Pareto frontier and recommendation on hand-built points (gate.verdict.pareto)."""

from __future__ import annotations

import pytest

from gate.verdict.pareto import Point, dominates, frontier, scores, select


def names(points: list[Point]) -> list[str]:
    return [p.target for p in points]


def test_dominance_needs_better_on_one_axis_and_no_worse_on_any() -> None:
    a = Point("a", speedup=2.5, memory_cut=0.6, fidelity=0.99)
    b = Point("b", speedup=2.0, memory_cut=0.6, fidelity=0.99)
    c = Point("c", speedup=3.0, memory_cut=0.5, fidelity=0.99)
    assert dominates(a, b) and not dominates(b, a)
    assert not dominates(a, c) and not dominates(c, a)  # a trade-off: neither dominates


def test_frontier_drops_dominated_points_keeps_trade_offs() -> None:
    pts = [
        Point("fast", speedup=3.0, memory_cut=0.4, fidelity=0.90),
        Point("faithful", speedup=1.5, memory_cut=0.5, fidelity=0.999),
        Point("dominated", speedup=1.4, memory_cut=0.4, fidelity=0.95),
        Point("balanced", speedup=2.2, memory_cut=0.6, fidelity=0.98),
    ]
    assert names(frontier(pts)) == ["fast", "faithful", "balanced"]


def test_identical_points_are_a_tie_and_both_stay_on_the_frontier() -> None:
    a = Point("a", speedup=2.0, memory_cut=0.5, fidelity=0.98)
    b = Point("b", speedup=2.0, memory_cut=0.5, fidelity=0.98)
    worse = Point("w", speedup=1.0, memory_cut=0.5, fidelity=0.98)
    assert not dominates(a, b) and not dominates(b, a)
    assert names(frontier([a, b, worse])) == ["a", "b"]
    sel = select([b, a, worse])
    assert sel.scores["a"] == sel.scores["b"]
    assert sel.recommendation == "a"  # equal score: the first name in sort order


def test_one_point_is_its_own_frontier_and_recommended_if_it_passes() -> None:
    only = Point("only", speedup=0.8, memory_cut=-0.1, fidelity=0.9)
    sel = select([only])
    assert sel.frontier == ["only"] and sel.recommendation == "only"
    assert sel.scores == {"only": 1.0}
    failing = select([Point("only", speedup=0.8, memory_cut=-0.1, fidelity=0.9, passed=False)])
    assert failing.frontier == ["only"] and failing.recommendation is None
    assert "passes" in failing.reason


def test_a_failing_candidate_is_never_recommended_even_when_it_dominates() -> None:
    pts = [Point("best-but-fails", 5.0, 0.9, 0.99, passed=False), Point("ok", 2.1, 0.55, 0.97),
           Point("ok-but-dominated", 2.0, 0.5, 0.96)]
    sel = select(pts)
    assert sel.frontier == ["best-but-fails"]
    assert sel.recommendation == "ok"  # the best of the passing candidates' own frontier
    assert "ok-but-dominated" not in sel.scores


def test_recommendation_follows_the_weights() -> None:
    pts = [
        Point("int4", speedup=3.0, memory_cut=0.8, fidelity=0.93),
        Point("int8", speedup=2.1, memory_cut=0.6, fidelity=0.995),
    ]
    assert select(pts).recommendation == "int4"  # equal weights: 2 of 3 axes won
    sel = select(pts, {"speedup": 0, "memory_cut": 0, "fidelity": 1})
    assert sel.recommendation == "int8"
    assert sel.scores == {"int4": 0.0, "int8": 1.0}
    assert "fidelity 1" in sel.reason


def test_scores_normalise_each_axis_and_refuse_zero_weights() -> None:
    pts = [Point("a", 1.0, 0.2, 0.9), Point("b", 3.0, 0.2, 1.0)]
    got = scores(pts, {"speedup": 2, "memory_cut": 1, "fidelity": 1})
    # b: speedup 1*2 + memory (all equal) 1*1 + fidelity 1*1 = 4 / 4; a: 0 + 1 + 0 = 1 / 4
    assert got == {"a": pytest.approx(0.25), "b": pytest.approx(1.0)}
    with pytest.raises(ValueError):
        scores(pts, {"speedup": 0, "memory_cut": 0, "fidelity": 0})


def test_no_points_no_recommendation() -> None:
    sel = select([])
    assert sel.frontier == [] and sel.recommendation is None


def test_report_marks_frontier_recommendation_hints_and_auto_choice() -> None:
    from gate.reports.markdown import render_markdown
    from gate.documents import Decision, RuleResult, TargetResult, Verdict
    from gate.verdict.release import platform_results
    from gate.verdict.troubleshoot import Hint

    def target(name: str, verdict: Verdict, point: dict[str, float]) -> TargetResult:
        rule = RuleResult(rule="speed-up", description="", metric="latency_p50_ms", compare="speedup", bound=">= 2",
                          min=2.0, max=None, value=point["speedup"], verdict=verdict, reason="r")
        return TargetResult(target=name, target_id=f"x86-cpu/olive/{name}", backend="olive", platform="x86-cpu",
                            verdict=verdict, rules=[rule], config_hash="c", point=point,
                            backend_choice="backend: auto chose olive (platform enterprise: ...)" if name == "a" else None)

    targets = [target("a", Verdict.PASS, {"speedup": 2.5, "memory_cut": 0.6, "fidelity": 0.97}),
               target("b", Verdict.FAIL, {"speedup": 1.2, "memory_cut": 0.5, "fidelity": 0.96}),
               target("c", Verdict.FAIL, {"speedup": 3.0, "memory_cut": 0.7, "fidelity": 0.80})]
    (platform,) = platform_results(targets, {"speedup": 1, "memory_cut": 1, "fidelity": 1})
    assert platform.frontier == ["a", "c"] and platform.release == "a"
    assert [t.on_frontier for t in targets] == [True, False, True] and targets[0].recommended and targets[0].ships
    d = Decision(model="m", task="sentence-embedding", manifest="g.yaml", manifest_sha256="0", policy="p",
                 policy_path="p", policy_sha256="0", primary_metric="nn10_overlap", verdict=Verdict.PASS,
                 exit_code=0, decided_at="2026-11-29T00:00:00+00:00", targets=targets, platforms=[platform],
                 frontier=platform.frontier, recommendation=platform.release, recommendation_reason=platform.reason)
    hint = Hint("speed-up", "no VNNI.", "use a VNNI runner.", "isa avx2")
    md = render_markdown(d, hints={"b": {"speed-up": [hint]}}, plots=[{"title": "P", "png": "pareto.png", "svg": "pareto.svg"}])
    assert "| x86-cpu/olive/a ⭐ | x86-cpu | olive | ✅ PASS | 2.50x | 60.0% | 0.9700 | ◆ yes |" in md
    assert "| x86-cpu/olive/b | x86-cpu | olive | ❌ FAIL | 1.20x | 50.0% | 0.9600 | no |" in md
    assert "| x86-cpu | ✅ PASS | a | a ships: highest weighted score" in md
    assert "| x86-cpu/olive/c | ❌ FAIL | no | fail: speed-up FAIL (r) |".replace("(", "\\(").replace(")", "\\)") in md
    assert "![P](pareto.png) ([SVG](pareto.svg))" in md
    assert "likely cause: no VNNI. Remedy: use a VNNI runner." in md
    assert "backend: auto chose olive" in md
