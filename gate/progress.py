"""Progress for long stages: rich on a terminal, plain timestamped lines in CI logs."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


def _interactive() -> bool:
    return sys.stderr.isatty()


def log(message: str) -> None:
    """One progress line on stderr (stdout stays for results)."""
    if _interactive():
        from rich.console import Console

        Console(stderr=True, highlight=False).log(message)
    else:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"{stamp} gate: {message}", file=sys.stderr, flush=True)


@contextmanager
def step(title: str) -> Iterator[None]:
    """Log the start and the end (with its duration in seconds) of a long step."""
    t0 = time.perf_counter()
    if _interactive():
        from rich.console import Console

        console = Console(stderr=True, highlight=False)
        with console.status(f"{title} ..."):
            yield
        console.log(f"{title}: done in {time.perf_counter() - t0:.1f} s")
    else:
        log(f"{title} ...")
        yield
        log(f"{title}: done in {time.perf_counter() - t0:.1f} s")
