"""Task ``tensor``: any model with named inputs and outputs, fed from a team's own data.

Inputs come from ``eval.data`` (and ``eval.calibration``) as :mod:`gate.config.tensorspec`
describes, checked against the model's input signature by :mod:`gate.config.tensordata`. The
baseline stage stores them in ``inputs.npz``: ``eval.in.<input>`` [n_items, ...],
``calib.in.<input>``, ``latency.<input>`` (the first item repeated ``batch_size`` times),
``eval.labels`` int64 [n_items] (-1 unlabelled) when there are labels, and ``meta.logits``,
``meta.plugins`` (the manifest's plugin metrics), so scoring needs nothing but that file.

Metrics of the candidate's first output against the baseline's on the same items (each item's
output flattened; fidelity unless said otherwise):

* ``cosine_mean``: mean cosine similarity;
* ``max_abs_error``: largest absolute difference over all items (lower is better);
* ``snr_db``: mean of ``10 log10(sum ref^2 / sum (ref - out)^2)`` per item;
* ``psnr_db``: mean of ``20 log10(peak / rmse)`` per item, ``peak`` = the reference item's
  largest absolute value (the usual PSNR with the signal's own range as peak);
* ``top1_agreement`` (``tensor.output: logits``): the argmax over the last axis equals the
  baseline's;
* ``top1_accuracy`` (logits and labels): **accuracy**, the argmax equals the item's label, on
  labelled items only, paired per item between baseline and candidate.

SNR and PSNR of identical outputs are infinite; they are capped at :data:`DB_CAP` (float32
keeps ~24 bits, 144 dB), so a copy scores the cap instead of breaking the statistics.
Plugin metrics (``tensor.metrics``) return one score per item and are summarised by the mean;
a plugin that raises makes that target ERROR with its message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gate.config.tensorspec import BUILTIN_METRICS
from gate.errors import MeasurementError
from gate.tasks.protocol import Direction, InputContext, TaskBase

#: Ceiling of SNR and PSNR in dB (float32 has a 24-bit significand: 20 log10(2^24) ~ 144.5).
DB_CAP = 150.0
#: Eval items on which the baseline is compared with its source.
CONVERSION_CHECK_ITEMS = 32
AXES: dict[str, dict[str, int]] = {}


def build_inputs_for(loaded: Any) -> dict[str, np.ndarray]:
    """The arrays of ``inputs.npz`` (module docstring) from the manifest's data files.

    Raises:
        ConfigError: the data does not fit the model (see :mod:`gate.config.tensordata`).
    """
    from gate.config.tensordata import model_signature, read_tensor_data

    sig = model_signature(loaded)
    data = read_tensor_data(loaded, "data", sig)
    calib = read_tensor_data(loaded, "calibration", sig) if loaded.manifest.eval.calibration else data
    batch = loaded.manifest.input.batch_size
    arrays: dict[str, np.ndarray] = {}
    for name, arr in data.inputs.items():
        arrays[f"eval.in.{name}"] = arr
        arrays[f"latency.{name}"] = np.repeat(arr[:1], batch, axis=0)
    for name, arr in calib.inputs.items():
        arrays[f"calib.in.{name}"] = arr
    if data.labels is not None:
        arrays["eval.labels"] = data.labels
    arrays["meta.logits"] = np.array(loaded.tensor.output == "logits")
    arrays["meta.plugins"] = np.array(json.dumps({k: v.function for k, v in loaded.tensor.metrics.items()}))
    arrays["meta.factory"] = np.array(loaded.manifest.source.factory or "")
    # where a plugin beside the manifest is found, relative to the repository (stages run at its root)
    arrays["meta.folder"] = np.array(loaded.folder.resolve().relative_to(loaded.repo_root).as_posix())
    return arrays


def item_count(arrays: dict[str, np.ndarray]) -> int:
    """Eval items in :func:`build_inputs_for`'s arrays."""
    return int(next(v.shape[0] for k, v in arrays.items() if k.startswith("eval.in.")))


def _feeds(inputs: Any, prefix: str) -> list[dict[str, np.ndarray]]:
    names = [k for k in inputs.keys() if k.startswith(prefix)]
    arrays = {k.removeprefix(prefix): np.asarray(inputs[k]) for k in names}
    n = next(iter(arrays.values())).shape[0]
    return [{k: v[i:i + 1] for k, v in arrays.items()} for i in range(n)]


