"""Attack 5: concurrent promotions and an older commit replacing a newer champion.

Four clones of one repository, each with its own commit and a recorded passing candidate,
promote at once against one store: afterwards exactly one champion, and the promotion
history is one chain (each event replaced the champion of the event before it) that ends at
the aliases. Before the lock, two promotes both recorded ``previous: 1``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.registry.conftest import PASSING

pytestmark = pytest.mark.e2e
PROMOTERS = 4


def test_concurrent_promotes_leave_one_consistent_chain(new_repo, store_uri, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = new_repo("0")
    first.write_candidate(PASSING, scale=1.0)
    first.commit("leg 0")
    assert first.decide()["verdict"] == "pass"
    repos = [first.path]
    for i in range(1, PROMOTERS):
        path = tmp_path / f"clone-{i}"
        shutil.copytree(first.path, path, symlinks=True)
        first.run("git", "-C", str(path), "commit", "-q", "--allow-empty", "-m", f"sibling {i}")
        repos.append(path)
    env = {**os.environ, "MLFLOW_TRACKING_URI": store_uri,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for path in repos:  # recorded one after the other: versions 1..4
        subprocess.run(["gate", "record"], cwd=path, env=env, check=True, capture_output=True)
    procs = [subprocess.Popen(["gate", "promote"], cwd=p, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for p in repos]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-2000:]

    h = json.loads(first.gate("history", first.model, "--json").stdout)
    events = h["events"]
    assert len(events) == PROMOTERS and all(e["action"] == "promote" for e in events)
    assert events[0]["replaced"] is None
    for before, after in zip(events, events[1:], strict=False):
        assert after["replaced"] == before["champion"], events
    assert len({e["champion"] for e in events}) == PROMOTERS  # every version was champion once
    assert h["aliases"]["champion-x86-cpu"] == events[-1]["champion"]
    assert h["aliases"]["previous-x86-cpu"] == events[-1]["replaced"]
    names = [m.name for m in first.client().search_registered_models()]
    assert not [n for n in names if n.endswith(".promotion-lock")]  # released


@pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)
def test_an_older_commit_never_replaces_a_newer_champion(new_repo) -> None:  # type: ignore[no-untyped-def]
    repo = new_repo()
    repo.write_candidate(PASSING, scale=1.0)
    old = repo.commit("older")
    repo.decide()
    repo.gate("record")
    repo.run("git", "commit", "-q", "--allow-empty", "-m", "newer")
    repo.decide()
    repo.gate("record")
    assert json.loads(repo.gate("promote").stdout)["champion"] == "2"
    repo.run("git", "checkout", "-q", "-B", "main", old)  # main reset to the older commit
    repo.decide()
    refused = repo.gate("promote", check=False)
    assert refused.returncode == 1 and "comes from a newer commit" in refused.stderr
    assert f"{old[:12]} is an ancestor of" in refused.stderr
    moved = json.loads(repo.gate("promote", "--allow-older").stdout)
    assert (moved["champion"], moved["previous"]) == ("1", "2")
