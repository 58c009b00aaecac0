"""The one exception hierarchy of edge-gate and the exit-code contract.

Every error the gate raises on purpose is a :class:`GateError`. Exactly one top-level handler
(:func:`gate.cli.main`) turns it into a one-line message and an exit code. The contract:

* 0: the policy passed;
* 1: the policy failed (the pull request is blocked);
* 2: usage error or invalid input (manifest, policy, model file);
* 3: internal error (a backend crashed, a stage did not report);
* 4: infrastructure unavailable (the DVC repository is locked by another or a dead process):
  nothing about the model is known, retry once the lock is cleared.

A crash must never look like a policy failure, and nothing may turn an error into a pass.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of every `gate` command."""

    PASS = 0
    BLOCKED = 1
    BAD_INPUT = 2
    ERROR = 3
    INFRASTRUCTURE = 4


class GateError(Exception):
    """Root of the errors the gate raises on purpose. Exit code 3 unless a subclass says."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} (hint: {self.hint})"


class ConfigError(GateError):
    """Invalid input: a manifest, policy, path or model file that cannot be used (exit 2).

    ``location`` is ``"file:line:column"`` when the problem has one.
    """

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, message: str, *, location: str | None = None, hint: str | None = None):
        super().__init__(message if location is None else f"{location}: {message}", hint=hint)
        self.location = location


class BackendError(GateError):
    """A backend failed to convert, quantize or load an artifact (exit 3)."""


class MeasurementError(GateError):
    """A measurement could not be taken or is not trustworthy (exit 3)."""


class DocumentError(GateError):
    """A document edge-gate wrote (measurements.json, decision.json) is missing, unreadable,
    or does not fit its schema (:mod:`gate.documents`; exit 3)."""


class InfrastructureError(GateError):
    """Something the gate runs on is unavailable, e.g. a held DVC lock (exit 4)."""

    exit_code = ExitCode.INFRASTRUCTURE


class LineageError(GateError):
    """Recording lineage or moving registry aliases failed (exit 3)."""


class PromotionRefused(GateError):
    """A promotion the rules forbid: the decision is not passing, or this is not the
    protected branch (exit 1, like a blocked pull request: nothing crashed)."""

    exit_code = ExitCode.BLOCKED