def eval_feeds(inputs: Any) -> Sequence[dict[str, np.ndarray]]:
    """One batch-1 feed dict per eval item from a loaded ``inputs.npz``."""
    return _feeds(inputs, "eval.in.")


def calibration_feeds(inputs: Any) -> Sequence[dict[str, np.ndarray]]:
    """One batch-1 feed dict per calibration item (``eval.calibration``, else the eval items)."""
    return _feeds(inputs, "calib.in.")


def latency_feeds(inputs: Any) -> dict[str, np.ndarray]:
    """The fixed latency input from a loaded ``inputs.npz``."""
    return {k.removeprefix("latency."): np.asarray(inputs[k]) for k in inputs.keys() if k.startswith("latency.")}


def _flat(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).reshape(a.shape[0], -1)


def _db(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 10 * np.log10(num / den)
    return np.where(den == 0, DB_CAP, np.minimum(np.nan_to_num(value, nan=-DB_CAP, posinf=DB_CAP), DB_CAP))


def item_scores(reference: np.ndarray, outputs: np.ndarray, inputs: Any = None) -> dict[str, np.ndarray]:
    """Per-item values behind :func:`score`: ``cosine``, ``abs_error`` (max per item), ``snr``,
    ``psnr`` ([n_items]); with class scores ``agree``; with labels ``correct``
    ([n_labelled_items]); one array per plugin metric under its name.

    Raises:
        ValueError: shapes differ or outputs are not finite.
        MeasurementError: a plugin metric failed or returned other than one score per item.
    """
    if reference.shape != outputs.shape:
        raise ValueError(f"output shape {outputs.shape} differs from the baseline's {reference.shape}")
    if not (np.isfinite(reference).all() and np.isfinite(outputs).all()):
        raise ValueError("outputs contain NaN or infinite values")
    a, b = _flat(reference), _flat(outputs)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cos = np.where(norms > 0, np.sum(a * b, axis=1) / np.where(norms > 0, norms, 1), 1.0)
    err = (a - b) ** 2
    peak = np.abs(a).max(axis=1) ** 2
    items = {"cosine": cos, "abs_error": np.abs(a - b).max(axis=1),
             "snr": _db(np.sum(a ** 2, axis=1), np.sum(err, axis=1)),
             "psnr": _db(peak, np.mean(err, axis=1))}
    if inputs is None:
        return items
    if "meta.logits" in inputs.keys() and bool(np.asarray(inputs["meta.logits"])):
        top_ref, top_out = reference.argmax(axis=-1).reshape(len(a), -1), outputs.argmax(axis=-1).reshape(len(a), -1)
        items["agree"] = (top_ref == top_out).all(axis=1).astype(float)
        if "eval.labels" in inputs.keys():
            labels = np.asarray(inputs["eval.labels"])[: len(a)].reshape(len(a), -1)  # [n, k]: any of k right
            known = labels[:, 0] >= 0
            items["correct"] = (labels[known] == top_out[known, :1]).any(axis=1).astype(float)
    folder = Path.cwd() / str(np.asarray(inputs["meta.folder"])) if "meta.folder" in inputs.keys() else None
    given: np.ndarray | None = None
    if "eval.labels" in inputs.keys():
        given = np.asarray(inputs["eval.labels"])[: len(a)].reshape(len(a), -1)
    for name, ref in _plugins(inputs).items():
        items[name] = _plugin_metric(name, ref, reference, outputs, folder, given)
    return items


def _plugins(inputs: Any) -> dict[str, str]:
    """The plugin metrics recorded in ``inputs.npz`` (name -> ``module:attr``)."""
    if inputs is None or "meta.plugins" not in inputs.keys():
        return {}
    found: dict[str, str] = json.loads(str(np.asarray(inputs["meta.plugins"])))
    return found


def _plugin_metric(name: str, ref: str, reference: np.ndarray, outputs: np.ndarray, folder: Path | None,
                   labels: np.ndarray | None) -> np.ndarray:
    """One plugin metric's per-item scores: ``function(reference, outputs)``, or with a
    ``labels`` parameter ``function(reference, outputs, labels=...)`` (int64 [n_items, k], -1
    unlabelled and padding; None without labels), so a team's labelled metric is accuracy."""
    import inspect

    from gate.config.tensordata import load_plugin
    from gate.errors import ConfigError

    try:
        fn = load_plugin(ref, f"tensor.metrics.{name}", folder)
        takes_labels = "labels" in inspect.signature(fn).parameters
        got = fn(reference, outputs, labels=labels) if takes_labels else fn(reference, outputs)
        values = np.asarray(got, dtype=np.float64)
    except ConfigError as exc:
        raise MeasurementError(f"metric plugin {name!r}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a team's code: any failure is this target's ERROR, with its message
        raise MeasurementError(f"metric plugin {name!r} ({ref}) failed: {type(exc).__name__}: {exc}") from None
    if values.shape != (reference.shape[0],) or not np.isfinite(values).all():
        raise MeasurementError(f"metric plugin {name!r} ({ref}) must return {reference.shape[0]} finite "
                               f"scores (one per item), got shape {list(values.shape)}")
    return values


#: metric -> (item score of :func:`item_scores`, statistic); plugins add ``name: (name, mean)``.
ITEM_STATISTICS = {"cosine_mean": ("cosine", "mean"), "max_abs_error": ("abs_error", "p100"),
                   "snr_db": ("snr", "mean"), "psnr_db": ("psnr", "mean"),
                   "top1_agreement": ("agree", "mean"), "top1_accuracy": ("correct", "mean")}


def score(reference: np.ndarray, outputs: np.ndarray, inputs: Any = None) -> dict[str, float]:
    """Metrics (module docstring) of ``outputs`` against ``reference``, both [n_items, ...].

    Raises:
        ValueError: see :func:`item_scores`; labels asked for but none present.
        MeasurementError: a plugin metric failed.
    """
    items = item_scores(reference, outputs, inputs)
    result = {}
    for metric, (key, stat) in ITEM_STATISTICS.items():
        if key in items and len(items[key]):
            values = items[key]
            result[metric] = float(np.mean(values) if stat == "mean" else np.percentile(values, float(stat[1:])))
    for name in _plugins(inputs):
        result[name] = float(np.mean(items[name]))
    return result


def per_item_fidelity(reference: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Per-item cosine of the outputs, [n_items] (NNCF's accuracy-aware validation)."""
    return item_scores(reference, outputs)["cosine"]


def _meta(ctx: Any) -> dict[str, Any]:
    if ctx.calibration_inputs is None:
        raise ValueError("a torch source of task tensor needs the baseline stage's inputs.npz")
    with np.load(ctx.calibration_inputs) as data:
        return {"factory": str(np.asarray(data["meta.factory"])),
                "folder": Path.cwd() / str(np.asarray(data["meta.folder"])),
                "latency": latency_feeds(data)}


def torch_module_for(source: Path, ctx: Any) -> Any:
    """The team's module (``source.factory``, called without arguments) with the weights file
    ``source`` loaded strictly (``torch.load(weights_only=True)`` unless ``allow_pickle``).

    Raises:
        ConfigError: the factory cannot be loaded, or the file is not a safe checkpoint.
        BackendError: the state_dict does not fit the module (missing or unexpected keys).
    """
    from gate.config.tensordata import load_plugin
    from gate.errors import BackendError
    from gate.tasks.checkpoints import load_checkpoint

    meta = _meta(ctx)
    module = load_plugin(meta["factory"], "source.factory", meta["folder"])()
    try:
        module.load_state_dict(load_checkpoint(source, allow_pickle=ctx.allow_pickle), strict=True)
    except RuntimeError as exc:
        raise BackendError(f"the weights do not fit {meta['factory']}: {str(exc)[:300]}") from None
    return module.eval()


def export_spec_for(ctx: Any) -> tuple[tuple[Any, ...], list[str], list[str], dict[str, dict[int, str]]]:
    """``torch.onnx.export`` arguments: the latency input (in ``tensor.inputs`` order) as the
    dummy, the declared input names, one output ``output``, and a dynamic batch axis."""
    import torch

    feeds = _meta(ctx)["latency"]
    names = list(feeds)
    axes = {n: {0: "batch"} for n in [*names, "output"]}
    return tuple(torch.from_numpy(np.asarray(feeds[n])) for n in names), names, ["output"], axes


def torch_reference(source: Path, ctx: InputContext) -> Any:
    """A function running the team's torch module (feeds -> first output as numpy)."""
    import torch

    from gate.backends.base import BuildContext

    build = BuildContext(task="tensor", input=dict(ctx.input), calibration_inputs=ctx.inputs,
                         allow_pickle=ctx.allow_pickle)
    module = torch_module_for(source, build)

    def run(feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        with torch.no_grad():
            return np.asarray(module(**{k: torch.from_numpy(np.asarray(v)) for k, v in feeds.items()}).numpy())

    return run


def onnx_reference(source: Path, threads: int) -> Any:
    """A function running the source ONNX file in ONNX Runtime (feeds -> first output): an
    ONNX source is its own reference."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(str(source), sess_options=opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return lambda feeds: session.run(None, {n: feeds[n] for n in names})[0]


def _loaded_from(ctx: Any) -> Any:
    """The manifest behind an :class:`~gate.tasks.protocol.InputContext`: ``ctx.manifest`` when
    the stage passes it, else loaded again from the file ``ctx.eval_location`` names."""
    loaded = getattr(ctx, "manifest", None)
    if loaded is not None:
        return loaded
    from gate.config.manifest import load_manifest

    if not ctx.eval_location:
        raise ValueError("task tensor needs the manifest (InputContext.manifest or eval_location)")
    return load_manifest(Path(ctx.eval_location.rsplit(":", 2)[0]))


class TensorTask(TaskBase):
    """The registered ``tensor`` task: the functions of this module behind the
    :class:`~gate.tasks.protocol.Task` protocol."""

    name = "tensor"
    module = __name__
    metrics: Mapping[str, Direction] = BUILTIN_METRICS
    item_statistics = ITEM_STATISTICS
    source_formats = ("onnx", "torch")  # torch: with source.factory and tensor.inputs
    settings_section = None  # the optional `tensor:` section is read from the manifest itself

    def read_items(self, path: Path) -> list[str] | None:
        return None  # arrays, not lines: checked against the model by gate.config.tensordata

    def build_inputs(self, ctx: InputContext) -> dict[str, np.ndarray]:
        return build_inputs_for(_loaded_from(ctx))

    def check_conversion(self, ctx: InputContext) -> dict[str, Any]:
        """The baseline against its source on the first :data:`CONVERSION_CHECK_ITEMS` eval
        items: an ONNX source run in ONNX Runtime (it is its own reference), a torch source as
        the team's module; cosine and the largest absolute difference of the flattened outputs."""
        if ctx.baseline is None or ctx.inputs is None:
            raise ValueError("check_conversion needs the built baseline and inputs")
        loaded = _loaded_from(ctx)
        if loaded.manifest.source.format == "onnx":
            source, reference = onnx_reference(ctx.source, ctx.threads), "the ONNX source in ONNX Runtime"
        else:
            source, reference = torch_reference(ctx.source, ctx), f"the torch module {loaded.manifest.source.factory}"
        session = ctx.open(ctx.baseline)
        with np.load(ctx.inputs) as data:
            feeds = eval_feeds(data)[:CONVERSION_CHECK_ITEMS]
        a = _flat(np.stack([source(f)[0] for f in feeds]))
        b = _flat(np.stack([np.asarray(session.run(f))[0] for f in feeds]))
        cos = item_scores(a, b)["cosine"]
        return {"items": len(feeds), "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
                "max_abs_diff": float(np.abs(a - b).max()), "reference": reference}

    def latency_feeds(self, inputs: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        return latency_feeds(inputs)

    def eval_feeds(self, inputs: Mapping[str, np.ndarray]) -> Sequence[Mapping[str, np.ndarray]]:
        return eval_feeds(inputs)

    def item_scores(self, reference: np.ndarray, outputs: np.ndarray,
                    inputs: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        return item_scores(reference, outputs, inputs)

    def score(self, reference: np.ndarray, outputs: np.ndarray,
              inputs: Mapping[str, np.ndarray] | None = None) -> dict[str, float]:
        return score(reference, outputs, inputs)

    def predictions(self, outputs: np.ndarray, inputs: Mapping[str, np.ndarray] | None = None) -> np.ndarray | None:
        if inputs is None or "meta.logits" not in inputs or not bool(np.asarray(inputs["meta.logits"])):
            return None
        return np.asarray(outputs.argmax(axis=-1).reshape(len(outputs), -1)[:, 0])


#: The registered task (:mod:`gate.tasks`).
TASK = TensorTask()
