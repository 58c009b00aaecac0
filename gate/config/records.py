"""JSONL eval data of task ``tensor``: one JSON object per line, one eval item each.

Without a plugin, an object's fields named like the model's inputs hold that item's array
(nested lists of numbers, without the batch axis), converted to the input's dtype, and the
field ``tensor.labels_key`` its label (an integer, a list of integers any of which is right,
or absent). With ``tensor.records.preprocess: module:attr`` (found beside the manifest or
installed), the team's function turns each object into ``{input name: array}`` (e.g. text ->
token ids with the team's tokenizer); the label field is still read from the object. Blank
lines are skipped; errors name ``file:line``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from gate.config.signature import Signature
from gate.errors import ConfigError


def _array(value: Any, name: str, dtype: str, where: str) -> np.ndarray:
    """``value`` as an array of the input's ``dtype``; a fraction for an integer input is refused
    (JSON has no dtypes, so numbers are converted, but never truncated)."""
    try:
        raw = np.asarray(value)
        if raw.dtype.kind == "f" and np.dtype(dtype).kind in "iub":
            raise ValueError(f"holds fractions ({raw.dtype}) for a {dtype} input")
        if raw.dtype.kind not in "iufb":
            raise ValueError(f"holds {raw.dtype} values, not numbers of one shape")
        return raw.astype(dtype)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"field {name!r} is not a {dtype} array: {exc}", location=where) from None


def read_jsonl(path: Path, sig: Signature, labels_key: str, plugin: Any,
               plugin_ref: str | None) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """The items of a JSONL file: arrays by input name [n_items, ...] and labels [n, k] or None.

    Raises:
        ConfigError (at ``file:line``): a line that is not a JSON object, a field that is not an
            array of the input's shape, or a failing plugin (with its message).
    """
    columns: dict[str, list[np.ndarray]] = {t.name: [] for t in sig.inputs}
    labels: list[list[int]] = []
    with path.open(encoding="utf-8") as fh:
        for line, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            where = f"{path}:{line}"
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"not JSON: {exc.msg} (column {exc.colno})", location=where) from None
            if not isinstance(record, dict):
                raise ConfigError("each line must be a JSON object", location=where)
            if plugin is not None:
                try:
                    fields = dict(plugin(record))
                except Exception as exc:  # noqa: BLE001 - a team's preprocessing: bad input, with its message
                    raise ConfigError(f"preprocessing plugin {plugin_ref} failed: {type(exc).__name__}: {exc}",
                                      location=where) from None
            else:
                extra = sorted(set(record) - set(columns) - {labels_key})
                if extra:
                    raise ConfigError(f"field {extra[0]!r} is not an input of the model (inputs: "
                                      f"{', '.join(columns)}; labels go under {labels_key!r})", location=where)
                fields = record
            for tsig in sig.inputs:
                if tsig.name not in fields:
                    raise ConfigError(f"no field for model input {tsig.name!r}", location=where)
                columns[tsig.name].append(_array(fields[tsig.name], tsig.name, tsig.dtype, where)[None])
            label = record.get(labels_key)
            if isinstance(label, bool) or not (label is None or isinstance(label, int) or (
                    isinstance(label, list) and label and all(isinstance(v, int) and not isinstance(v, bool)
                                                              for v in label))):
                raise ConfigError(f"label {label!r} is not a class index or a list of them", location=where)
            labels.append([] if label is None else [label] if isinstance(label, int) else list(label))
    if not labels:
        raise ConfigError(f"{path.name} holds no items", location=str(path))
    arrays = {}
    for name, parts in columns.items():
        shapes = {p.shape for p in parts}
        if len(shapes) != 1:
            raise ConfigError(f"field {name!r} differs in shape between items ({sorted(shapes)[:3]}); pad them "
                              f"to one shape", location=str(path))
        arrays[name] = np.concatenate(parts)
    if not any(labels):
        return arrays, None
    out = np.full((len(labels), max(len(v) for v in labels)), -1, dtype=np.int64)
    for i, v in enumerate(labels):
        out[i, : len(v)] = v
    return arrays, out
