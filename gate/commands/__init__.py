"""One module per `gate` subcommand; each exposes ``add_parser`` and ``run(args) -> int``."""

COMMANDS = ("validate", "schema", "plan", "baseline", "optimize", "measure", "figures", "repro", "exp", "search",
            "decide", "record", "promote", "rollback", "history", "changed", "gather", "report", "comment")
