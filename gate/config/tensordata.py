"""Eval and calibration data of task ``tensor``, read and checked against the model's inputs.

:func:`read_tensor_data` opens ``eval.data`` (or ``eval.calibration``) in the forms
:mod:`gate.config.tensorspec` lists and checks it against the source's input signature
(:mod:`gate.config.signature`): every model input is given and nothing else (the labels key
aside), dtypes are equal (never cast), ranks are equal and fixed dimensions match, every array
has the same item count, the model takes one item at a time along its first dimension, labels
are integers that cover at least one item when a labelled metric is asked for. ``gate
validate`` runs it, so each mismatch is exit 2 at the manifest key (``file:line:column``) or
at the labels CSV's line, before anything is built.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from gate.config.signature import Signature, TensorSig, source_signature
from gate.errors import ConfigError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
#: Metrics that need labels, and metrics that need class scores (``tensor.output: logits``).
LABELLED = ("top1_accuracy",)
CLASS_SCORES = ("top1_agreement", "top1_accuracy")


@dataclass
class TensorData:
    """Items of one data file: ``inputs`` by model input name, each [n_items, ...]; ``labels``
    int64 [n_items] (-1 unlabelled) or None."""

    inputs: dict[str, np.ndarray]
    labels: np.ndarray | None

    @property
    def count(self) -> int:
        return int(next(iter(self.inputs.values())).shape[0])


def model_signature(loaded: Any) -> Signature:
    """The source's input signature: read from an ONNX file, or for a torch source declared in
    ``tensor.inputs`` (with ``source.factory`` building the module).

    Raises:
        ConfigError: a torch source without ``source.factory`` or ``tensor.inputs``, or
            another format (at ``source.format``).
    """
    src = loaded.manifest.source
    if src.format == "torch":
        if src.factory is None or not loaded.tensor.inputs:
            raise ConfigError("a torch source of task tensor needs source.factory (module:attr building the "
                              "module) and tensor.inputs (names, dtypes, shapes)", location=loaded.where("source"))
        find_plugin(src.factory, loaded.where("source", "factory"), loaded.folder)
        declared = loaded.tensor.inputs.items()
        return Signature(inputs=tuple(TensorSig(name, d.dtype, tuple(d.shape)) for name, d in declared), outputs=())
    sig = source_signature(src.format, loaded.source_path(), loaded.where("source", "path"))
    if sig is None:
        raise ConfigError(f"task tensor reads onnx sources, or torch with source.factory; not {src.format!r}",
                          location=loaded.where("source", "format"))
    return sig


def load_plugin(ref: str, where: str, folder: Path | None = None) -> Any:
    """The object ``module:attr`` names: an installed module, or one in ``folder`` (the
    manifest's, so a team's plugin can live beside its manifest).

    Raises:
        ConfigError (at ``where``): the module cannot be imported or lacks the attribute.
    """
    module, _, attr = ref.partition(":")
    added = folder is not None and str(folder) not in sys.path
    if added:
        sys.path.insert(0, str(folder))
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"plugin {ref!r} cannot be loaded: {exc}", location=where) from None
    finally:
        if added:
            sys.path.remove(str(folder))


def find_plugin(ref: str, where: str, folder: Path | None = None) -> None:
    """Check that the module of ``module:attr`` exists (in ``folder`` or installed) without
    importing it: ``gate validate`` runs no team code and imports no framework it may need.

    Raises:
        ConfigError (at ``where``): no such module.
    """
    module = ref.partition(":")[0]
    top = module.split(".")[0]
    local = folder is not None and ((folder / f"{top}.py").is_file() or (folder / top / "__init__.py").is_file())
    try:
        found = local or importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ConfigError(f"plugin {ref!r} cannot be loaded: no module {top!r} beside the manifest or installed",
                          location=where)


def _npz(path: Path, where: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):  # an .npy given a .npz name
                raise ConfigError(f"{path.name} is not an .npz archive", location=where)
            return {k: np.asarray(data[k]) for k in data.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ConfigError(f"{path.name} cannot be read as .npz arrays ({str(exc)[:160]})", location=where) from None


def _npy(path: Path, where: str) -> np.ndarray:
    try:
        return np.asarray(np.load(path, allow_pickle=False))
    except (OSError, ValueError, EOFError) as exc:
        raise ConfigError(f"{path.name} cannot be read as an .npy array ({str(exc)[:160]})", location=where) from None


def image_item(path: Path, spec: Any) -> np.ndarray:
    """One image file as the ``images`` preprocessing says: [3, H, W] (NCHW) or [H, W, 3], float32."""
    from PIL import Image

    with Image.open(path) as img:
        rgb = img.convert("RGB").resize((spec.size[1], spec.size[0]), Image.Resampling.BILINEAR)
    x = np.asarray(rgb, dtype=np.float32)
    if spec.channels == "BGR":
        x = x[..., ::-1]
    mean, std = np.asarray(spec.mean, dtype=np.float32), np.asarray(spec.std, dtype=np.float32)
    x = ((x * np.float32(spec.scale) - mean) / std).astype(np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1) if spec.layout == "NCHW" else x, dtype=np.float32)


def _labels_csv(path: Path, names: list[str]) -> np.ndarray:
    """Labels of ``names`` (image files) from a ``file,label`` CSV, int64 [n, k]: ``label`` is a
    class index, or several separated by ``;`` when any of them is right (a tabby is also a
    tiger cat); -1 pads, and marks a file without a row. Errors name the CSV's line."""
    labels: dict[str, list[int]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for line, row in enumerate(csv.reader(fh), start=1):
            if not row or row[0].startswith("#"):
                continue
            if line == 1 and row[:2] == ["file", "label"]:
                continue
            where = f"{path}:{line}"
            if len(row) != 2:
                raise ConfigError(f"a labels row is `file,label`, got {len(row)} fields", location=where)
            name, label = row[0].strip(), row[1].strip()
            if name not in names:
                raise ConfigError(f"file {name!r} is not in the image folder", location=where)
            if name in labels:
                raise ConfigError(f"file {name!r} is labelled twice", location=where)
            try:
                labels[name] = [int(v) for v in label.split(";")]
            except ValueError:
                raise ConfigError(f"label {label!r} of {name!r} is not an integer class index (or several "
                                  f"separated by ';')", location=where) from None
            if min(labels[name]) < 0:
                raise ConfigError(f"label {label!r} of {name!r} is negative", location=where)
    width = max([len(v) for v in labels.values()] + [1])
    out = np.full((len(names), width), -1, dtype=np.int64)
    for i, n in enumerate(names):
        out[i, : len(labels.get(n, []))] = labels.get(n, [])
    return out


def _images(loaded: Any, folder: Path, sig: Signature, key: str) -> TensorData:
    where = loaded.where("eval", key)
    spec = loaded.tensor.images
    if spec is None:
        raise ConfigError(f"eval {key} is a folder of images; the manifest needs `tensor.images` (size, "
                          f"mean, std, layout) to turn them into inputs", location=where)
    name = spec.input or (sig.inputs[0].name if len(sig.inputs) == 1 else None)
    if name is None or sig.input(name) is None:
        raise ConfigError(f"tensor.images.input must name one of the model's inputs ({', '.join(sig.input_names())})",
                          location=loaded.where("tensor", "images"))
    if len(sig.inputs) > 1:
        raise ConfigError(f"a folder of images feeds one input; the model has {len(sig.inputs)} "
                          f"({', '.join(sig.input_names())}): give an .npz", location=where)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ConfigError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder.name}/", location=where)
    plugin = None if spec.preprocess is None else load_plugin(
        spec.preprocess, loaded.where("tensor", "images", "preprocess"), loaded.folder)
    items = []
    for f in files:
        try:
            items.append(np.asarray(image_item(f, spec) if plugin is None else plugin(f)))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"image {f.name} cannot be prepared: {exc}", location=where) from None
        except Exception as exc:  # noqa: BLE001 - a team's preprocessing: its failure is bad input, with its message
            raise ConfigError(f"preprocessing plugin {spec.preprocess} failed on {f.name}: {type(exc).__name__}: "
                              f"{exc}", location=loaded.where("tensor", "images", "preprocess")) from None
    shapes = {a.shape for a in items}
    if len(shapes) != 1:
        raise ConfigError(f"prepared images differ in shape ({sorted(shapes)[:3]})", location=where)
    labels_path = loaded.eval_file("labels") if key == "data" else None
    labels = None if labels_path is None else _labels_csv(labels_path, [f.name for f in files])
    return TensorData({name: np.stack(items)}, labels)


