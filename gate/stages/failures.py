"""A stage's failure, kept beside its outputs so the decision can show why a target failed.

When a stage of a target fails (a crash, a kill for time or memory, an exception), it writes
``build/gate/<model>/targets/<target>/error.json`` with the stage, the target's config hash,
the message and the tail of the stderr, then exits non-zero. The file is not a DVC output, so
it survives DVC's clean-up of a failed stage; a stage that succeeds removes it. ``gate
decide`` turns a failure that matches the current config into ERROR for that target.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from gate import layout
from gate.backends.base import write_json_atomic

FILE = "error.json"


def failure_path(root: Path, model: str, target: str) -> Path:
    return root / layout.target_dir(model, target) / FILE


def record_failure(root: Path, model: str, target: str, *, stage: str, config_hash: str, message: str) -> None:
    """Write the failure of ``stage`` for one target (atomically)."""
    write_json_atomic(failure_path(root, model, target), {
        "stage": stage, "config_hash": config_hash, "message": message,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    })


def clear_failure(root: Path, model: str, target: str) -> None:
    failure_path(root, model, target).unlink(missing_ok=True)


def read_failure(root: Path, model: str, target: str, config_hash: str) -> dict[str, Any] | None:
    """The recorded failure of this target for ``config_hash``, if any (others are stale)."""
    path = failure_path(root, model, target)
    if not path.is_file():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except ValueError:
        return {"stage": "unknown", "message": f"unreadable failure record {path}"}
    return data if data.get("config_hash") == config_hash else None
