"""What ships: one release per platform, chosen among that platform's alternatives.

Targets that share a ``platform`` are alternative candidates for that device. Per platform:

* **ERROR wins.** A target that is ERROR makes its platform ERROR (and so the manifest, whose
  verdict is the worst over platforms: exit 3): something could not be measured, and an
  error never becomes a pass by a sibling passing.
* **Required targets.** A target marked ``required: true`` in the manifest must pass itself
  ("this exact artifact must pass"); its FAIL or INCONCLUSIVE is the platform's.
* **Alternatives.** Otherwise the platform passes when at least one candidate passes
  (:func:`gate.documents.passes`: PASS, or WAIVED under an unexpired waiver), and its release
  is the recommended passing candidate: among the passing candidates no other passing one
  dominates, the highest weighted score (:func:`gate.verdict.pareto.select`, the manifest's
  ``selection.weights``). With none passing, the platform is INCONCLUSIVE when a candidate is
  (it might pass with more measurement), else FAIL; INCONCLUSIVE then blocks or not by the
  policy's ``inconclusive`` mode, as before.

Every candidate gets ``ships`` or a ``why_not`` line. A platform with no release names its
**nearest miss**: the non-error candidate with the smallest total relative shortfall
``sum over FAIL/INCONCLUSIVE rules of max(0, -margin / |bound|)``, where a rule's margin is
measured from the interval end that must clear the bound (``low - min`` for a lower bound,
``max - high`` for an upper one; the verdict's own rule, :mod:`gate.verdict.intervals`); ties
go to fewer non-passing rules, then manifest order. A rule with no interval (ERROR) counts as
infinitely short. The shortfall is a ranking for the report, never a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from gate.documents import NearestMiss, PlatformResult, RuleMargin, RuleResult, TargetResult, Verdict, passes, worst
from gate.verdict.pareto import Point, dominates, select


def rule_margin(r: RuleResult) -> RuleMargin:
    """The signed margin of one rule result (module docstring); None without an interval."""
    low = r.low if r.low is not None else r.value
    high = r.high if r.high is not None else r.value
    margins: list[tuple[float, float]] = []  # (margin, bound)
    if low is not None and high is not None:
        if r.min is not None:
            margins.append((low - r.min, r.min))
        if r.max is not None:
            margins.append((r.max - high, r.max))
    if not margins:
        return RuleMargin(rule=r.rule, verdict=r.verdict, value=r.value, low=r.low, high=r.high, bound=r.bound,
                          margin=None, relative=None)
    margin, bound = min(margins, key=lambda mb: mb[0] / (abs(mb[1]) or 1.0))
    return RuleMargin(rule=r.rule, verdict=r.verdict, value=r.value, low=r.low, high=r.high, bound=r.bound,
                      margin=margin, relative=margin / (abs(bound) or 1.0))


def shortfall(t: TargetResult) -> float:
    """Total relative shortfall of ``t``'s FAIL and INCONCLUSIVE (and ERROR) rules; 0 passes."""
    total = 0.0
    for r in t.rules:
        if r.verdict not in (Verdict.FAIL, Verdict.INCONCLUSIVE, Verdict.ERROR):
            continue
        rel = rule_margin(r).relative
        total += math.inf if rel is None else max(0.0, -rel)
    return total


def nearest_miss(candidates: Sequence[TargetResult]) -> NearestMiss | None:
    """The candidate closest to passing (module docstring), or None when every one is ERROR."""
    judged = [t for t in candidates if t.error is None and t.rules]
    if not judged:
        return None

    def key(t: TargetResult) -> tuple[float, int, int]:
        failing = sum(1 for r in t.rules if not passes(r.verdict))
        return (shortfall(t), failing, candidates.index(t))

    best = min(judged, key=key)
    return NearestMiss(target=best.target, shortfall=shortfall(best), rules=[rule_margin(r) for r in best.rules])


def _failing_rules(t: TargetResult) -> str:
    shown = [f"{r.rule} {r.verdict.value.upper()} ({r.reason})" for r in t.rules if not passes(r.verdict)]
    return "; ".join(shown) or "no rule passed"


