"""The manifest's ``tensor:`` section: how task ``tensor`` feeds a model with named inputs and
reads its outputs (schema only; the files are read by :mod:`gate.config.tensordata`).

Eval and calibration data come as

* an ``.npz``: one array per model input, keyed by the input's name, items along axis 0
  (item ``i`` is fed as ``array[i:i+1]``, so the model's first dimension is the batch); an
  integer array under ``labels_key`` (-1: unlabelled) holds the items' labels, if any;
* an ``.npy``: the one input of a single-input model, items along axis 0;
* a folder of images (``.png``, ``.jpg``, ``.jpeg``, ``.bmp``) feeding one input, each image
  decoded to RGB, resized to ``images.size`` (bilinear), scaled, normalised with
  ``images.mean`` / ``images.std`` per channel and laid out ``NCHW`` or ``NHWC``; labels from
  the CSV ``eval.labels`` (``file,label`` rows). ``images.preprocess: module:attr`` replaces
  these steps with a team's own function (a path in, one item's array out, without the batch
  axis).

``output: logits`` says the model's first output is class scores along its last axis, which
makes ``top1_agreement`` and ``top1_accuracy`` meaningful; ``values`` (the default) is any
tensor (an embedding, a probability map), scored by cosine, error and SNR only.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from gate.config.schema import Strict

#: The task's own metrics and which direction is better (:mod:`gate.tasks.tensor` computes them).
BUILTIN_METRICS: dict[str, Literal["higher", "lower"]] = {
    "cosine_mean": "higher", "max_abs_error": "lower", "snr_db": "higher", "psnr_db": "higher",
    "top1_agreement": "higher", "top1_accuracy": "higher"}

#: ``module:attribute`` (a Python import path and an attribute of that module).
PluginRef = Annotated[str, StringConstraints(
    pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")]


class ImageInputs(Strict):
    """How a folder of images becomes one model input (torchvision's convention by default:
    RGB scaled to [0, 1] by ``scale`` 1/255, then ``(x - mean) / std`` per channel)."""

    input: str | None = Field(default=None, description="the model input fed (default: its only input)")
    size: list[Annotated[int, Field(ge=1, le=8192)]] = Field(min_length=2, max_length=2,
                                                             description="[height, width] after resizing")
    mean: list[float] = Field(default_factory=lambda: [0.0, 0.0, 0.0], min_length=3, max_length=3)
    std: list[Annotated[float, Field(gt=0)]] = Field(default_factory=lambda: [1.0, 1.0, 1.0],
                                                     min_length=3, max_length=3)
    scale: float = Field(default=1 / 255, gt=0)
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    channels: Literal["RGB", "BGR"] = "RGB"
    preprocess: PluginRef | None = Field(default=None, description="module:attr replacing the steps above")


class InputDecl(Strict):
    """A model input declared in the manifest, for a source whose file declares none (a torch
    state_dict): numpy dtype name and shape, a dimension an ``int`` when fixed, a name when
    dynamic (the first is the batch)."""

    dtype: Literal["float32", "float16", "int64", "int32", "uint8", "bool"]
    shape: list[Annotated[int, Field(ge=1)] | Annotated[str, StringConstraints(min_length=1)]] = Field(min_length=1)


class RecordInputs(Strict):
    """How JSONL records become inputs: ``preprocess`` (``module:attr``) maps one record (a
    dict) to ``{input name: array}`` without the batch axis, e.g. text to token ids."""

    preprocess: PluginRef


class MetricPlugin(Strict):
    """A team's own fidelity metric: ``function(reference, outputs) -> per-item scores``
    (both arrays [n_items, ...], the result [n_items]), summarised by its mean. ``better``
    says which direction is good, so a policy can gate on it by name."""

    function: PluginRef
    better: Literal["higher", "lower"] = "higher"


class TensorSpec(Strict):
    """Task ``tensor``: what the outputs are, where labels are, how images are prepared, and
    any metrics a team adds (see the module docstring)."""

    output: Literal["logits", "values"] = "values"
    inputs: dict[str, InputDecl] = Field(default_factory=dict, description="for a torch source only")
    labels_key: Annotated[str, StringConstraints(min_length=1)] = "labels"
    images: ImageInputs | None = None
    records: RecordInputs | None = None
    metrics: dict[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")], MetricPlugin] = Field(
        default_factory=dict)

    @model_validator(mode="after")
    def _no_shadowing(self) -> TensorSpec:
        clash = sorted(set(self.metrics) & set(BUILTIN_METRICS))
        if clash:
            raise ValueError(f"plugin metric {clash[0]!r} has the name of a built-in metric")
        return self
