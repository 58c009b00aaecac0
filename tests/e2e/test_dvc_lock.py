"""A DVC repository whose lock is held is an infrastructure error (exit 4), never a verdict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import make_runner

pytestmark = pytest.mark.e2e


def test_held_dvc_lock_exits_4_with_a_hint(tmp_path: Path) -> None:
    run = make_runner(tmp_path)
    run("git", "init", "-q")
    run("dvc", "init", "-q")
    (tmp_path / "dvc.yaml").write_text("stages:\n  s:\n    cmd: echo hi > out.txt\n    outs: [out.txt]\n")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time, zc.lockfile\n"
         "lock = zc.lockfile.LockFile('.dvc/tmp/lock'); print('held', flush=True); time.sleep(60)"],
        cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        proc = run("gate", "repro", check=False)
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: the DVC repository is locked")
    assert "remove .dvc/tmp/lock" in proc.stderr
    assert not (tmp_path / "out.txt").exists()
    # with the lock released the same command runs the stage
    assert run("gate", "repro").returncode == 0 and (tmp_path / "out.txt").read_text() == "hi\n"


def test_a_second_concurrent_repro_exits_4(tmp_path: Path) -> None:
    """While one `dvc repro` runs a stage, a second `gate repro` finds its outputs busy (the
    rwlock, not the repository lock): exit 4 before, it was exit 3."""
    import time

    run = make_runner(tmp_path)
    run("git", "init", "-q")
    run("dvc", "init", "-q")
    (tmp_path / "dvc.yaml").write_text("stages:\n  slow:\n    cmd: sleep 4 && echo done > out.txt\n    outs: [out.txt]\n")
    first = subprocess.Popen([str(Path(sys.executable).parent / "dvc"), "repro"], cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / ".dvc/tmp/rwlock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        second = run("gate", "repro", check=False)
    finally:
        first.wait(timeout=60)
    assert second.returncode == 4, second.stdout + second.stderr
    assert "the DVC repository is locked" in second.stderr
    assert (tmp_path / "out.txt").read_text() == "done\n"  # the first one finished its work