def _why_not(t: TargetResult, release: TargetResult | None, blocked_by: str, points: Mapping[str, Point]) -> str:
    """Why ``t`` does not ship (it is not ``release``)."""
    if t.error:
        return f"error: {t.error}"
    if not passes(t.verdict):
        return f"{t.verdict.value}: {_failing_rules(t)}"
    if blocked_by:
        return f"passes, but the platform does not ship: {blocked_by}"
    if release is None:
        return "passes, but no release was chosen"
    mine, theirs = points.get(t.target), points.get(release.target)
    if mine is None:
        return "passes, but its speed-up, memory cut or fidelity could not be computed, so it was not ranked"
    if theirs is not None and dominates(theirs, mine):
        return f"passes, but {release.target} is at least as good on every axis and better on one"
    dominator = next((n for n, p in points.items() if n != t.target and p.passed and dominates(p, mine)), None)
    if dominator is not None:
        return f"passes, but {dominator} is at least as good on every axis and better on one"
    return (f"passes, but scores {t.score if t.score is not None else 0:.3f} against "
            f"{release.score if release.score is not None else 0:.3f} for {release.target} (selection weights)")


def platform_result(platform: str, candidates: list[TargetResult], weights: Mapping[str, float]) -> PlatformResult:
    """Decide one platform and mark its candidates' frontier, score, ``ships`` and
    ``why_not`` (module docstring)."""
    points = {t.target: Point(t.target, **t.point, passed=passes(t.verdict))
              for t in candidates if t.point is not None and t.error is None}
    sel = select(list(points.values()), weights)
    for t in candidates:
        t.on_frontier = t.target in sel.frontier
        t.score = sel.scores.get(t.target)
    passing = [t for t in candidates if passes(t.verdict)]
    required = [t for t in candidates if t.required]
    release = next((t for t in passing if t.target == sel.recommendation), passing[0] if passing else None)
    reason = (f"{release.target} ships: {sel.reason}" if release is not None and release.target == sel.recommendation
              else f"{release.target} ships: the first passing candidate (none could be ranked)" if release else "")
    errors = [t for t in candidates if t.verdict == Verdict.ERROR]
    unmet = [t for t in required if not passes(t.verdict)]
    blocked_by = ""
    if errors:
        verdict = Verdict.ERROR
        blocked_by = f"{', '.join(t.target for t in errors)} could not be judged (ERROR)"
    elif unmet:
        verdict = worst([t.verdict for t in unmet])
        blocked_by = "required " + ", ".join(f"{t.target} is {t.verdict.value.upper()}" for t in unmet)
    elif release is not None:
        verdict = release.verdict
    else:
        verdict = Verdict.INCONCLUSIVE if any(t.verdict == Verdict.INCONCLUSIVE for t in candidates) else Verdict.FAIL
    if blocked_by:
        release = None
        reason = f"nothing ships: {blocked_by}"
    elif release is None:
        reason = f"nothing ships: none of {len(candidates)} candidate(s) passes"
    miss = nearest_miss(candidates) if release is None else None
    if miss is not None and not blocked_by:
        reason += f"; nearest miss {miss.target} (shortfall {miss.shortfall:.3g})"
    for t in candidates:
        t.recommended = t.ships = release is not None and t.target == release.target
        t.why_not = "" if t.ships else _why_not(t, release, blocked_by, points)
    return PlatformResult(platform=platform, verdict=verdict, candidates=[t.target for t in candidates],
                          required=[t.target for t in required], release=release.target if release else None,
                          reason=reason, frontier=sel.frontier, nearest_miss=miss)


def platform_results(targets: list[TargetResult], weights: Mapping[str, float]) -> list[PlatformResult]:
    """One :class:`PlatformResult` per platform, in the order platforms first appear."""
    order: list[str] = []
    for t in targets:
        if t.platform not in order:
            order.append(t.platform)
    return [platform_result(p, [t for t in targets if t.platform == p], weights) for p in order]
