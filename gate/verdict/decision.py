"""The decision: a policy applied to every target's measurements of one manifest.

One result model (:class:`Decision`), many formatters (``gate.reports``): formatters read
verdicts from here and never recompute them. Rules:

* a target whose measurements are missing, do not fit the measurements schema
  (:class:`gate.documents.Measurements`), or are stale (computed for another config hash than
  the manifest now gives) is ERROR;
* a target whose measurements are not physical (a metric not a finite number, a negative
  latency, memory, size or rate: :func:`gate.documents.physical_problem`, part of the schema)
  is ERROR;
* a target whose baseline and candidate ran on different hardware fingerprints is ERROR:
  they are never compared (shared case C03);
* a rule's verdict comes from the confidence interval of its value (:mod:`gate.verdict.intervals`):
  PASS when the whole interval meets the bound, FAIL when it misses, INCONCLUSIVE between;
* a rule whose figures are missing, zero where divided, or not finite is ERROR;
* a FAIL or INCONCLUSIVE covered by an unexpired waiver becomes WAIVED (the waiver is
  shown); an expired waiver changes nothing and is reported;
* a target's verdict is the worst of its rules (:func:`gate.documents.worst`);
* targets that share a platform are alternatives for that device: a platform passes when one
  of its candidates passes, and ships the recommended passing one; a target marked
  ``required`` must pass itself; an ERROR in any target makes its platform ERROR
  (:mod:`gate.verdict.release`);
* the decision's verdict is the worst over platforms, so an ERROR anywhere makes the whole
  manifest ERROR (exit 3) and one blocked platform blocks the manifest (exit 1);
* an INCONCLUSIVE decision exits 1 under the policy's ``inconclusive: block`` (the default)
  and 0 under ``warn`` or ``neutral``; its verdict stays INCONCLUSIVE in every report.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from gate import layout
from gate.config.manifest import LoadedManifest
from gate.config.policy import LoadedPolicy, Rule
from gate.config.schema import sha256_file
from gate.config.sections import Target
from gate.documents import (
    DECISION_SCHEMA,
    Decision,
    Measurements,
    RuleResult,
    TargetResult,
    Verdict,
    physical_problem,
    worst,
)
from gate.errors import DocumentError, ExitCode
from gate.stages.failures import read_failure
from gate.tasks import get_task
from gate.verdict.consistency import inconsistency
from gate.verdict.intervals import judge_interval, rule_interval
from gate.verdict.pareto import axis_values
from gate.verdict.release import platform_results

SCHEMA = DECISION_SCHEMA
__all__ = ["Decision", "RuleResult", "TargetResult", "decide", "decide_target", "exit_code_for", "physical_problem"]
EXIT_CODES = {
    Verdict.PASS: ExitCode.PASS,
    Verdict.WAIVED: ExitCode.PASS,
    Verdict.FAIL: ExitCode.BLOCKED,
    Verdict.INCONCLUSIVE: ExitCode.BLOCKED,
    Verdict.ERROR: ExitCode.ERROR,
}


def exit_code_for(verdict: Verdict, inconclusive: str) -> int:
    """The exit code of a decision with ``verdict`` under the policy's ``inconclusive`` mode:
    :data:`EXIT_CODES`, except that INCONCLUSIVE exits 0 under ``warn`` and ``neutral``.
    The one place the check's exit code comes from (``gate decide`` and ``gate report``)."""
    if verdict == Verdict.INCONCLUSIVE and inconclusive != "block":
        return int(ExitCode.PASS)
    return int(EXIT_CODES[verdict])