def read_tensor_data(loaded: Any, key: Literal["data", "calibration"] = "data",
                     sig: Signature | None = None) -> TensorData:
    """The items of ``eval.<key>``, checked against the model's inputs (module docstring).

    Raises:
        ConfigError: at the manifest's ``eval.<key>`` (or the labels CSV's line) for every
            mismatch, naming the array key or input.
    """
    sig = sig or model_signature(loaded)
    path = loaded.eval_file(key)
    where = loaded.where("eval", key)
    labels_key = loaded.tensor.labels_key
    if key == "data" and loaded.manifest.eval.labels is not None and not path.is_dir():
        raise ConfigError(f"eval.labels (a labels CSV) goes with a folder of images; {path.name} carries its "
                          f"labels itself, under key {labels_key!r}", location=loaded.where("eval", "labels"))
    if path.is_dir():
        data = _images(loaded, path, sig, key)
    elif path.suffix == ".npy":
        if len(sig.inputs) != 1:
            raise ConfigError(f"an .npy feeds one input; the model has {len(sig.inputs)} "
                              f"({', '.join(sig.input_names())}): give an .npz keyed by input name", location=where)
        data = TensorData({sig.inputs[0].name: _npy(path, where)}, None)
    elif path.suffix == ".npz":
        arrays = _npz(path, where)
        labels = arrays.pop(labels_key, None)
        for k in arrays:
            if sig.input(k) is None:
                raise ConfigError(f"{path.name} key {k!r} is not an input of the model (inputs: "
                                  f"{', '.join(sig.input_names())}; labels go under {labels_key!r})", location=where)
        data = TensorData(arrays, labels)
    elif path.suffix == ".jsonl":
        from gate.config.records import read_jsonl

        ref = loaded.tensor.records.preprocess if loaded.tensor.records else None
        plugin = None if ref is None else load_plugin(ref, loaded.where("tensor", "records", "preprocess"),
                                                      loaded.folder)
        arrays, labels = read_jsonl(path, sig, labels_key, plugin, ref)
        data = TensorData(arrays, labels)
    else:
        raise ConfigError(f"eval {key} of task tensor is an .npz, an .npy, a .jsonl or a folder of images, "
                          f"not {path.name!r}", location=where)
    _check_against(sig, data, path.name, where)
    if data.labels is not None:
        _check_labels(data, path.name, labels_key, where)
    return data


