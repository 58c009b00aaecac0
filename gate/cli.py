"""The `gate` command line: parse, dispatch to one command module, map errors to exit codes.

This is the one place where exceptions become messages and exit codes:
a :class:`~gate.errors.GateError` prints ``error: <message>`` on one line (control characters
shown escaped, :func:`~gate.reports.escaping.one_line`, so quoted input cannot start a workflow
command) and exits with its
code; anything unexpected is an internal error (exit 3), never a pass and never a "blocked".
Set ``GATE_DEBUG=1`` to see the traceback of an internal error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from gate import __version__
from gate.commands import COMMANDS
from gate.errors import ExitCode, GateError
from gate.reports.escaping import one_line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gate",
        description="edge-gate: measure optimized edge-AI models against their baseline and gate them by policy.",
        epilog="exit codes: 0 pass, 1 policy failed (blocked), 2 bad input, 3 error, 4 infrastructure unavailable",
    )
    parser.add_argument("--version", action="version", version=f"edge-gate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"gate.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one `gate` command and return its exit code (see :class:`gate.errors.ExitCode`)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    module = importlib.import_module(f"gate.commands.{args.command}")
    try:
        return int(module.run(args))
    except GateError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one top-level handler: an unexpected failure is exit 3
        if os.environ.get("GATE_DEBUG"):
            traceback.print_exc()
        print(f"internal error: {type(exc).__name__}: {one_line(exc)} (set GATE_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return int(ExitCode.ERROR)


if __name__ == "__main__":
    sys.exit(main())