def _rule_result(rule: Rule, doc: Measurements, primary: str, policy: LoadedPolicy,
                 item_statistics: dict[str, tuple[str, str]]) -> RuleResult:
    metric = primary if rule.metric == "accuracy" else rule.metric
    common: dict[str, Any] = {"rule": rule.id, "description": rule.description, "metric": metric,
              "compare": rule.compare, "bound": rule.bound_text(), "min": rule.min, "max": rule.max}
    b, c = doc.baseline.metrics.get(metric), doc.candidate.metrics.get(metric)
    if b is None or c is None:
        side = "baseline" if b is None else "candidate"
        return RuleResult(**common, verdict=Verdict.ERROR, reason=f"{metric} was not measured for the {side}")
    common |= {"baseline": b, "candidate": c}
    st = policy.policy.statistics
    try:
        iv = rule_interval(rule, metric, doc, item_statistics, confidence=st.confidence,
                           resamples=st.resamples, seed=st.seed)
    except ZeroDivisionError:
        return RuleResult(**common, verdict=Verdict.ERROR, reason=f"{rule.compare} divides by a zero {metric}")
    except KeyError as exc:
        return RuleResult(**common, verdict=Verdict.ERROR, reason=f"the measurements lack the samples of {exc}")
    except ValueError as exc:
        return RuleResult(**common, verdict=Verdict.ERROR, reason=str(exc))
    verdict = judge_interval(rule, iv)
    where = {Verdict.PASS: "meets", Verdict.FAIL: "misses", Verdict.INCONCLUSIVE: "straddles"}[verdict]
    span = "" if iv.low == iv.high else f" ({iv.confidence * 100:.4g}% interval [{iv.low:.4g}, {iv.high:.4g}])"
    reason = f"{rule.compare} {iv.value:.4g}{span} {where} {rule.bound_text()}"
    return RuleResult(**common, value=iv.value, low=iv.low, high=iv.high, confidence=iv.confidence,
                      method=iv.method, verdict=verdict, reason=reason)


def _apply_waivers(results: list[RuleResult], target: Target, loaded: LoadedManifest, today: dt.date,
                   notes: list[str]) -> None:
    for waiver in loaded.manifest.waivers:
        if waiver.target not in ("*", target.name):
            continue
        for r in results:
            if r.rule != waiver.rule or r.verdict not in (Verdict.FAIL, Verdict.INCONCLUSIVE):
                continue
            info = waiver.model_dump(mode="json")
            if waiver.expires < today:
                notes.append(f"waiver of {waiver.rule} on {target.name} expired on {waiver.expires}; not applied")
                r.waiver = {**info, "applied": False}
                continue
            r.verdict = Verdict.WAIVED
            r.waiver = {**info, "applied": True}
            r.reason += f"; waived by {waiver.owner} until {waiver.expires}: {waiver.reason}"


def _target_error(target: Target, config_hash: str, message: str, path: str | None = None) -> TargetResult:
    return TargetResult(target=target.name, target_id=target.target_id(), backend=target.backend,
                        platform=target.platform, verdict=Verdict.ERROR, error=message,
                        measurements=path, config_hash=config_hash, required=target.required)


def _changed_artifacts(doc: Measurements, root: Path, model: str, target: str) -> list[str]:
    """Artifact files whose sha256 on disk differs from the one the measurements recorded.

    Folders that are absent (a decide job that only gathered the measurements) are skipped.
    """
    changed = []
    for role, folder in (("baseline", layout.baseline_dir(model)), ("candidate", layout.candidate_dir(model, target))):
        if not (root / folder).is_dir():
            continue
        for rec in doc.side(role).artifact.files:
            path = root / folder / rec.path
            if not path.is_file() or sha256_file(path) != rec.sha256:
                changed.append(str(folder / rec.path))
    return changed


#: A classifier's predictions have collapsed when its most frequent class takes at least this
#: share of the eval items and at least twice the baseline's most frequent share.
COLLAPSE_SHARE = 0.5


