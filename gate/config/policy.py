"""Policies: named sets of rules that a candidate must clear against its baseline.

A rule names a measured metric, how the candidate is compared (the formulas below, all with
the candidate ``c`` and baseline ``b`` measured in the same job on the same machine), and a
bound. ``accuracy`` names the manifest's primary eval metric.

==============  =====================  =================================================
compare         value                  typical use
==============  =====================  =================================================
``absolute``    ``c``                  a size budget in bytes, a latency ceiling in ms
``ratio``       ``c / b``              accuracy kept (>= 0.95 of the baseline)
``speedup``     ``b / c``              latency p50 speed-up (>= 2.0); a slower candidate < 1
``reduction``   ``1 - c / b``          memory or size cut (>= 0.5); growth is negative
``difference``  ``c - b``              accuracy drop in points
==============  =====================  =================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from gate.config.schema import Strict, Version, parse, sha256_file
from gate.config.sections import Name
from gate.config.yamlio import Located, load_yaml
from gate.documents import GENERIC_METRICS as _GENERIC_METRICS
from gate.errors import ConfigError

Compare = Literal["absolute", "ratio", "speedup", "reduction", "difference"]

#: Metrics every measurement has, with the direction in which they are better (defined with
#: the measurements document, which refuses negative values of them).
GENERIC_METRICS = _GENERIC_METRICS


class Rule(Strict):
    """One gate: ``min <= value(compare, candidate, baseline) <= max``."""

    id: Name
    description: str = ""
    metric: str
    compare: Compare
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _has_bound(self) -> Rule:
        if self.min is None and self.max is None:
            raise ValueError("a rule needs a min or a max bound")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    def bound_text(self) -> str:
        """``>= 2.0``, ``<= 5e6`` or ``in [a, b]``."""
        if self.max is None:
            return f">= {self.min:g}"
        if self.min is None:
            return f"<= {self.max:g}"
        return f"in [{self.min:g}, {self.max:g}]"


class Statistics(Strict):
    """How noisy measurements become verdicts (see :mod:`gate.verdict.intervals`).

    ``confidence``: level of the bootstrap intervals (default 0.95). ``resamples``: bootstrap
    resamples (2000 puts the Monte-Carlo error of a 95% percentile end well below 1% of the
    interval's width; Efron & Tibshirani 1993 recommend >= 1000 for intervals). ``seed``:
    makes intervals reproducible. ``time_budget_s``: seconds of extra interleaved rounds the
    measure stage may spend per target while a latency rule is INCONCLUSIVE, up to
    ``max_rounds`` rounds in all. ``inconclusive``: what an INCONCLUSIVE verdict does:
    ``block`` (exit 1, like a failure), ``warn`` (exit 0, shown as a warning) or ``neutral``
    (exit 0, shown as neither pass nor fail).
    """

    confidence: float = Field(default=0.95, ge=0.5, le=0.999)
    resamples: int = Field(default=2000, ge=200, le=100_000)
    seed: int = Field(default=0, ge=0)
    time_budget_s: float = Field(default=60.0, ge=0.0, le=3600.0)
    max_rounds: int = Field(default=60, ge=1, le=1000)
    inconclusive: Literal["block", "warn", "neutral"] = "block"


class Policy(Strict):
    """A policy file (``policies/<name>.yaml``). See ``gate schema policy``."""

    version: Version = 1
    name: Name
    description: str = ""
    statistics: Statistics = Statistics()
    rules: list[Rule] = Field(min_length=1)


@dataclass(frozen=True)
class LoadedPolicy:
    """A validated policy and the file it came from."""

    policy: Policy
    doc: Located

    @property
    def path(self) -> Path:
        return self.doc.path

    @cached_property
    def sha256(self) -> str:
        return sha256_file(self.doc.path)


def load_policy(path: Path) -> LoadedPolicy:
    """Load and validate a policy file.

    Raises:
        ConfigError: schema problems or duplicate rule ids, as ``file:line:column: problem``.
    """
    doc = load_yaml(path)
    policy = parse(doc, Policy)
    seen: set[str] = set()
    for i, rule in enumerate(policy.rules):
        if rule.id in seen:
            raise ConfigError(f"duplicate rule id {rule.id!r}", location=doc.where(("rules", i, "id")))
        seen.add(rule.id)
    return LoadedPolicy(policy=policy, doc=doc)


def bundled_policies_dir() -> Path:
    """The ``policies/`` folder shipped with edge-gate."""
    from gate.config.shipped import shipped_dir

    return shipped_dir("policies")


def resolve_policy(ref: str, manifest_folder: Path, repo_root: Path, where: str) -> Path:
    """Find the policy a manifest names.

    A reference containing ``/`` or ending in ``.yaml`` is a path relative to the manifest's
    folder and must stay inside the repository. A bare name is looked up as
    ``<repo>/policies/<name>.yaml``, then among the policies bundled with edge-gate.

    Raises:
        ConfigError: at ``where`` when no such policy exists or the path leaves the repository.
    """
    if "/" in ref or ref.endswith((".yaml", ".yml")):
        path = (manifest_folder / ref).resolve()
        if not path.is_relative_to(repo_root.resolve()):
            raise ConfigError(f"policy path {ref!r} leaves the repository", location=where)
        if not path.is_file():
            raise ConfigError(f"policy file {ref!r} does not exist", location=where)
        return path
    for folder in (repo_root / "policies", bundled_policies_dir()):
        candidate = folder / f"{ref}.yaml"
        if candidate.is_file():
            return candidate.resolve()
    raise ConfigError(f"no policy named {ref!r} (looked in policies/ and the bundled ones)", location=where)
