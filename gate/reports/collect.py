"""The decisions of a run, gathered for the CI formatters, and the check's conclusion.

Formatters (``junit``, ``sarif``, ``annotations``, ``summary``) read :class:`Reported` and
:class:`Finding` objects built here from ``decision.json``; they never recompute a verdict.
A manifest without a current decision (``gate decide`` did not run, stopped on bad input, or
left a decision for an older version of the manifest) is reported as an error, never skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gate import layout
from gate.config.schema import sha256_file
from gate.documents import Decision, Verdict, passes
from gate.errors import DocumentError, ExitCode, GateError

#: ``--fail-on`` levels: the least severe outcome that fails the check besides what the
#: policies block. ERROR and FAIL always do; see :func:`conclusion`.
FAIL_ON = ("fail", "inconclusive", "warn")
#: Finding kinds, worst first (GitHub shows only the first annotations of a step).
RANK = {"error": 0, "fail": 1, "inconclusive": 2, "waived": 3}
#: rule id of a finding about a whole platform (nothing ships there)
PLATFORM_RULE = "edge-gate/platform-blocked"


@dataclass
class Reported:
    """One manifest of the run: its decision and report, or why there is none."""

    manifest: str
    model: str
    decision: Decision | None = None
    markdown: str = ""
    problem: str | None = None
    target_lines: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def verdict(self) -> Verdict:
        return self.decision.verdict if self.decision else Verdict.ERROR


@dataclass(frozen=True)
class Finding:
    """A non-passing rule or target, located at the target's entry in the manifest."""

    kind: str  # a RANK key
    model: str
    target_id: str
    rule: str | None
    message: str
    file: str
    line: int
    column: int


def load_decision(path: Path) -> Decision:
    """Read a ``decision.json`` back into the :class:`Decision` model.

    Raises:
        DocumentError: missing, unreadable, or not a decision document.
    """
    return Decision.read(path)


def collect(paths: list[Path], root: Path) -> list[Reported]:
    """One :class:`Reported` per manifest path, read from ``build/gate/<model>/``."""
    from gate.config.yamlio import load_yaml

    out = []
    for path in paths:
        resolved = path.resolve()
        inside = resolved.is_relative_to(root.resolve())
        rel = resolved.relative_to(root.resolve()).as_posix() if inside else str(path)
        try:
            doc = load_yaml(path)
        except GateError as exc:
            out.append(Reported(rel, path.parent.name, problem=str(exc)))
            continue
        model = str(doc.data.get("name", path.parent.name))
        lines = {}
        for i, t in enumerate(doc.data.get("targets") or []):
            if isinstance(t, dict) and "name" in t:
                line, col = doc.marks.get(("targets", i), (1, 1))
                lines[str(t["name"])] = (line, col)
        rep = Reported(rel, model, target_lines=lines)
        decision_path = root / layout.decision_file(model)
        if not decision_path.is_file():
            rep.problem = f"no decision: {layout.decision_file(model)} was not written (see the decide step's log)"
        else:
            try:
                decision = load_decision(decision_path)
            except DocumentError as exc:
                rep.problem = str(exc)
                out.append(rep)
                continue
            if decision.manifest_sha256 != sha256_file(path):
                rep.problem = (f"no current decision: {layout.decision_file(model)} was made for another "
                               f"version of {rel}")
            else:
                rep.decision = decision
                report = root / layout.report_file(model)
                rep.markdown = report.read_text() if report.is_file() else ""
        out.append(rep)
    return out


