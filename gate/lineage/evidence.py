"""The evidence chain: a decision is only recorded or promoted while the files it was made
from are still the files on disk.

``gate decide`` binds each target's verdict to the sha256 of its ``measurements.json``, which
in turn names the sha256 of every baseline and candidate file it measured, and binds the
decision to the manifest's and policy's sha256. :func:`verify_decision` walks that chain
again before ``gate record`` and ``gate promote`` touch MLflow and refuses at the first broken
link, naming it; then it decides again from the files and refuses when the verdicts differ
(``decision.json`` edited by hand, or a waiver expired since).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from gate import layout
from gate.config.manifest import LoadedManifest
from gate.config.policy import LoadedPolicy
from gate.config.schema import sha256_file
from gate.documents import ARTIFACT_FILE, Artifact, Decision, Measurements, TargetResult
from gate.errors import ConfigError, DocumentError, LineageError


class EvidenceError(LineageError):
    """A link of the evidence chain is broken: a file differs from what was decided (exit 3)."""


def _link(model: str, message: str) -> EvidenceError:
    return EvidenceError(f"evidence chain of {model} broken: {message}",
                         hint="run `dvc repro` and `gate decide` again; nothing was recorded or promoted")


def verify_target(root: Path, model: str, t: TargetResult, *, require_candidate: bool = False) -> Measurements:
    """Check one decided target's measurements, then the baseline and candidate files against
    the sha256 the measurements recorded. Returns the measurements.

    An artifact folder that is absent is skipped (a decide job in CI gathers the candidates but
    not the baseline; nothing is logged from a folder that is not there), unless
    ``require_candidate`` (the candidate about to be promoted); a folder that is present must
    hold exactly the measured files.

    Raises:
        EvidenceError: a file is missing or its sha256 differs (the message names the file
            and both hashes), or the measurements no longer fit their schema.
    """
    name = t.target
    rel = t.measurements
    if not rel:
        raise _link(model, f"target {name} has no measurements in decision.json")
    path = root / rel
    if not path.is_file():
        raise _link(model, f"{rel} is missing")
    now = sha256_file(path)
    if now != t.measurements_sha256:
        raise _link(model, f"{rel} changed after the decision (sha256 {now[:12]} now, "
                           f"{str(t.measurements_sha256)[:12]} decided)")
    try:
        doc = Measurements.read(path)
    except DocumentError as exc:
        raise _link(model, str(exc)) from None
    for role, folder in (("baseline", layout.baseline_dir(model)), ("candidate", layout.candidate_dir(model, name))):
        if not (root / folder).is_dir():
            if role == "candidate" and require_candidate:
                raise _link(model, f"the measured candidate folder {folder} is missing")
            continue
        recorded = doc.side(role).artifact
        for rec in recorded.files:
            file = root / folder / rec.path
            if not file.is_file():
                raise _link(model, f"the measured {role} file {folder / rec.path} is missing")
            got = sha256_file(file)
            if got != rec.sha256:
                raise _link(model, f"{folder / rec.path} is not the {role} that was measured (sha256 "
                                   f"{got[:12]} on disk, {rec.sha256[:12]} measured)")
        if (root / folder / ARTIFACT_FILE).is_file():
            try:
                described = Artifact.read(root / folder)
            except ConfigError as exc:
                raise _link(model, str(exc)) from None
            if described != recorded:
                raise _link(model, f"{folder / ARTIFACT_FILE} differs from the {role} artifact that was measured")
    return doc


def verify_decision(root: Path, loaded: LoadedManifest, policy: LoadedPolicy,
                    decision: Decision | Mapping[str, Any], *, promote: Collection[str] | str | None = None) -> None:
    """Walk the whole chain of ``decision`` (a :class:`gate.documents.Decision`, or
    ``decision.json``'s fields) and decide again.

    Checks, in order: the manifest, source model, eval data and policy sha256; every measured
    target's measurements and files (:func:`verify_target`; the candidates of the targets in
    ``promote`` must be present); then that deciding again from those files gives the same
    verdict for the decision, for every platform and for every target, and ships the same
    candidate on every platform.

    Raises:
        EvidenceError: the first broken link.
    """
    from gate.verdict.decision import decide

    model = loaded.manifest.name
    fields = decision.model_dump() if isinstance(decision, Decision) else dict(decision)
    for what, recorded, now in (("manifest", fields.get("manifest_sha256"), loaded.sha256),
                                ("source model", fields.get("source_sha256"), loaded.source_sha256),
                                ("eval data", fields.get("eval_sha256"), loaded.eval_sha256),
                                ("policy", fields.get("policy_sha256"), policy.sha256)):
        if recorded != now:
            raise _link(model, f"the decision was computed from {what} sha256 {str(recorded)[:12]}, "
                               f"the {what} file now has {now[:12]}")
    try:
        typed = decision if isinstance(decision, Decision) else Decision.model_validate(fields)
    except ValueError as exc:
        raise _link(model, f"decision.json does not fit the decision schema: {exc}") from None
    promoted = {promote} if isinstance(promote, str) else set(promote or ())
    for t in typed.targets:
        if t.error is None:
            verify_target(root, model, t, require_candidate=t.target in promoted)
    again = decide(loaded, policy, root)
    decided = {t.target: t.verdict.value for t in typed.targets}
    now_verdicts = {t.target: t.verdict.value for t in again.targets}
    if decided != now_verdicts or typed.verdict != again.verdict:
        why = {t.target: t.error or next((r.reason for r in t.rules if r.verdict.value != "pass"), "")
               for t in again.targets}
        diff = ", ".join(f"{k} {decided.get(k)} -> {now_verdicts.get(k)}{': ' + why[k] if why.get(k) else ''}"
                         for k in sorted(set(decided) | set(now_verdicts)) if decided.get(k) != now_verdicts.get(k))
        raise _link(model, f"deciding again from the files gives {again.verdict.value.upper()}, decision.json "
                           f"says {typed.verdict.value.upper()} ({diff or 'overall verdict'})")
    ships = {p.platform: p.release for p in typed.platforms}
    ships_now = {p.platform: p.release for p in again.platforms}
    if ships != ships_now:
        raise _link(model, f"deciding again ships {ships_now}, decision.json says {ships}")