def collapse_note(target: str, doc: Measurements) -> str | None:
    """A warning when the candidate's top-1 predictions collapse onto one class (see
    :data:`COLLAPSE_SHARE`), from the ``predictions`` histograms of the measurements; None
    otherwise, and for tasks that record none."""
    cand, base = doc.candidate.predictions, doc.baseline.predictions
    if not cand or not base:
        return None
    share, base_share = float(cand["top_share"]), float(base["top_share"])
    if share >= COLLAPSE_SHARE and share >= 2 * base_share:
        return (f"{target}: predictions collapse: class {cand['top_class']} takes {share:.0%} of "
                f"{cand['items']} eval items ({cand['distinct_classes']} distinct classes; the baseline's "
                f"most frequent class takes {base_share:.0%}, {base['distinct_classes']} distinct)")
    return None


def _quantization_note(target: str, doc: Measurements) -> str | None:
    """The backend's note when the candidate file does not hold the quantization its recipe
    asked for (``details.quantization_mismatch``, read back from the file by the backend)."""
    mismatch = doc.candidate.artifact.details.get("quantization_mismatch")
    return f"{target}: {mismatch}" if mismatch else None


def decide_target(loaded: LoadedManifest, policy: LoadedPolicy, target: Target, root: Path,
                  today: dt.date, notes: list[str]) -> TargetResult:
    """Apply ``policy`` to one target's ``measurements.json`` (see the module docstring)."""
    config_hash = loaded.config_hash(target.name)
    rel = layout.measurements_file(loaded.manifest.name, target.name)
    path = root / rel
    failure = read_failure(root, loaded.manifest.name, target.name, config_hash)
    if failure is not None:
        return _target_error(target, config_hash, f"{failure['stage']} stage failed: {failure['message']}")
    if not path.is_file():
        return _target_error(target, config_hash, f"not measured: {rel} does not exist (did its stages run?)")
    try:
        doc = Measurements.read(path)
    except DocumentError as exc:
        return _target_error(target, config_hash, str(exc).replace(str(path), str(rel)), str(rel))
    recorded_hash = doc.config_hash
    fingerprints = {role: doc.side(role).fingerprint.id for role in ("baseline", "candidate")}
    if recorded_hash != config_hash:
        return _target_error(
            target, config_hash,
            f"stale measurements: {rel} was computed for config {recorded_hash}, the manifest now "
            f"gives {config_hash}; run `gate plan` and `dvc repro`", str(rel))
    if fingerprints["baseline"] != fingerprints["candidate"]:
        return _target_error(
            target, config_hash,
            f"baseline (hardware {fingerprints['baseline']}) and candidate (hardware "
            f"{fingerprints['candidate']}) were measured on different machines; they are never compared",
            str(rel))
    changed = _changed_artifacts(doc, root, loaded.manifest.name, target.name)
    if changed:
        return _target_error(
            target, config_hash,
            f"stale measurements: {', '.join(changed)} changed since {rel} was written "
            "(its recorded sha256 differs); run `dvc repro`", str(rel))
    # a team's plugin metrics (task tensor) are per-item means too, so their intervals resample items
    stats = {**get_task(loaded.manifest.task).item_statistics, **{k: (k, "mean") for k in loaded.tensor.metrics}}
    contradiction = inconsistency(doc, model=loaded.manifest.name, target=target.name,
                                  primary=loaded.manifest.eval.primary, item_statistics=stats)
    if contradiction:
        return _target_error(target, config_hash, f"{rel} contradicts itself: {contradiction}; its figures "
                             "are not what its stage measured (run `dvc repro` again)", str(rel))
    try:
        found = [collapse_note(target.name, doc), _quantization_note(target.name, doc)]
    except (KeyError, TypeError, ValueError) as exc:
        found = [f"{target.name}: unreadable prediction histogram or quantization record in {rel}: {exc!r}"]
    notes.extend(n for n in found if n is not None)
    # warnings the measure stage recorded (e.g. a baseline that does not stand for its source)
    notes.extend(n for n in doc.notes if n not in notes)
    results = [_rule_result(rule, doc, loaded.manifest.eval.primary, policy, stats) for rule in policy.policy.rules]
    _apply_waivers(results, target, loaded, today, notes)
    return TargetResult(
        target=target.name, target_id=target.target_id(), backend=target.backend,
        platform=target.platform, verdict=worst([r.verdict for r in results]), rules=results,
        measurements=str(rel), measurements_sha256=sha256_file(path), config_hash=config_hash,
        fingerprint=doc.fingerprint.model_dump(mode="json"), required=target.required,
        point=axis_values(results, doc, loaded.manifest.eval.primary),
    )


