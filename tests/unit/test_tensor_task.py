"""Task ``tensor`` on a model of our own making (examples/two-input): its input signature read
from the ONNX graph, its data checked by `gate validate` (bad files under tests/data/tensor),
and its metrics on real outputs."""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from gate.cli import main
from gate.config.manifest import load_manifest
from gate.config.signature import onnx_signature
from gate.errors import ConfigError, MeasurementError

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "two-input"
BAD = REPO / "tests" / "data" / "tensor"


def example_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("two_input_make_model", EXAMPLE / "make_model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository holding the two-input example with its model built."""
    (tmp_path / ".git").mkdir()
    shutil.copytree(REPO / "policies", tmp_path / "policies")
    folder = tmp_path / "models" / "two-input"
    shutil.copytree(EXAMPLE, folder)
    example_module().build(folder / "model.onnx")
    return tmp_path


def manifest_line(manifest: Path, key: str) -> int:
    return next(i for i, line in enumerate(manifest.read_text().splitlines(), 1) if line.strip().startswith(f"{key}:"))


def test_signature_is_read_from_the_graph(repo: Path) -> None:
    sig = onnx_signature(repo / "models/two-input/model.onnx")
    assert [(t.name, t.dtype, t.shape) for t in sig.inputs] == [
        ("sensor.window", "float32", ("batch", 64)), ("device-state", "int64", ("batch", 4))]
    assert [(t.name, t.dtype, t.shape) for t in sig.outputs] == [("class_scores", "float32", ("batch", 10))]


def test_example_validates(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(repo / "models/two-input/gate.yaml")]) == 0
    assert "valid" in capsys.readouterr().out


def expectations() -> list[tuple[str, str]]:
    rows = [line.split(" | ", 1) for line in (BAD / "expect.txt").read_text().splitlines() if line.strip()]
    return [(name, fragment) for name, fragment in rows]


