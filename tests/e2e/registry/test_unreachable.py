"""An MLflow server that is down, or accepts connections and never answers, is exit 4 (the
infrastructure is unavailable) within 30 s, not exit 3 after minutes (249 s and 742 s seen)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.registry.conftest import PASSING, make_repo

pytestmark = pytest.mark.e2e


def _listening_but_silent() -> tuple[socket.socket, int]:
    """A socket that accepts connections and reads but never writes a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    return server, server.getsockname()[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("kind", ["down", "silent"])
def test_an_unavailable_server_is_exit_4_within_30_s(tmp_path: Path, kind: str) -> None:
    silent = None
    if kind == "down":
        uri = f"http://127.0.0.1:{_free_port()}"
    else:
        silent, port = _listening_but_silent()
        uri = f"http://127.0.0.1:{port}"
    try:
        repo = make_repo(tmp_path / "repo", f"unreachable-{kind}", uri)
        repo.write_candidate(PASSING, scale=1.0)
        repo.commit("candidate")
        assert repo.decide()["verdict"] == "pass"
        commands = [("record",), ("promote",), ("history", repo.model)] if kind == "down" else [("record",)]
        for command in commands:  # a silent server costs ~21 s a command: one is enough
            start = time.monotonic()
            result = repo.gate(*command, check=False)
            took = time.monotonic() - start
            assert result.returncode == 4, (command, result.stderr)
            assert took < 30, (command, took)
            print(f"{kind}: gate {' '.join(command)} exit 4 after {took:.1f} s")
            assert "MLflow" in result.stderr and "Traceback" not in result.stderr
    finally:
        if silent is not None:
            silent.close()
