"""Folders shipped with edge-gate: ``templates/`` and ``policies/``.

In a source checkout (and an editable install) they sit beside the ``gate`` package; in a
wheel, ``pyproject.toml`` maps them into it as ``gate/templates`` and ``gate/policies``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # gate/


def shipped_dir(name: str) -> Path:
    """The shipped folder ``name`` ("templates" or "policies").

    Raises:
        FileNotFoundError: the installation lacks it (a broken install, not a user error).
    """
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"edge-gate is installed without its {name}/ folder")