@pytest.mark.parametrize(("name", "fragment"), expectations(), ids=lambda v: v if v.endswith(".npz") else "")
def test_bad_eval_files_exit_2_at_the_eval_key(repo: Path, name: str, fragment: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    manifest = repo / "models/two-input/gate.yaml"
    shutil.copy(BAD / name, manifest.parent / "inputs.npz")
    assert main(["validate", str(manifest)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"error: {manifest}:{manifest_line(manifest, 'data')}:"), err
    assert fragment in err, err


def test_every_bad_file_is_listed() -> None:
    assert sorted(p.name for p in BAD.glob("*.npz")) == sorted(n for n, _ in expectations())


def edit(manifest: Path, old: str, new: str) -> None:
    text = manifest.read_text()
    assert old in text
    manifest.write_text(text.replace(old, new))


def test_labels_make_top1_accuracy_the_primary(repo: Path) -> None:
    manifest = repo / "models/two-input/gate.yaml"
    edit(manifest, "primary: top1_accuracy", "primary: top1_agreement")
    with pytest.raises(ConfigError, match=r"accuracy must be the labelled task metric, eval\.primary: top1_accuracy"):
        load_manifest(manifest)


def test_class_metrics_need_logits(repo: Path) -> None:
    manifest = repo / "models/two-input/gate.yaml"
    edit(manifest, "output: logits", "output: values")
    with pytest.raises(ConfigError, match="needs class scores"):
        load_manifest(manifest)


def test_calibration_file_is_checked_too(repo: Path) -> None:
    manifest = repo / "models/two-input/gate.yaml"
    shutil.copy(BAD / "wrong-input-name.npz", manifest.parent / "calibration.npz")
    with pytest.raises(ConfigError) as exc:
        load_manifest(manifest)
    assert exc.value.location == f"{manifest}:{manifest_line(manifest, 'calibration')}:3"
    assert "'sensor_window' is not an input" in str(exc.value)


def test_a_missing_plugin_is_exit_2_at_its_key(repo: Path) -> None:
    manifest = repo / "models/two-input/gate.yaml"
    edit(manifest, "  output: logits", "  output: logits\n  metrics:\n    margin: {function: 'nowhere_mod:fn'}")
    with pytest.raises(ConfigError, match="plugin 'nowhere_mod:fn' cannot be loaded: no module 'nowhere_mod'") as exc:
        load_manifest(manifest)
    assert exc.value.location is not None
    assert exc.value.location.startswith(f"{manifest}:{manifest_line(manifest, 'margin')}:")


def test_metrics_on_real_outputs(repo: Path) -> None:
    import onnxruntime as ort

    from gate.tasks import tensor

    loaded = load_manifest(repo / "models/two-input/gate.yaml")
    arrays = tensor.build_inputs_for(loaded)
    session = ort.InferenceSession(str(repo / "models/two-input/model.onnx"), providers=["CPUExecutionProvider"])
    outs = np.stack([session.run(None, f)[0][0] for f in tensor.eval_feeds(arrays)])
    assert outs.shape == (60, 10)
    same = tensor.score(outs, outs, arrays)
    assert same["cosine_mean"] == pytest.approx(1.0) and same["max_abs_error"] == 0.0
    assert same["snr_db"] == tensor.DB_CAP and same["top1_agreement"] == 1.0
    # accuracy is measured against the true classes the data were drawn from, not assumed
    truth = float(np.mean(outs.argmax(axis=1) == arrays["eval.labels"][:, 0]))
    assert same["top1_accuracy"] == truth and 0.5 < truth < 1.0
    noisy = outs + np.random.default_rng(0).normal(scale=0.5, size=outs.shape).astype(np.float32)
    got = tensor.score(outs, noisy, arrays)
    assert 0.9 < got["cosine_mean"] < 1.0 and 0 < got["snr_db"] < 40 and got["max_abs_error"] > 1.0
    items = tensor.item_scores(outs, noisy, arrays)
    assert items["correct"].shape == (60,) and items["agree"].mean() == got["top1_agreement"]
    assert list(tensor.latency_feeds(arrays)) == ["sensor.window", "device-state"]
    assert len(tensor.calibration_feeds(arrays)) == 40


def test_a_failing_plugin_metric_is_a_measurement_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gate.tasks import tensor

    (tmp_path / "team_metrics.py").write_text("def broken(reference, outputs):\n"
                                              "    raise ValueError('no masks here')\n")
    monkeypatch.chdir(tmp_path)
    inputs = {"meta.logits": np.array(False), "meta.plugins": np.array('{"iou": "team_metrics:broken"}'),
              "meta.folder": np.array(".")}
    ref = np.ones((3, 4), dtype=np.float32)
    with pytest.raises(MeasurementError, match=r"metric plugin 'iou' .* failed: ValueError: no masks here"):
        tensor.score(ref, ref, inputs)


@pytest.mark.parametrize(("row", "fragment"), [
    ("99.jpg,281", "file '99.jpg' is not in the image folder"),
    ("40.jpg,cat", "label 'cat' of '40.jpg' is not an integer class index"),
    ("00.jpg,281;282", "file '00.jpg' is labelled twice"),
])
def test_a_bad_labels_row_is_exit_2_at_its_csv_line(tmp_path: Path, row: str, fragment: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".git").mkdir()
    shutil.copytree(REPO / "policies", tmp_path / "policies")
    folder = tmp_path / "models" / "efficientnet-lite0"
    shutil.copytree(REPO / "examples" / "efficientnet-lite0", folder)
    labels = folder / "labels.csv"
    lines = labels.read_text().splitlines()
    labels.write_text("\n".join([*lines, row]) + "\n")
    assert main(["validate", str(folder / "gate.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {labels}:{len(lines) + 1}: ") and fragment in err, err


def test_labels_may_name_several_right_classes(tmp_path: Path) -> None:
    from gate.tasks import tensor

    logits = np.eye(4, dtype=np.float32)[[0, 1, 2, 3]] * 5
    inputs = {"meta.logits": np.array(True), "eval.labels": np.array([[0, -1], [2, 1], [3, -1], [-1, -1]])}
    items = tensor.item_scores(logits, logits, inputs)
    assert items["correct"].tolist() == [1.0, 1.0, 0.0]  # item 3 is unlabelled


def test_an_onnx_file_is_no_checkpoint_and_gets_no_pickle_hint(repo: Path) -> None:
    from gate.tasks.checkpoints import load_checkpoint

    with pytest.raises(ConfigError) as exc:
        load_checkpoint(repo / "models/two-input/model.onnx")
    assert "neither a zip archive nor a pickle" in str(exc.value) and "allow_pickle" not in str(exc.value)


def test_an_onnx_source_with_external_data_is_its_own_baseline(repo: Path, tmp_path: Path) -> None:
    import onnx

    from gate.backends.base import BuildContext
    from gate.backends.onnxruntime import BACKEND

    src = tmp_path / "src"
    src.mkdir()
    model = onnx.load(str(repo / "models/two-input/model.onnx"))
    onnx.save_model(model, str(src / "model.onnx"), save_as_external_data=True, location="weights.bin",
                    size_threshold=0)
    out = tmp_path / "baseline"
    art = BACKEND.make_baseline(src / "model.onnx", BuildContext(task="tensor", input={}), out)
    assert [f.path for f in art.files] == ["model.onnx", "weights.bin"]
    assert (out / "weights.bin").read_bytes() == (src / "weights.bin").read_bytes()
    sig = onnx_signature(out / "model.onnx")  # read without the external weights
    assert sig.input_names() == ["sensor.window", "device-state"]


def test_an_openvino_baseline_of_an_onnx_source_is_checked_against_the_file(repo: Path, tmp_path: Path) -> None:
    from gate.backends.base import BuildContext
    from gate.backends.openvino import BACKEND
    from gate.tasks import get_task
    from gate.tasks.protocol import InputContext

    manifest = repo / "models/two-input/gate.yaml"
    loaded = load_manifest(manifest)
    task = get_task("tensor")
    inputs = tmp_path / "inputs.npz"
    ctx = InputContext(source=loaded.source_path(), eval_path=loaded.eval_path(), items=None, input={}, settings={},
                       min_items=50, baseline=None, open=lambda p: BACKEND.open(p, 1),
                       eval_location=loaded.where("eval", "data"))
    np.savez(inputs, **task.build_inputs(ctx))
    out = tmp_path / "baseline"
    art = BACKEND.make_baseline(loaded.source_path(), BuildContext(task="tensor", input={"dynamic_axes": []},
                                                                   calibration_inputs=inputs), out)
    art.write(out)
    assert art.format == "openvino-ir" and art.precision == "fp32"
    fid = task.check_conversion(replace(ctx, baseline=out, inputs=inputs))
    assert fid["reference"] == "the ONNX source in ONNX Runtime" and fid["items"] == 32
    assert fid["cosine_min"] > 0.99999 and fid["max_abs_diff"] < 1e-4  # fp32 IR vs the file in ORT


def test_a_preprocessing_plugin_prepares_the_images_and_its_failure_is_exit_2(tmp_path: Path) -> None:
    from gate.tasks import tensor

    (tmp_path / ".git").mkdir()
    shutil.copytree(REPO / "policies", tmp_path / "policies")
    folder = tmp_path / "models" / "effnet"
    shutil.copytree(REPO / "examples" / "efficientnet-lite0", folder)
    (folder / "team_pre.py").write_text(
        "import numpy as np\nfrom PIL import Image\n\n"
        "def prepare(path):\n"
        "    x = np.asarray(Image.open(path).convert('RGB').resize((224, 224)), dtype=np.float32)\n"
        "    return ((x - 127.0) / 128.0).transpose(2, 0, 1)\n\n"
        "def broken(path):\n"
        "    raise KeyError('no exif')\n")
    manifest = folder / "gate.yaml"
    edit(manifest, "    layout: NCHW\n", "    layout: NCHW\n    preprocess: team_pre:prepare\n")
    arrays = tensor.build_inputs_for(load_manifest(manifest))
    assert arrays["eval.in.pixel_values"].shape == (48, 3, 224, 224)
    assert arrays["eval.labels"].shape == (48, 3) and int((arrays["eval.labels"][:, 0] >= 0).sum()) == 38
    edit(manifest, "team_pre:prepare", "team_pre:broken")
    with pytest.raises(ConfigError, match=r"preprocessing plugin team_pre:broken failed on 00\.jpg: KeyError"):
        load_manifest(manifest)


def test_an_onnx_source_for_a_torch_task_points_to_task_tensor(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = repo / "models/two-input"
    shutil.copy(REPO / "examples/mobilenet-v2/images.txt", folder / "images.txt")
    (folder / "ic.yaml").write_text(
        "name: ic\ntask: image-classification\nsource: {format: onnx, path: model.onnx}\npolicy: edge-default\n"
        "eval: {data: images.txt, min_items: 20, metrics: [top1_agreement], primary: top1_agreement}\n"
        "targets: [{name: int8, platform: x86-cpu, backend: onnxruntime}]\n")
    assert main(["validate", str(folder / "ic.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {folder / 'ic.yaml'}:3:") and "hint: task tensor takes any ONNX file" in err, err


def jsonl_from_npz(folder: Path) -> list[str]:
    import json

    with np.load(folder / "inputs.npz") as data:
        return [json.dumps({"sensor.window": data["sensor.window"][i].tolist(),
                            "device-state": data["device-state"][i].tolist(), "labels": int(data["labels"][i])})
                for i in range(len(data["labels"]))]


def test_jsonl_records_feed_the_model_like_the_npz(repo: Path) -> None:
    from gate.tasks import tensor

    folder = repo / "models/two-input"
    manifest = folder / "gate.yaml"
    npz = tensor.build_inputs_for(load_manifest(manifest))
    (folder / "inputs.jsonl").write_text("\n".join(jsonl_from_npz(folder)) + "\n")
    edit(manifest, "data: inputs.npz ", "data: inputs.jsonl")
    got = tensor.build_inputs_for(load_manifest(manifest))
    for key in ("eval.in.sensor.window", "eval.in.device-state", "eval.labels"):
        assert got[key].dtype == npz[key].dtype and np.array_equal(got[key], npz[key]), key


@pytest.mark.parametrize(("change", "fragment"), [
    (lambda r: r.replace('"device-state": [', '"device_state": ['),
     "field 'device_state' is not an input of the model"),
    (lambda r: r.replace('"device-state": [', '"device-state": [0.5, '), "holds fractions (float64) for a int64 input"),
    (lambda r: r[:-1], "not JSON"),
    (lambda r: r.rsplit('"labels": ', 1)[0] + '"labels": "cat"}', "label 'cat' is not a class index"),
])
def test_a_bad_jsonl_line_is_exit_2_at_that_line(repo: Path, change: object, fragment: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = repo / "models/two-input"
    rows = jsonl_from_npz(folder)
    rows[6] = change(rows[6])  # type: ignore[operator]
    (folder / "inputs.jsonl").write_text("\n".join(rows) + "\n")
    edit(folder / "gate.yaml", "data: inputs.npz ", "data: inputs.jsonl")
    assert main(["validate", str(folder / "gate.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {folder / 'inputs.jsonl'}:7: ") and fragment in err, err


def test_a_records_plugin_turns_text_into_inputs(repo: Path) -> None:
    from gate.tasks import tensor

    folder = repo / "models/two-input"
    (folder / "team_text.py").write_text(
        "import numpy as np\n\n"
        "def encode(record):\n"
        "    codes = np.frombuffer(record['text'].encode().ljust(64)[:64], dtype=np.uint8)\n"
        "    return {'sensor.window': (codes.astype(np.float32) - 96) / 32,\n"
        "            'device-state': np.array([len(record['text']) % 3, 0, 1, 2], dtype=np.int64)}\n")
    words = "the quick brown fox jumps over a lazy dog while edge gates measure every model".split()
    rows = [f'{{"text": "{" ".join(words[i:i + 5])} {i}", "labels": {i % 10}}}' for i in range(60)]
    (folder / "texts.jsonl").write_text("\n".join(rows) + "\n")
    manifest = folder / "gate.yaml"
    edit(manifest, "data: inputs.npz ", "data: texts.jsonl")
    edit(manifest, "  output: logits", "  output: logits\n  records: {preprocess: 'team_text:encode'}")
    arrays = tensor.build_inputs_for(load_manifest(manifest))
    assert arrays["eval.in.sensor.window"].shape == (60, 64) and arrays["eval.in.device-state"].dtype == np.int64
    assert arrays["eval.labels"][:, 0].tolist() == [i % 10 for i in range(60)]


def test_a_plugin_metric_may_take_the_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gate.tasks import tensor

    (tmp_path / "team_acc.py").write_text(
        "import numpy as np\n\n"
        "def top2(reference, outputs, labels=None):\n"
        "    top = np.argsort(outputs, axis=1)[:, -2:]\n"
        "    return np.array([float(l[0] in t) if l[0] >= 0 else np.nan for t, l in zip(top, labels)])\n")
    monkeypatch.chdir(tmp_path)
    inputs = {"meta.logits": np.array(True), "meta.plugins": np.array('{"top2_accuracy": "team_acc:top2"}'),
              "meta.folder": np.array("."), "eval.labels": np.array([[1], [-1], [2]])}
    logits = np.array([[0.0, 2.0, 1.0], [0.0, 2.0, 1.0], [0.0, 2.0, 1.0]], dtype=np.float32)
    with pytest.raises(MeasurementError, match="must return 3 finite scores"):  # NaN for no label: refused
        tensor.score(logits, logits, inputs)
    inputs["eval.labels"] = np.array([[1], [0], [2]])
    (tmp_path / "team_acc.py").write_text(
        "import numpy as np\n\n"
        "def top2(reference, outputs, labels=None):\n"
        "    top = np.argsort(outputs, axis=1)[:, -2:]\n"
        "    return np.array([float(l[0] in t) for t, l in zip(top, labels)])\n")
    import sys

    sys.modules.pop("team_acc", None)
    assert tensor.score(logits, logits, inputs)["top2_accuracy"] == pytest.approx(2 / 3)


def test_a_labels_csv_beside_an_npz_is_not_silently_ignored(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An .npz carries its labels under its labels key; a labels CSV named beside it was
    ignored (even one naming files that do not exist): exit 2 at eval.labels."""
    manifest = repo / "models/two-input/gate.yaml"
    (manifest.parent / "labels.csv").write_text("ghost.png,3\n")
    manifest.write_text(manifest.read_text().replace("  calibration: calibration.npz\n",
                                                     "  calibration: calibration.npz\n  labels: labels.csv\n"))
    assert main(["validate", str(manifest)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {manifest}:{manifest_line(manifest, 'labels')}:"), err
    assert "goes with a folder of images" in err, err


def test_external_data_leaving_the_folder_is_refused_at_validate(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An ONNX source whose weights point at ../../../etc/passwd validated (exit 0) and was only
    refused when the baseline stage ran: now `gate validate` refuses it, exit 2."""
    import onnx

    manifest = repo / "models/two-input/gate.yaml"
    model = onnx.load(str(manifest.parent / "model.onnx"))
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="../../../../../../etc/passwd")
    onnx.save(model, str(manifest.parent / "model.onnx"))
    assert main(["validate", str(manifest)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "points outside the model's folder" in err, err
