"""A strict YAML loader that remembers where every value came from.

PyYAML's ``safe_load`` follows YAML 1.1: ``no`` and ``off`` become ``False``, a duplicate key
silently overwrites the first, and ``1e-3`` is a *string* while ``1.0e-3`` is a float. A gate
configuration must not be read differently from how its author meant it, so this loader:

* resolves plain scalars by the YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution):
  only ``true``/``false`` are booleans, ``1e-3`` is a float, ``yes``/``no``/``on``/``off`` stay
  strings (a field that wants a boolean then rejects them instead of guessing);
* rejects duplicate keys, tabs used for indentation, and non-string keys;
* returns a :class:`Located` document: the plain data plus a map from each value's path
  (a tuple of keys and list indexes) to its ``line:column`` (1-based), so that schema errors
  can point at the line that caused them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gate.errors import ConfigError

#: Files bigger than this are refused before parsing (a manifest or policy is a few KiB).
MAX_CONFIG_BYTES = 1 << 20

Path_ = tuple[str | int, ...]

_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$|^0o[0-7]+$|^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_INF_NAN = re.compile(r"^([-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$")


class _CoreSchemaLoader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader with YAML 1.2 core-schema implicit resolvers instead of YAML 1.1's.

    Aliases (``*name``) are refused while the document is composed, before anything is
    expanded: a few hundred bytes of nested aliases ("billion laughs") otherwise expand to
    gigabytes when the node graph is walked. Manifests and policies never need them.
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"alias *{event.anchor} refused: edge-gate files do not use YAML aliases "
                "(write the value out)", event.start_mark)
        return super().compose_node(parent, index)


_CoreSchemaLoader.yaml_implicit_resolvers = {}
_CoreSchemaLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_CoreSchemaLoader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
_CoreSchemaLoader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
_CoreSchemaLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", _FLOAT, list("-+.0123456789")
)
_CoreSchemaLoader.add_implicit_resolver("tag:yaml.org,2002:float", _INF_NAN, list("-+."))


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    return int(text, 0) if text.startswith("0x") else int(text)


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).lower()
    if text.endswith("inf"):
        return float("-inf") if text.startswith("-") else float("inf")
    return float("nan") if text.endswith("nan") else float(text)


_CoreSchemaLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_CoreSchemaLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)


@dataclass
class Located:
    """A parsed YAML document and the ``(line, column)`` of every value in it."""

    path: Path
    data: Any
    marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def where(self, loc: Path_) -> str:
        """``file:line:column`` of the value at ``loc``, or of its nearest located parent."""
        for cut in range(len(loc), -1, -1):
            mark = self.marks.get(tuple(loc[:cut]))
            if mark is not None:
                return f"{self.path}:{mark[0]}:{mark[1]}"
        return f"{self.path}:1:1"


def _walk(loader: _CoreSchemaLoader, node: yaml.Node, here: Path_, doc: Located, src: str) -> Any:
    doc.marks[here] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            where = f"{src}:{key_node.start_mark.line + 1}:{key_node.start_mark.column + 1}"
            if key_node.tag == "tag:yaml.org,2002:merge" or (
                isinstance(key_node, yaml.ScalarNode) and key_node.value == "<<" and not key_node.style
            ):
                raise ConfigError("YAML merge keys (<<) are not supported", location=where)
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise ConfigError(f"key {key!r} must be a string", location=where)
            if key in out:
                first = doc.marks[(*here, key)]
                raise ConfigError(
                    f"duplicate key {key!r} (first defined at line {first[0]})", location=where
                )
            doc.marks[(*here, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _walk(loader, value_node, (*here, key), doc, src)
            # the key's own position is the better pointer for "this field is wrong"
            doc.marks[(*here, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(loader, item, (*here, i), doc, src) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load_yaml(path: Path) -> Located:
    """Parse one YAML file strictly.

    Returns a :class:`Located` whose ``data`` is a dict (the document's top level).

    Raises:
        ConfigError: the file is missing, empty, not UTF-8, larger than
            :data:`MAX_CONFIG_BYTES`, not valid YAML, holds more than one document, has
            duplicate keys or tab indentation, holds a character YAML does not allow (NUL),
            nests too deeply for the parser, or its top level is not a mapping. The message
            starts with ``file:line:column``.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ConfigError("file not found", location=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", location=str(path)) from None
    if not path.is_file():
        raise ConfigError("not a regular file", location=str(path))
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"file is {size} bytes; the limit is {MAX_CONFIG_BYTES}", location=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text ({exc.reason})", location=str(path)) from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip(" ")
        if stripped.startswith("\t"):
            raise ConfigError(
                "tab used for indentation; YAML indents with spaces",
                location=f"{path}:{lineno}:{len(line) - len(stripped) + 1}",
            )
    doc = Located(path=path, data=None)
    try:
        loader = _CoreSchemaLoader(text)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, other controls)
        lineno = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise ConfigError(f"invalid YAML: character U+{code:04X} is not allowed in YAML text",
                          location=f"{path}:{lineno}:{column}") from None
    try:
        root = loader.get_single_node()
        if root is None:
            raise ConfigError("file is empty", location=f"{path}:1:1")
        doc.data = _walk(loader, root, (), doc, str(path))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"invalid YAML: {problem}", location=where) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", location=str(path)) from None
    except RecursionError:
        raise ConfigError("invalid YAML: nested too deeply to read", location=str(path)) from None
    finally:
        loader.dispose()
    if not isinstance(doc.data, dict):
        raise ConfigError("top level must be a mapping of keys to values", location=f"{path}:1:1")
    return doc