def _check_against(sig: Signature, data: TensorData, shown: str, where: str) -> None:
    counts = set()
    for inp in sig.inputs:
        if inp.name not in data.inputs:
            raise ConfigError(f"{shown} gives no array for model input {inp.name!r} "
                              f"({inp.dtype} {inp.shape_text()})", location=where)
        _check_array(inp, data.inputs[inp.name], shown, where)
        counts.add(data.inputs[inp.name].shape[0])
    if len(counts) != 1:
        raise ConfigError(f"{shown}: inputs hold different item counts "
                          f"({', '.join(f'{k} {v.shape[0]}' for k, v in data.inputs.items())})", location=where)
    if data.count == 0:
        raise ConfigError(f"{shown} holds no items", location=where)


def _check_array(inp: TensorSig, array: np.ndarray, shown: str, where: str) -> None:
    if str(array.dtype) != inp.dtype:
        raise ConfigError(f"{shown} key {inp.name!r} is {array.dtype}, the model input is {inp.dtype}",
                          location=where)
    if array.ndim != len(inp.shape):
        raise ConfigError(f"{shown} key {inp.name!r} has shape {list(array.shape)} (items first); the model input "
                          f"is {inp.shape_text()}: each item must have its shape with the first "
                          f"dimension (batch) replaced by the item count", location=where)
    if isinstance(inp.shape[0], int) and inp.shape[0] != 1:
        raise ConfigError(f"model input {inp.name!r} has a fixed first dimension {inp.shape[0]}; the tensor "
                          f"task feeds one item at a time (batch 1)", location=where)
    for axis, (want, got) in enumerate(zip(inp.shape[1:], array.shape[1:], strict=True), start=1):
        if isinstance(want, int) and want != got:
            raise ConfigError(f"{shown} key {inp.name!r} has size {got} on axis {axis}, the model input "
                              f"{inp.shape_text()} fixes {want}", location=where)
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        bad = int(np.flatnonzero(~np.isfinite(array.reshape(array.shape[0], -1)).any(axis=1))[0])
        raise ConfigError(f"{shown} key {inp.name!r} holds NaN or infinite values (first at item {bad}); "
                          f"they measure nothing", location=where)


