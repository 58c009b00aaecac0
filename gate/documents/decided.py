"""``decision.json``: every rule's verdict per target, the verdict and release per platform,
and the manifest's verdict and exit code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from gate.documents.core import DECISION_SCHEMA, Verdict, _Doc, passes, read_document


class RuleResult(BaseModel):
    """One rule on one target, with the numbers behind its verdict (interval at ``confidence``)."""

    rule: str
    description: str
    metric: str
    compare: str
    bound: str
    min: float | None
    max: float | None
    baseline: float | None = None
    candidate: float | None = None
    value: float | None = None
    low: float | None = None
    high: float | None = None
    confidence: float | None = None
    method: str | None = None
    verdict: Verdict
    reason: str
    waiver: dict[str, Any] | None = None


class TargetResult(BaseModel):
    """All rules on one target (one candidate for its platform).

    ``point`` holds its Pareto axes (:mod:`gate.verdict.pareto`). ``ships`` is True for the
    platform's release; otherwise ``why_not`` says why this candidate does not ship.
    """

    target: str
    target_id: str
    backend: str
    platform: str
    verdict: Verdict
    required: bool = False
    error: str | None = None
    rules: list[RuleResult] = Field(default_factory=list)
    measurements: str | None = None
    measurements_sha256: str | None = None
    config_hash: str
    fingerprint: dict[str, Any] | None = None
    backend_choice: str | None = None
    point: dict[str, float] | None = None
    on_frontier: bool = False
    score: float | None = None
    recommended: bool = False
    ships: bool = False
    why_not: str = ""


class RuleMargin(BaseModel):
    """How far one rule of a candidate is from its bound. ``margin`` is signed, in the rule's
    value units, measured from the interval's end that must clear the bound (``low`` for a
    ``min``, ``high`` for a ``max``): >= 0 clears it. ``relative`` is ``margin / |bound|``."""

    rule: str
    verdict: Verdict
    value: float | None
    low: float | None
    high: float | None
    bound: str
    margin: float | None
    relative: float | None


class NearestMiss(BaseModel):
    """The candidate of a platform closest to passing: the smallest total relative shortfall
    over its rules (:mod:`gate.verdict.release`)."""

    target: str
    shortfall: float
    rules: list[RuleMargin]


class PlatformResult(BaseModel):
    """One platform (device) of the manifest: its candidates are alternatives.

    ``release`` is the candidate that ships (the recommended passing one) or None;
    ``reason`` says why in one line.
    """

    platform: str
    verdict: Verdict
    candidates: list[str]
    required: list[str] = Field(default_factory=list)
    release: str | None = None
    reason: str = ""
    frontier: list[str] = Field(default_factory=list)
    nearest_miss: NearestMiss | None = None


class Decision(_Doc):
    """The outcome for one manifest (``decision.json``). ``exit_code`` is the check's exit
    code, computed once by :func:`gate.verdict.decision.exit_code_for`."""

    schema_: str = Field(default=DECISION_SCHEMA, alias="schema")
    model: str
    task: str
    manifest: str
    manifest_sha256: str
    #: sha256 of the source model (:func:`gate.config.schema.sha256_tree`) and of the eval set
    source_sha256: str = ""
    eval_sha256: str = ""
    policy: str
    policy_path: str
    policy_sha256: str
    primary_metric: str
    verdict: Verdict
    exit_code: int
    inconclusive_mode: str = "block"
    decided_at: str
    targets: list[TargetResult]
    platforms: list[PlatformResult] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    frontier: list[str] = Field(default_factory=list)
    recommendation: str | None = None
    recommendation_reason: str = ""
    selection_weights: dict[str, float] = Field(default_factory=dict)

    def target(self, name: str) -> TargetResult | None:
        """The result of target ``name``, or None."""
        return next((t for t in self.targets if t.target == name), None)

    def platform(self, name: str) -> PlatformResult | None:
        """The result of platform ``name``, or None."""
        return next((p for p in self.platforms if p.platform == name), None)

    def releases(self) -> dict[str, TargetResult]:
        """``{platform: the target that ships there}`` for the platforms that have one."""
        out = {}
        for p in self.platforms:
            t = self.target(p.release) if p.release else None
            if t is not None:
                out[p.platform] = t
        return out

    def blocked_platforms(self) -> list[str]:
        """The platforms whose verdict does not pass, in manifest order."""
        return [p.platform for p in self.platforms if not passes(p.verdict)]

    @classmethod
    def read(cls, path: Path) -> Decision:
        """Read and validate (:func:`read_document`; raises DocumentError)."""
        return read_document(cls, path, "decision")
