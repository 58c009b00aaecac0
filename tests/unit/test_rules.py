"""Policy arithmetic against hand-computed numbers, the direction of every ratio included."""

from __future__ import annotations

import math

import pytest

from gate.config.policy import Rule
from gate.verdict.rules import Verdict, compare_value, judge, worst


@pytest.mark.parametrize(
    ("compare", "candidate", "baseline", "expected"),
    [
        ("speedup", 8.0, 17.0, 2.125),       # 17 ms -> 8 ms is 2.125x faster
        ("speedup", 20.0, 10.0, 0.5),        # a slower candidate has speed-up < 1, never inverted
        ("ratio", 0.93, 0.98, 0.93 / 0.98),  # accuracy kept: 94.9%
        ("reduction", 30e6, 100e6, 0.7),     # 100 MB -> 30 MB is a 70% cut
        ("reduction", 120e6, 100e6, -0.2),   # growth is a negative cut
        ("difference", 0.91, 0.95, -0.04),
        ("absolute", 4.5e6, 1.0, 4.5e6),
    ],
)
def test_compare_value(compare: str, candidate: float, baseline: float, expected: float) -> None:
    assert compare_value(compare, candidate, baseline) == pytest.approx(expected, rel=1e-12)  # type: ignore[arg-type]


def test_zero_and_nan_are_errors_not_numbers() -> None:
    with pytest.raises(ZeroDivisionError):
        compare_value("ratio", 1.0, 0.0)
    with pytest.raises(ZeroDivisionError):
        compare_value("speedup", 0.0, 1.0)
    with pytest.raises(ValueError):
        compare_value("ratio", math.nan, 1.0)


def rule(**kw: object) -> Rule:
    return Rule.model_validate({"id": "r", "metric": "latency_p50_ms", "compare": "speedup", **kw})


def test_bounds_are_inclusive() -> None:
    assert judge(rule(min=2.0), 2.0) is Verdict.PASS
    assert judge(rule(min=2.0), 1.999) is Verdict.FAIL
    assert judge(rule(max=5.0), 5.0) is Verdict.PASS
    assert judge(rule(max=5.0), 5.01) is Verdict.FAIL
    assert judge(rule(min=1.0, max=2.0), 1.5) is Verdict.PASS


def test_rule_needs_a_bound() -> None:
    with pytest.raises(ValueError, match="min or a max"):
        rule()


def test_worst_orders_error_fail_inconclusive_pass() -> None:
    assert worst([Verdict.PASS, Verdict.WAIVED]) is Verdict.PASS
    assert worst([Verdict.PASS, Verdict.INCONCLUSIVE]) is Verdict.INCONCLUSIVE
    assert worst([Verdict.INCONCLUSIVE, Verdict.FAIL]) is Verdict.FAIL
    assert worst([Verdict.FAIL, Verdict.ERROR, Verdict.PASS]) is Verdict.ERROR
    assert worst([]) is Verdict.ERROR  # nothing checked is never a pass
