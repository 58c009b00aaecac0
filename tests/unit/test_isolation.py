"""Isolated steps: a crash, a hang, a memory hog or an exception each become a clean error."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.errors import BackendError
from gate.stages.isolation import Limits, run_isolated, signal_name

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _hostile_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(TESTS))


@pytest.mark.parametrize(
    ("function", "limits", "message"),
    [
        ("segfault", Limits(60, 4 << 30), r"crashed \(SIGSEGV\)"),
        ("hang", Limits(2, 4 << 30), "did not finish within its time limit of 2 s; it was killed"),
        ("allocate", Limits(60, 1 << 30), "over its limit of 1073741824 bytes; it was killed"),
        ("fail", Limits(60, 4 << 30), "RuntimeError: hostile backend raised on purpose"),
    ],
)
def test_misbehaving_steps_become_backend_errors(function: str, limits: Limits, message: str) -> None:
    with pytest.raises(BackendError, match=message) as info:
        run_isolated(f"hostile_backend:{function}", {}, limits, what="optimize x")
    assert str(info.value).startswith("optimize x")
    if function == "fail":
        assert "stderr (tail)" in str(info.value) and "Traceback" in str(info.value)


def test_result_comes_back() -> None:
    assert run_isolated("json:dumps", {"obj": [1, 2]}, Limits(60, 4 << 30), "dumps") == "[1, 2]"


def test_signal_names() -> None:
    assert signal_name(-11) == "SIGSEGV" and signal_name(-9) == "SIGKILL" and signal_name(3) == "exit status 3"


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("how", ["timeout", "sigterm"])
def test_the_whole_process_group_dies_with_the_step(tmp_path: Path, how: str) -> None:
    """A 200 MB grandchild survived a time kill and wrote files later before; and after
    SIGTERM the builder kept running."""
    import os
    import signal
    import threading
    import time

    pidfile, marker = tmp_path / "grandchild.pid", tmp_path / "late.txt"
    limits = Limits(2 if how == "timeout" else 60, 4 << 30)
    if how == "sigterm":
        def term_soon() -> None:
            while not pidfile.exists():
                time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGTERM)
        threading.Thread(target=term_soon, daemon=True).start()
    expected = "time limit of 2 s" if how == "timeout" else "received SIGTERM"
    with pytest.raises(BackendError, match=expected):
        run_isolated("hostile_backend:spawn_and_hang", {"pidfile": str(pidfile), "marker": str(marker)},
                     limits, what="optimize x")
    grandchild = int(pidfile.read_text())
    time.sleep(0.2)
    assert not _alive(grandchild)
    time.sleep(3.5)
    assert not marker.exists()
    assert signal.getsignal(signal.SIGTERM) is not None  # the previous handler is back
