"""Run one step of a backend in a fresh process with a time limit and a memory limit.

A backend that segfaults, is killed, hangs, eats memory or raises must cost only its own
target: the step runs as ``python -m gate.stages.isolation module:function`` with its keyword
arguments as JSON on stdin; its JSON result comes back on stdout. The parent polls the
child's resident memory (the child and its descendants, psutil) and kills it past
``memory_bytes``; it kills it past ``timeout_s``. Every failure becomes a
:class:`~gate.errors.BackendError` carrying the tail of the child's stderr.

The child leads its own process group, and every way the step ends kills that whole group
(:func:`run_isolated`), so descendants cannot outlive it.

The memory limit is a watchdog on RSS rather than ``RLIMIT_AS``: runtimes such as torch and
OpenVINO reserve far more address space than they touch, so an address-space limit would kill
healthy runs.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from gate.errors import BackendError, ConfigError, ExitCode, GateError

POLL_S = 0.05
STDERR_TAIL_BYTES = 4000


@dataclass(frozen=True)
class Limits:
    """Wall-clock seconds and resident bytes one isolated step may use."""

    timeout_s: float
    memory_bytes: int


def tree_rss_bytes(pid: int, *, children: bool = True) -> int:
    """Resident bytes of process ``pid`` and (with ``children``) all its descendants; 0 once
    it is gone."""
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)] if children else [proc]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def signal_name(returncode: int) -> str:
    """``SIGSEGV`` for -11, ``exit status 3`` for 3."""
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"


def tail(fh: Any, limit: int = STDERR_TAIL_BYTES) -> str:
    """The last ``limit`` bytes of an open binary file, decoded."""
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    fh.seek(max(0, size - limit))
    return str(fh.read().decode(errors="replace")).strip()


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group that ``proc`` leads (it and every descendant that did not
    start a session of its own), then reap ``proc``."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


class _Terminated(Exception):
    """The parent received SIGTERM while a child ran."""


def run_isolated(ref: str, kwargs: dict[str, Any], limits: Limits, what: str) -> Any:
    """Call ``module:function(**kwargs)`` in a fresh process and return its result.

    ``kwargs`` and the result must be JSON-serialisable. The child leads its own process
    group (``start_new_session``): a time or memory kill, a SIGTERM to this process (a CI
    job cancelled, ``dvc`` interrupted) and the end of the step all SIGKILL the whole group,
    so no grandchild (a converter's worker, a compiler) survives to write files later.

    Raises:
        BackendError: the child crashed (with the signal's name), was killed for time or
            memory, or raised; the message ends with the tail of its stderr. A
            :class:`~gate.errors.GateError` raised in the child keeps its message and exit code.
    """
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gate.stages.isolation", ref], stdin=subprocess.PIPE, stdout=out, stderr=err,
            start_new_session=True,
        )

        def on_term(signum: int, frame: Any) -> None:
            raise _Terminated()

        previous = None
        try:
            previous = signal.signal(signal.SIGTERM, on_term)
        except ValueError:  # not the main thread: the caller handles its own signals
            pass
        killed = None
        try:
            assert proc.stdin is not None  # requested with PIPE
            proc.stdin.write(json.dumps(kwargs).encode())
            proc.stdin.close()
            start, peak = time.monotonic(), 0
            while proc.poll() is None:
                rss = tree_rss_bytes(proc.pid)
                peak = max(peak, rss)
                if rss > limits.memory_bytes:
                    killed = f"used {rss} bytes of memory, over its limit of {limits.memory_bytes} bytes"
                elif time.monotonic() - start > limits.timeout_s:
                    killed = f"did not finish within its time limit of {limits.timeout_s:g} s"
                if killed:
                    break
                time.sleep(POLL_S)
        except _Terminated:
            killed = "was stopped: edge-gate received SIGTERM"
        finally:
            kill_group(proc)  # also the leftovers of a child that exited
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        stderr = tail(err)
        detail = f"\n--- stderr (tail) ---\n{stderr}" if stderr else ""
        if killed:
            raise BackendError(f"{what} {killed}; it was killed{detail}")
        out.seek(0)
        text = out.read().decode(errors="replace").strip()
        reply = json.loads(text.splitlines()[-1]) if text else {}
        if proc.returncode == 0 and "result" in reply:
            return reply["result"]
        if "error" in reply:
            if reply.get("exit_code") == ExitCode.BAD_INPUT:
                raise ConfigError(f"{what}: {reply['error']}")
            raise BackendError(f"{what} failed: {reply['error']}{detail}")
        raise BackendError(f"{what} crashed ({signal_name(proc.returncode)}){detail}")


def _child(ref: str) -> int:
    kwargs = json.loads(sys.stdin.read() or "{}")
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever the step prints goes to stderr; stdout carries the result
    module, _, name = ref.partition(":")
    try:
        result = getattr(importlib.import_module(module), name)(**kwargs)
    except GateError as exc:
        proto.write(json.dumps({"error": str(exc), "exit_code": int(exc.exit_code)}) + "\n")
        proto.flush()
        return int(exc.exit_code)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which makes it ERROR
        import traceback

        traceback.print_exc()
        proto.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        proto.flush()
        return 3
    proto.write(json.dumps({"result": result}) + "\n")
    proto.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
