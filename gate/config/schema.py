"""Shared machinery for the static configuration schemas (manifest, policy).

:func:`parse` validates a :class:`~gate.config.yamlio.Located` document against a pydantic class and
turns the first validation problem into a one-line :class:`~gate.errors.ConfigError` that names
``file:line:column`` and the offending key.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from gate.config.yamlio import Located
from gate.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Base of every configuration class: unknown keys are errors, no type coercion.

    ``strict=True`` makes ``"2.0"`` an error for a float field (no silent string-to-number
    conversion); an integer is still accepted where a float is expected.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


_YAML11_BOOLS = {"yes", "no", "on", "off", "y", "n"}


def _describe(err: Any) -> str:
    kind = err["type"]
    loc = [p for p in err["loc"] if not isinstance(p, str) or not p.startswith("function-")]
    key = ".".join(str(p) for p in loc) or "(top level)"
    if kind == "extra_forbidden":
        return f"unknown key {key!r}"
    if kind == "missing":
        return f"missing required key {key!r}"
    given = err.get("input")
    shown = f" (got {type(given).__name__} {given!r})" if not isinstance(given, dict | list) else ""
    msg = str(err["msg"]).removeprefix("Value error, ")
    if kind == "bool_type" and isinstance(given, str) and given.lower() in _YAML11_BOOLS:
        msg += f"; edge-gate reads YAML 1.2, where {given!r} is a string: write true or false"
    elif kind.endswith("_type") and isinstance(given, str):
        msg += "; write numbers and booleans as plain values (2.0, true), not as quoted strings"
    return f"{key}: {msg}{shown}"


def parse(doc: Located, model: type[M], *, prefix: tuple[str | int, ...] = (), data: Any = None) -> M:
    """Validate ``data`` (default: ``doc.data``) against ``model``.

    ``prefix`` is where ``data`` sits in ``doc``, so that problems are located in the file.

    Raises:
        ConfigError: with the location of the first problem and a one-line description.
    """
    if data is None:
        data = doc.data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = (*prefix, *(p for p in err["loc"] if not (isinstance(p, str) and "[" in p)))
        where = doc.where(tuple(loc))
        err = {**err, "loc": loc}
        raise ConfigError(_describe(err), location=where) from None


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_json(obj: Any) -> str:
    """Hex sha256 of a canonical JSON rendering (sorted keys, no spaces) of ``obj``."""
    import json

    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
