"""``-S`` overrides written into the manifest, so an experiment changes the source of truth.

``dvc exp run -S gate-params.yaml:KEY=VALUE`` edits the generated params file, which the
stages then refuse as stale (``plan-<model>`` stops first, before any output is removed).
``gate exp run -S`` takes the same ``[gate-params.yaml:]<model>.<key path>=<value>``, writes the
value into the manifest of ``<model>`` at that key path (``targets.<target name>.recipe.x``,
``measure.rounds``, ...), re-plans and then runs ``dvc exp run``. Only a value the manifest
already states is replaced, in place: the text of that one scalar changes and every comment
and line around it stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gate import layout
from gate.errors import ConfigError


@dataclass(frozen=True)
class Override:
    """One ``-S`` argument: model name, key path inside the manifest, the new value's text."""

    model: str
    keys: tuple[str, ...]
    value: str


def parse_override(text: str) -> Override:
    """Parse ``[gate-params.yaml:]<model>.<key>[.<key>...]=<value>``.

    Raises:
        ConfigError: no ``=``, another params file, or fewer than two keys.
    """
    spec, eq, value = text.partition("=")
    if not eq:
        raise ConfigError(f"-S {text!r}: expected [{layout.PARAMS_FILE}:]<model>.<key>=<value>")
    file, colon, path = spec.rpartition(":")
    if colon and file != str(layout.PARAMS_FILE):
        raise ConfigError(f"-S {text!r}: only {layout.PARAMS_FILE} keys can be set (the manifests' values)")
    keys = tuple(k for k in path.split("."))
    if len(keys) < 2 or not all(keys):
        raise ConfigError(f"-S {text!r}: the key must be <model>.<key path>, e.g. minilm.targets.ov-int8.recipe.preset")
    return Override(model=keys[0], keys=keys[1:], value=value.strip())


def _find(node: Any, keys: tuple[str, ...], shown: str) -> Any:
    for i, key in enumerate(keys):
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode):  # targets: by name, or by index
            items = [n for n in node.value if isinstance(n, yaml.MappingNode)]
            node = next((n for n in items if any(k.value == "name" and v.value == key for k, v in n.value)), None)
            if node is None and key.isdigit() and int(key) < len(items):
                node = items[int(key)]
        else:
            node = None
        if node is None:
            raise ConfigError(f"{shown}: {'.'.join(keys[: i + 1])} is not stated in the manifest",
                              hint="write the key into the manifest first; -S only replaces a stated value")
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(f"{shown}: {'.'.join(keys)} is a mapping or list, not one value")
    return node


def apply_override(manifest: Path, override: Override) -> str:
    """Replace the value at ``override.keys`` in ``manifest``'s text; returns the old text of
    the file (for restoring). The caller validates the result.

    Raises:
        ConfigError: the key is not stated in the manifest or is not a scalar.
    """
    text = manifest.read_text()
    node = _find(yaml.compose(text, Loader=yaml.SafeLoader), override.keys, str(manifest))
    start, end = node.start_mark.index, node.end_mark.index
    manifest.write_text(text[:start] + render_scalar(override.value, f"-S {'.'.join(override.keys)}") + text[end:])
    return text


def render_scalar(value: str, shown: str) -> str:
    """``value`` as one plain YAML scalar for the manifest's text: parsed as YAML and written
    back by the YAML emitter, so what lands in the file is exactly one value (no anchor,
    alias, tag, comment, second key or block that the raw text could smuggle in).

    Raises:
        ConfigError: ``value`` is not YAML or not a single scalar (a mapping or a list).
    """
    try:
        parsed = yaml.safe_load(value) if value else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"{shown}: {value!r} is not a YAML value ({str(exc).splitlines()[0]})") from None
    if isinstance(parsed, (dict, list)) or not isinstance(parsed, (str, int, float, bool, type(None))):
        raise ConfigError(f"{shown}: {value!r} is not one value (a mapping, list or other YAML structure)")
    rendered: str = yaml.safe_dump([parsed], default_flow_style=True, width=1 << 30).strip()
    return rendered[1:-1]  # the flow sequence's brackets
