"""Shared machinery for the static configuration schemas (manifest, policy).

:func:`parse` validates a :class:`~gate.config.yamlio.Located` document against a pydantic class and
turns the first validation problem into a one-line :class:`~gate.errors.ConfigError` that names
``file:line:column`` and the offending key.
"""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from gate.config.yamlio import Located
from gate.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Base of every configuration class: unknown keys are errors, no type coercion.

    ``strict=True`` makes ``"2.0"`` an error for a float field (no silent string-to-number
    conversion); an integer is still accepted where a float is expected. ``allow_inf_nan=False``
    refuses ``.inf``, ``-.inf`` and ``.nan`` in every float: an infinite bound gates nothing and
    NaN makes every comparison false, so a rule bounded by it could never be decided.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


#: A document's format version: the integer 1, not ``1.0``, ``true`` or ``"1"``.
Version = Annotated[int, Field(strict=True, ge=1, le=1)]


def _printable(value: str) -> str:
    """Refuse text that is blank, has control or format characters, or no letter or digit.

    Waiver owners and reasons are printed in terminals, workflow commands, XML and markdown;
    a newline there could start a GitHub workflow command (``::add-mask::``), and an owner made
    of spaces or zero-width characters names nobody.
    """
    text = value.strip()
    # C*: control, format (e.g. U+202E, right-to-left override), unassigned; Zl/Zp: U+2028 and
    # U+2029, which end a line in editors, browsers and JavaScript renderers of the report
    bad = next((ch for ch in text if unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp")),
               None)
    if bad is not None:
        raise ValueError(f"must be one line of printable text, found {unicodedata.name(bad, hex(ord(bad)))}"
                         f" (U+{ord(bad):04X})")
    if not any(ch.isalnum() for ch in text):
        raise ValueError("must name something: it has no letter or digit")
    return text


#: One line of printable text with at least one letter or digit, surrounding blanks removed.
Printable = Annotated[str, AfterValidator(_printable)]


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


_TREE_CACHE: dict[tuple[str, int, int, int, int], str] = {}


def sha256_tree(path: Path) -> str:
    """Hex sha256 of a file, or of a folder: of the sorted ``relative path NUL sha256`` lines
    of every file below it (symlinks followed). ``__pycache__`` folders are skipped.

    Hashes are cached per process by (path, size, mtime_ns, ctime_ns, inode) of each file
    last changed more than :data:`RACY_S` ago, so planning 100 manifests that share one
    source reads it once.
    """
    if path.is_file():
        return _cached_file_hash(path)
    h = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(f"{file.relative_to(path).as_posix()}\0{_cached_file_hash(file)}\n".encode())
    return h.hexdigest()


#: A file modified less than this many seconds ago is hashed again on every call, never
#: served from the cache: file timestamps are coarse (a few ms), so two writes of the same
#: size inside one tick keep the same (size, mtime) key. This is git's "racily clean" rule
#: (Documentation/technical/racy-git.txt): a stat key proves nothing about a file written
#: as recently as the timestamp's resolution.
RACY_S = 2.0


def _cached_file_hash(path: Path) -> str:
    import time

    st = path.stat()
    if time.time() - st.st_mtime < RACY_S or time.time() - st.st_ctime < RACY_S:
        return sha256_file(path)
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if key not in _TREE_CACHE:
        _TREE_CACHE[key] = sha256_file(path)
    return _TREE_CACHE[key]


def sha256_json(obj: Any) -> str:
    """Hex sha256 of a canonical JSON rendering (sorted keys, no spaces) of ``obj``."""
    import json

    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
