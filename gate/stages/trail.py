"""The search trail, ``build/gate/<model>/search.json`` (written by :mod:`gate.stages.search`):
which candidates a search built, in which order, and which it left unbuilt and why.

Kept apart from the search itself so that the decision can read it without importing the
stage that runs searches (which imports the decision).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gate import layout
from gate.config.manifest import LoadedManifest

TRAIL = "search.json"


def trail_file(model: str) -> Path:
    """``build/gate/<model>/search.json``, beside ``decision.json``."""
    return layout.model_dir(model) / TRAIL

def read_trail(root: Path, loaded: LoadedManifest) -> dict[str, Any] | None:
    """The last search trail of ``loaded``'s model, if it was written for this manifest's bytes
    (else None: a trail of another manifest says nothing about this one). Reports and the
    decision use it to tell a candidate the search left unbuilt from one that failed to build."""
    import json

    path = root / trail_file(loaded.manifest.name)
    if not path.is_file():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except ValueError:
        return None
    return data if data.get("manifest_sha256") == loaded.sha256 else None


def unbuilt(root: Path, loaded: LoadedManifest) -> dict[str, str]:
    """Candidates the last search of this manifest left unbuilt -> why (``budget spent``,
    ``<name> passed first``); empty when there is no such trail."""
    trail = read_trail(root, loaded) or {"searches": []}
    return {c["target"]: c["reason"] for s in trail["searches"] for c in s["candidates"]
            if c.get("status") == "skipped"}
