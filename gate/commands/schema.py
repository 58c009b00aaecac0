"""``gate schema {manifest,policy}``: print the JSON Schema for editors and CI linters."""

from __future__ import annotations

import argparse
import json

from gate.errors import ExitCode


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("schema", help="print the JSON Schema of the manifest or the policy")
    p.add_argument("kind", choices=("manifest", "policy"))


def run(args: argparse.Namespace) -> int:
    if args.kind == "manifest":
        from gate.config.manifest import Manifest as model
    else:
        from gate.config.policy import Policy as model  # type: ignore[assignment]
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    if args.kind == "manifest":
        from gate.backends import available, get_backend

        schema["$defs"]["Target"]["allOf"] = [
            {
                "if": {"properties": {"backend": {"const": name}}},
                "then": {"properties": {"recipe": get_backend(name).recipe_model.model_json_schema()}},
            }
            for name in available()
        ]
    print(json.dumps(schema, indent=2))
    return ExitCode.PASS
