"""Rule arithmetic: one rule, one candidate, one baseline, one verdict.

Pure functions with no I/O, so that every formula can be checked against hand-computed
numbers. The formulas are listed in :mod:`gate.config.policy`.
"""

from __future__ import annotations

import math

from gate.config.policy import Compare, Rule
from gate.documents import Verdict, passes, worst

__all__ = ["Verdict", "compare_value", "judge", "passes", "worst"]


def compare_value(compare: Compare, candidate: float, baseline: float) -> float:
    """The rule's value for ``candidate`` against ``baseline``.

    Raises:
        ZeroDivisionError: when the formula divides by a zero measurement.
        ValueError: when either figure is NaN or infinite.
    """
    if not (math.isfinite(candidate) and math.isfinite(baseline)):
        raise ValueError(f"non-finite measurement (candidate {candidate}, baseline {baseline})")
    match compare:
        case "absolute":
            return candidate
        case "ratio":
            return candidate / baseline
        case "speedup":
            return baseline / candidate
        case "reduction":
            return 1.0 - candidate / baseline
        case "difference":
            return candidate - baseline


def judge(rule: Rule, value: float) -> Verdict:
    """PASS when ``value`` lies within the rule's bounds (inclusive), else FAIL."""
    if rule.min is not None and value < rule.min:
        return Verdict.FAIL
    if rule.max is not None and value > rule.max:
        return Verdict.FAIL
    return Verdict.PASS