def findings(reported: list[Reported]) -> list[Finding]:
    """Every non-passing rule and target of the run, and every platform where nothing ships
    (rule :data:`PLATFORM_RULE`, at the line of its first target), worst first, then in
    manifest order."""
    found = []
    for rep in reported:
        if rep.decision is None:
            found.append(Finding("error", rep.model, rep.model, None, rep.problem or "no decision",
                                 rep.manifest, 1, 1))
            continue
        for p in rep.decision.platforms:
            if passes(p.verdict):
                continue
            line, col = rep.target_lines.get(p.candidates[0], (1, 1)) if p.candidates else (1, 1)
            why = "; ".join(f"{n}: {t.why_not}" for n in p.candidates if (t := rep.decision.target(n)) is not None)
            found.append(Finding(p.verdict.value, rep.model, f"platform {p.platform}", PLATFORM_RULE,
                                 f"platform {p.platform} is blocked, {p.reason}. {why}", rep.manifest, line, col))
        for t in rep.decision.targets:
            line, col = rep.target_lines.get(t.target, (1, 1))
            if t.error:
                found.append(Finding("error", rep.model, t.target_id, None, t.error, rep.manifest, line, col))
            for r in t.rules:
                if r.verdict != Verdict.PASS:
                    found.append(Finding(r.verdict.value, rep.model, t.target_id, r.rule,
                                         f"{r.rule}: {r.reason}", rep.manifest, line, col))
    return sorted(found, key=lambda f: RANK[f.kind])  # stable: manifest order within a kind


def conclusion(reported: list[Reported], fail_on: str = "fail", decide_exit_code: int = 0) -> tuple[str, int]:
    """The check's ``(verdict, exit code)`` over all manifests.

    verdict is the worst decision verdict (``error`` for a manifest without a decision), or
    ``skipped`` when there was nothing to gate. The exit code starts from each decision's own
    :attr:`~gate.verdict.decision.Decision.exit_code` (the policy's ``inconclusive`` mode
    already applied there) and keeps the contract of :mod:`gate.errors`: 2 when ``gate decide``
    reported bad input, 3 for any error, 1 when a decision blocks. ``fail_on`` can only make
    the check stricter than the policies: ``inconclusive`` also blocks an INCONCLUSIVE decision
    that its policy lets through (``warn``, ``neutral``), ``warn`` also blocks one that passed
    only thanks to a waiver (a waived rule of a candidate that ships; an alternative that does
    not ship changes nothing), ``fail`` adds nothing. It never lets through what a committed
    policy blocks: the workflow file is not where a gate is loosened.
    """
    if fail_on not in FAIL_ON:
        raise ValueError(f"fail_on must be one of {FAIL_ON}, not {fail_on!r}")
    if decide_exit_code == ExitCode.BAD_INPUT:
        return "error", int(ExitCode.BAD_INPUT)
    if not reported:
        return "skipped", int(ExitCode.PASS)
    kinds = {f.kind for f in findings(reported)}
    verdicts = {rep.verdict for rep in reported}
    codes = {rep.decision.exit_code for rep in reported if rep.decision is not None}
    if ("error" in kinds or Verdict.ERROR in verdicts or decide_exit_code == ExitCode.ERROR
            or ExitCode.ERROR in codes):
        return "error", int(ExitCode.ERROR)
    blocked = ExitCode.BLOCKED in codes
    if Verdict.FAIL in verdicts:
        return "fail", int(ExitCode.BLOCKED)
    if Verdict.INCONCLUSIVE in verdicts:
        blocked = blocked or fail_on in ("inconclusive", "warn")
        return "inconclusive", int(ExitCode.BLOCKED if blocked else ExitCode.PASS)
    if any(_ships_waived(rep) for rep in reported):  # passes only thanks to a waiver: a warning
        blocked = blocked or fail_on == "warn"
        return "waived", int(ExitCode.BLOCKED if blocked else ExitCode.PASS)
    return "pass", int(ExitCode.BLOCKED if blocked else ExitCode.PASS)


def _ships_waived(rep: Reported) -> bool:
    """True when a candidate that ships (every target, for a decision without platforms)
    passed a rule only thanks to a waiver."""
    if rep.decision is None:
        return False
    shipped = [t for t in rep.decision.targets if t.ships] if rep.decision.platforms else rep.decision.targets
    return any(r.verdict == Verdict.WAIVED for t in shipped for r in t.rules)