def _display_path(loaded: LoadedManifest) -> str:
    path = loaded.path.resolve()
    return str(path.relative_to(loaded.repo_root)) if path.is_relative_to(loaded.repo_root) else str(loaded.path)


def not_built(loaded: LoadedManifest, root: Path) -> dict[str, str]:
    """Search candidates (:mod:`gate.stages.search`) that the last search of these manifest
    bytes left unbuilt -> why (``budget spent``, ``<name> passed first``). They are left out of
    the decision instead of being ERROR for their missing measurements, except where that
    could hide something: a required target, one with measurements or a recorded failure,
    and every candidate of a platform none of whose candidates was built (with nothing
    measured, the platform is ERROR, never absent from the decision)."""
    from gate.stages.trail import unbuilt

    skipped = unbuilt(root, loaded)
    if not skipped:
        return {}
    m = loaded.manifest
    out: dict[str, str] = {}
    for t in m.targets:
        if t.name not in skipped or t.required:
            continue
        measured = (root / layout.measurements_file(m.name, t.name)).exists()
        if measured or read_failure(root, m.name, t.name, loaded.config_hash(t.name)):
            continue
        out[t.name] = skipped[t.name]
    built = {t.platform for t in m.targets if t.name not in out}
    return {name: why for name, why in out.items() if loaded.target(name).platform in built}


def decide(loaded: LoadedManifest, policy: LoadedPolicy, root: Path, today: dt.date | None = None) -> Decision:
    """Decide one manifest. Never raises for a target's problem: it becomes that target's ERROR."""
    today = today or dt.date.today()
    notes: list[str] = []
    if loaded.manifest.source.allow_pickle:
        notes.append("the manifest sets source.allow_pickle: the source checkpoint was unpickled in full, "
                     "which can run code; only trusted files should be loaded this way")
    skipped = not_built(loaded, root)
    for name, reason in skipped.items():
        notes.append(f"{name}: not built ({reason}); the search for its platform did not need or reach it")
    targets = [decide_target(loaded, policy, t, root, today, notes) for t in loaded.manifest.targets
               if t.name not in skipped]
    for t in targets:
        t.backend_choice = loaded.backend_choices.get(t.target)
    weights = loaded.manifest.selection.weights.model_dump()
    platforms = platform_results(targets, weights)
    verdict = worst([p.verdict for p in platforms])
    single = platforms[0] if len(platforms) == 1 else None
    mode = policy.policy.statistics.inconclusive
    exit_code = exit_code_for(verdict, mode)
    if verdict == Verdict.INCONCLUSIVE and mode != "block":
        notes.append(f"INCONCLUSIVE does not block under this policy (inconclusive: {mode})")
    return Decision(
        model=loaded.manifest.name, task=loaded.manifest.task,
        manifest=_display_path(loaded),
        manifest_sha256=loaded.sha256, source_sha256=loaded.source_sha256, eval_sha256=loaded.eval_sha256,
        policy=policy.policy.name, policy_path=str(policy.path),
        policy_sha256=policy.sha256, primary_metric=loaded.manifest.eval.primary, verdict=verdict,
        exit_code=int(exit_code), inconclusive_mode=mode,
        decided_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), targets=targets, notes=notes,
        platforms=platforms, frontier=sorted(n for p in platforms for n in p.frontier),
        recommendation=single.release if single else None,
        recommendation_reason=single.reason if single else "one release per platform (see platforms)",
        selection_weights=weights,
    )