def _check_labels(data: TensorData, shown: str, labels_key: str, where: str) -> None:
    labels = data.labels
    assert labels is not None  # checked by the caller; narrows the type
    if labels.dtype.kind not in "iu" or labels.ndim not in (1, 2) or labels.shape[0] != data.count:
        raise ConfigError(f"{shown} key {labels_key!r} must be integers [n_items] or [n_items, k] (any of k "
                          f"right) for {data.count} items, got {labels.dtype} {list(labels.shape)}", location=where)
    if (labels < -1).any():
        raise ConfigError(f"{shown} key {labels_key!r} holds {int(labels.min())}; labels are class indices, "
                          f"-1 for unlabelled", location=where)
    data.labels = labels.astype(np.int64).reshape(data.count, -1)


def check_tensor_eval(loaded: Any, min_items: int, max_repeat_share: float) -> None:
    """Everything :func:`read_tensor_data` checks, for ``eval.data`` and ``eval.calibration``,
    plus the item count, repeats, label coverage and the metrics that need labels or class
    scores.

    Raises:
        ConfigError: at the manifest key (see :func:`read_tensor_data`).
    """
    m = loaded.manifest
    sig = model_signature(loaded)
    data = read_tensor_data(loaded, "data", sig)
    where = loaded.where("eval", "data")
    digests = [b"".join(np.ascontiguousarray(data.inputs[k][i]).tobytes() for k in sorted(data.inputs))
               for i in range(data.count)]
    distinct = len(set(digests))
    if data.count - distinct > max_repeat_share * data.count:
        raise ConfigError(f"eval set repeats items: {data.count - distinct} of {data.count} repeat an earlier "
                          f"one (at most {max_repeat_share:.0%})", location=where)
    if distinct < m.eval.min_items:
        raise ConfigError(f"eval set has {distinct} distinct items; the manifest asks for at least "
                          f"{m.eval.min_items}", location=where)
    asked = set(m.eval.metrics)
    if asked & set(CLASS_SCORES) and loaded.tensor.output != "logits":
        bad = sorted(asked & set(CLASS_SCORES))[0]
        raise ConfigError(f"metric {bad!r} needs class scores: set tensor.output: logits (the first output's "
                          f"last axis)", location=loaded.where("eval", "metrics"))
    labelled = 0 if data.labels is None else int((data.labels[:, 0] >= 0).sum())
    classes = sig.outputs[0].shape[-1] if sig.outputs and sig.outputs[0].shape else None
    if data.labels is not None and loaded.tensor.output == "logits" and isinstance(classes, int) \
            and int(data.labels.max()) >= classes:
        raise ConfigError(f"label {int(data.labels.max())} is not a class of the model: its output "
                          f"{sig.outputs[0].name!r} scores {classes} classes (0 to {classes - 1})", location=where)
    if asked & set(LABELLED) and labelled == 0:
        raise ConfigError("metric 'top1_accuracy' needs labels, and no eval item has one", location=where)
    if labelled and loaded.tensor.output == "logits" and m.eval.primary != "top1_accuracy":
        raise ConfigError(f"{labelled} eval items are labelled: the policy's accuracy must be the labelled "
                          f"task metric, eval.primary: top1_accuracy ({m.eval.primary!r} is agreement with the "
                          f"baseline; gate it by name as well)", location=loaded.where("eval", "primary"))
    if labelled > 1 and data.labels is not None:
        sets = {tuple(row) for row in data.labels[data.labels[:, 0] >= 0].tolist()}
        if len(sets) == 1:
            raise ConfigError(f"degenerate label set: all {labelled} labelled eval items have labels "
                              f"{sorted(v for v in next(iter(sets)) if v >= 0)}", location=where)
    if m.eval.calibration is not None:
        read_tensor_data(loaded, "calibration", sig)
    for name, plugin in loaded.tensor.metrics.items():
        find_plugin(plugin.function, loaded.where("tensor", "metrics", name, "function"), loaded.folder)
    batch = loaded.manifest.input.batch_size
    for inp in sig.inputs:
        if batch > 1 and isinstance(inp.shape[0], int):
            raise ConfigError(f"input.batch_size is {batch} but model input {inp.name!r} fixes batch "
                              f"{inp.shape[0]}", location=loaded.where("input", "batch_size"))
