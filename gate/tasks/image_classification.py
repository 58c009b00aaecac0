"""ImageNet-1k image classification (e.g. MobileNetV2): inputs, the torch module, metrics.

Eval items are lines of a text file, each naming a real photo shipped inside an installed
package and how to derive an input from it (a square crop, a horizontal flip, then a resize
to 224 x 224)::

    # package  path-in-package  left  top  side  flip  labels
    skimage    data/chelsea.png 10    0    300   1     281,282,285

``labels`` are ImageNet-1k class indices that count as correct for that photo (``-`` where no
ImageNet class fits). Preprocessing follows torchvision's ImageNet recipe (RGB in [0, 1],
normalised with mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225):
https://pytorch.org/vision/stable/models.html), except that the crop is the item's own.

Metrics, each candidate against the baseline's logits on the same items:

* ``top1_agreement``: fraction of items whose top-1 class equals the baseline's;
* ``top1_accuracy``: fraction of labelled items whose top-1 class is one of their labels;
* ``logit_cosine_mean``: mean cosine of the logit vectors.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np

FEEDS = ("pixel_values",)
OUTPUT = "logits"
AXES: dict[str, dict[str, int]] = {"batch": {"pixel_values": 0}}
SIZE = 224
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
MAX_LABELS = 4


def read_items(path: Path) -> list[str]:
    """Item lines of an eval file (blank lines and ``#`` comments skipped)."""
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def item_labels(line: str) -> str:
    """The label field of an item line (``-`` when unlabelled), for the degenerate-set check."""
    return line.split()[-1]


def package_file(package: str, rel: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"package {package!r} (holding eval photos) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / rel


def derive(line: str) -> tuple[np.ndarray, list[int]]:
    """One item line to a uint8 image [224, 224, 3] and its label list.

    Raises:
        ValueError: a malformed line, or a crop outside the photo.
    """
    from PIL import Image

    parts = line.split()
    if len(parts) != 7:
        raise ValueError(f"eval item needs 7 fields (package path left top side flip labels): {line!r}")
    package, rel, left, top, side, flip, labels = parts
    x, y, s = int(left), int(top), int(side)
    with Image.open(package_file(package, rel)) as img:
        rgb = img.convert("RGB")
    if x < 0 or y < 0 or x + s > rgb.width or y + s > rgb.height:
        raise ValueError(f"crop {x},{y},{s} leaves the {rgb.width}x{rgb.height} photo: {line!r}")
    crop = rgb.crop((x, y, x + s, y + s))
    if flip == "1":
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    pixels = np.asarray(crop.resize((SIZE, SIZE), Image.Resampling.BILINEAR), dtype=np.uint8)
    return pixels, ([] if labels == "-" else [int(v) for v in labels.split(",")])


def normalise(pixels: np.ndarray) -> np.ndarray:
    """uint8 [n, 224, 224, 3] to float32 [n, 3, 224, 224], ImageNet-normalised."""
    x = (pixels.astype(np.float32) / 255.0 - MEAN) / STD
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def build_inputs(source: Path, items: list[str], batch_size: int, seq_len: int) -> dict[str, np.ndarray]:
    """Derive the eval images and the fixed latency input (``source``, ``seq_len`` unused).

    Returns ``eval.pixels`` uint8 [n, 224, 224, 3], ``eval.labels`` int64 [n, 4] (-1 padded)
    and ``latency.pixel_values`` float32 [batch_size, 3, 224, 224] (the first item, repeated).
    """
    pixels, labels = [], np.full((len(items), MAX_LABELS), -1, dtype=np.int64)
    for i, line in enumerate(items):
        img, lab = derive(line)
        pixels.append(img)
        labels[i, : len(lab)] = lab[:MAX_LABELS]
    stacked = np.stack(pixels)
    return {"eval.pixels": stacked, "eval.labels": labels,
            "latency.pixel_values": np.repeat(normalise(stacked[:1]), batch_size, axis=0)}


def latency_feeds(inputs: Any) -> dict[str, np.ndarray]:
    """The fixed latency input from a loaded ``inputs.npz``."""
    return {"pixel_values": inputs["latency.pixel_values"]}


class _Feeds(Sequence[dict[str, np.ndarray]]):
    """Batch-1 feed dicts normalised on access (200 float images would be 120 MB)."""

    def __init__(self, pixels: np.ndarray) -> None:
        self._pixels = pixels

    def __len__(self) -> int:
        return int(self._pixels.shape[0])

    @overload
    def __getitem__(self, i: int) -> dict[str, np.ndarray]: ...
    @overload
    def __getitem__(self, i: slice) -> _Feeds: ...

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return _Feeds(self._pixels[i])
        return {"pixel_values": normalise(self._pixels[i][None])}

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return (self[i] for i in range(len(self)))


def eval_feeds(inputs: Any) -> Sequence[dict[str, np.ndarray]]:
    """One batch-1 feed dict per eval item from a loaded ``inputs.npz``."""
    return _Feeds(np.asarray(inputs["eval.pixels"]))


def item_scores(reference: np.ndarray, outputs: np.ndarray, inputs: Any = None) -> dict[str, np.ndarray]:
    """Per-item values behind :func:`score`, for intervals over eval items: ``agree`` (1 when
    the top-1 classes match, [n_items]), ``cosine`` (logit cosine, [n_items]) and, with
    labels, ``correct`` (1 when the top-1 class is a label, [n_labelled_items])."""
    top_ref, top_out = reference.argmax(axis=1), outputs.argmax(axis=1)
    cos = np.sum(reference * outputs, axis=1) / (
        np.linalg.norm(reference, axis=1) * np.linalg.norm(outputs, axis=1))
    items = {"agree": (top_ref == top_out).astype(float), "cosine": cos}
    if inputs is not None:
        labels = np.asarray(inputs["eval.labels"])[: len(outputs)]
        known = labels[:, 0] >= 0
        items["correct"] = (labels[known] == top_out[known, None]).any(axis=1).astype(float)
    return items


def score(reference: np.ndarray, outputs: np.ndarray, inputs: Any = None) -> dict[str, float]:
    """Metrics of logits ``outputs`` against ``reference``, both [n_items, 1000]; labels from
    ``inputs`` (first n rows of ``eval.labels``) give ``top1_accuracy``.

    Raises:
        ValueError: shapes differ, non-finite logits, or labels asked for but none present.
    """
    if reference.shape != outputs.shape:
        raise ValueError(f"output shape {outputs.shape} differs from the baseline's {reference.shape}")
    if not (np.isfinite(reference).all() and np.isfinite(outputs).all()):
        raise ValueError("logits contain NaN or infinite values")
    top_ref, top_out = reference.argmax(axis=1), outputs.argmax(axis=1)
    cos = np.sum(reference * outputs, axis=1) / (
        np.linalg.norm(reference, axis=1) * np.linalg.norm(outputs, axis=1))
    result = {"top1_agreement": float(np.mean(top_ref == top_out)), "logit_cosine_mean": float(np.mean(cos))}
    if inputs is not None:
        labels = np.asarray(inputs["eval.labels"])[: len(outputs)]
        known = labels[:, 0] >= 0
        if not known.any():
            raise ValueError("no eval item has an ImageNet label: top1_accuracy is undefined")
        hits = (labels[known] == top_out[known, None]).any(axis=1)
        result["top1_accuracy"] = float(np.mean(hits))
    return result


def predictions(outputs: np.ndarray) -> list[int]:
    """The top-1 class of each item of logits ``outputs`` [n_items, n_classes]."""
    return [int(c) for c in outputs.argmax(axis=1)]


def per_item_fidelity(reference: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """1.0 where the top-1 class matches the reference, else 0.0; shape [n_items]."""
    return np.asarray(reference.argmax(axis=1) == outputs.argmax(axis=1), dtype=np.float64)


def export_spec(input_spec: dict[str, Any]) -> tuple[tuple[Any, ...], list[str], list[str], dict[str, dict[int, str]]]:
    """Dummy input [batch, 3, 224, 224], names, and a dynamic batch axis for ``torch.onnx.export``."""
    import torch

    dummy = (torch.zeros((input_spec["batch_size"], 3, SIZE, SIZE), dtype=torch.float32),)
    return dummy, list(FEEDS), [OUTPUT], {"pixel_values": {0: "batch"}, OUTPUT: {0: "batch"}}


def torch_module(source: Path, allow_pickle: bool = False) -> Any:
    """torchvision's MobileNetV2 (width 1.0, 1000 classes), defined here with torchvision's
    module layout so its ``state_dict`` keys load strictly (torchvision itself does not import
    beside this CPU torch). Architecture: Sandler et al. 2018, arXiv:1801.04381, Table 2.

    Raises:
        RuntimeError: the state_dict's keys or shapes do not match (``strict=True``).
    """
    import torch
    from torch import nn

    from gate.tasks.checkpoints import load_checkpoint

    def conv_bn(inp: int, out: int, k: int, stride: int, groups: int = 1) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(inp, out, k, stride, (k - 1) // 2, groups=groups, bias=False),
                             nn.BatchNorm2d(out), nn.ReLU6(inplace=True))

    class InvertedResidual(nn.Module):
        def __init__(self, inp: int, out: int, stride: int, expand: int) -> None:
            super().__init__()
            hidden = inp * expand
            self.use_res = stride == 1 and inp == out
            layers: list[nn.Module] = [conv_bn(inp, hidden, 1, 1)] if expand != 1 else []
            layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden),
                       nn.Conv2d(hidden, out, 1, 1, 0, bias=False), nn.BatchNorm2d(out)]
            self.conv = nn.Sequential(*layers)

        def forward(self, x: Any) -> Any:
            return x + self.conv(x) if self.use_res else self.conv(x)

    class MobileNetV2(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            features: list[nn.Module] = [conv_bn(3, 32, 3, 2)]
            inp = 32
            for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                               (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
                for i in range(n):
                    features.append(InvertedResidual(inp, c, s if i == 0 else 1, t))
                    inp = c
            features.append(conv_bn(inp, 1280, 1, 1))
            self.features = nn.Sequential(*features)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 1000))

        def forward(self, pixel_values: Any) -> Any:
            x = self.features(pixel_values)
            return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))

    model = MobileNetV2()
    model.load_state_dict(load_checkpoint(source, allow_pickle=allow_pickle), strict=True)
    return model.eval()


def _task() -> Any:
    from gate.tasks.torch_source import TorchSourceTask

    return TorchSourceTask(
        "image-classification", __name__,
        {"top1_agreement": "higher", "top1_accuracy": "higher", "logit_cosine_mean": "higher"},
        item_statistics={"top1_agreement": ("agree", "mean"), "top1_accuracy": ("correct", "mean"),
                         "logit_cosine_mean": ("cosine", "mean")},
        axes=("batch",), source_formats=("torch",),
    )


#: The registered task (:mod:`gate.tasks`).
TASK = _task()
