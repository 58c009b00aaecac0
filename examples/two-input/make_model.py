"""Build the two-input example model with the ``onnx`` helper API (no framework, no download).

A small classifier of noisy sensor windows: input ``sensor.window`` float32 [batch, 64] and
input ``device-state`` int64 [batch, 4] (deliberately not ``input_ids`` / ``pixel_values``),
output ``class_scores`` float32 [batch, 10] (logits). The data follow a known rule
(:func:`make_items`): class ``c`` is prototype ``c`` plus Gaussian noise, so every item has a
true label. The weights are a random ReLU feature layer (128 units) and a least-squares
read-out fitted on 2,000 training items drawn separately from the eval and calibration items;
``device-state`` adds a small bias through its own weights. Seeded: the same file every time.

    python examples/two-input/make_model.py [MODEL_PATH] [--data]   (--data: rewrite the .npz files)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

CLASSES, FEATURES, HIDDEN, STATE = 10, 64, 128, 4
NOISE = 2.2  # per-feature noise std against unit-variance prototypes: ~83% of eval items right


def make_items(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` items of the rule above: windows float32 [n, 64], states int64 [n, 4], labels int64 [n]."""
    protos = np.random.default_rng(0).normal(size=(CLASSES, FEATURES))
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, size=n)
    windows = protos[labels] + rng.normal(scale=NOISE, size=(n, FEATURES))
    states = rng.integers(0, 3, size=(n, STATE))
    return windows.astype(np.float32), states.astype(np.int64), labels.astype(np.int64)


def weights() -> dict[str, np.ndarray]:
    """The fitted weights (module docstring)."""
    rng = np.random.default_rng(1)
    w1 = rng.normal(scale=1 / np.sqrt(FEATURES), size=(FEATURES, HIDDEN))
    b1 = rng.normal(scale=0.1, size=HIDDEN)
    x, _, y = make_items(2000, seed=2)
    h = np.maximum(x @ w1 + b1, 0)
    h1 = np.hstack([h, np.ones((len(h), 1))])
    w2 = np.linalg.lstsq(h1, np.eye(CLASSES)[y] * 8.0, rcond=None)[0]
    ws = rng.normal(scale=0.05, size=(STATE, CLASSES))
    return {"w1": w1, "b1": b1, "w2": w2[:-1], "b2": w2[-1], "ws": ws}


def build(path: Path) -> Path:
    """Write the model to ``path`` (checked with ``onnx.checker``); returns ``path``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = {k: numpy_helper.from_array(v.astype(np.float32), name=k) for k, v in weights().items()}
    nodes = [
        helper.make_node("MatMul", ["sensor.window", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["s0"]),
        helper.make_node("Add", ["s0", "b2"], ["s1"]),
        helper.make_node("Cast", ["device-state"], ["state_f"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["state_f", "ws"], ["s2"]),
        helper.make_node("Add", ["s1", "s2"], ["class_scores"]),
    ]
    graph = helper.make_graph(
        nodes, "two_input_classifier",
        [helper.make_tensor_value_info("sensor.window", TensorProto.FLOAT, ["batch", FEATURES]),
         helper.make_tensor_value_info("device-state", TensorProto.INT64, ["batch", STATE])],
        [helper.make_tensor_value_info("class_scores", TensorProto.FLOAT, ["batch", CLASSES])],
        initializer=list(w.values()),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="edge-gate example")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def write_data(folder: Path) -> None:
    """``inputs.npz`` (60 labelled eval items) and ``calibration.npz`` (40 unlabelled items,
    another seed), keyed by the model's input names."""
    x, s, y = make_items(60, seed=3)
    np.savez(folder / "inputs.npz", **{"sensor.window": x, "device-state": s, "labels": y})
    cx, cs, _ = make_items(40, seed=4)
    np.savez(folder / "calibration.npz", **{"sensor.window": cx, "device-state": cs})


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("model.onnx")
    build(out)
    if "--data" in sys.argv:
        write_data(Path(__file__).resolve().parent)
