"""Registry tests: small real repositories with real decisions, against two MLflow stores.

A repository here is a git checkout holding the MiniLM example manifest (renamed per test, so
tests sharing one server never share a registered model), the policies, a real tiny ONNX
candidate written with the ``onnx`` helper API, and a ``measurements.json`` written through the
typed document ``gate measure`` writes through (gate.documents.Measurements). ``gate decide``
(the real one) turns it into decision.json,
so verdicts and hashes are computed by the code under test, not written by hand. Only the
figures in measurements.json are chosen by the test: the heavy pipeline is not rerun here
(tests/e2e/test_registry_minilm.py does that on the real model).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import REPO, make_runner
from tests.factories import BASELINE, PASSING, write_measurements

FAILING = {**PASSING, "nn10_overlap": 0.80}  # accuracy kept 80% < 95%
TARGET = "ort-int8-dynamic"
__all__ = ["BASELINE", "FAILING", "PASSING", "TARGET", "GateRepo", "make_repo"]


def tiny_onnx(path: Path, scale: float) -> None:
    """A real 4->3 MatMul ONNX model whose weights are ``scale`` (opset 17)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.full((4, 3), scale, np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "candidate",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


class GateRepo:
    """A git repository with one manifest, driven through the `gate` CLI."""

    def __init__(self, path: Path, model: str, uri: str) -> None:
        self.path, self.model, self.uri = path, model, uri
        self.run = make_runner(path)  # git, and `gate` in a subprocess where a test needs one
        self.manifest = path / "models" / model / "gate.yaml"

    def gate(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `gate ARGS` in this process (MLflow imports once per session, not per call)."""
        import contextlib
        import io

        from gate.cli import main

        out, err = io.StringIO(), io.StringIO()
        saved_cwd, saved_uri = Path.cwd(), os.environ.get("MLFLOW_TRACKING_URI")
        os.chdir(self.path)
        os.environ["MLFLOW_TRACKING_URI"] = self.uri
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(list(args))
        finally:
            os.chdir(saved_cwd)
            if saved_uri is None:
                del os.environ["MLFLOW_TRACKING_URI"]
            else:
                os.environ["MLFLOW_TRACKING_URI"] = saved_uri
        proc = subprocess.CompletedProcess(["gate", *args], code, out.getvalue(), err.getvalue())
        if check and code != 0:
            raise AssertionError(f"gate {args} exited {code}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def write_candidate(self, metrics: dict[str, float], scale: float, fmt: str = "onnx",
                        fingerprint_id: str | None = None, target: str = TARGET) -> None:
        """A real candidate and its measurements.json, written through the typed document
        (:class:`gate.documents.Measurements`, built by tests/factories.py).

        ``fmt="onnx"``: a tiny ONNX model (:func:`tiny_onnx`); ``fmt="gguf"``: the smallest
        valid GGUF v3 file (magic, version, zero tensors, zero metadata keys), which the
        registry stores as an artifact folder like any non-ONNX candidate.
        """
        from gate import layout
        from gate.backends.base import Artifact, FileRecord
        from gate.config.manifest import load_manifest
        from gate.measure.fingerprint import fingerprint

        loaded = load_manifest(self.manifest)
        cand = self.path / layout.candidate_dir(self.model, target)
        cand.mkdir(parents=True, exist_ok=True)
        if fmt == "onnx":
            tiny_onnx(cand / "model.onnx", scale)
        else:
            (cand / f"model.{fmt}").write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 0))
        art = Artifact.describe(cand, fmt=fmt, backend="onnxruntime", precision="int8", entry=f"model.{fmt}",
                                details={"method": "dynamic", "per_channel": False, "weight_type": "qint8"})
        art.write(cand)
        # the baseline folder is absent here (as in a decide job); its record carries the
        # baseline's size, and the candidate's figure is its real file's, so the document agrees
        # with itself (gate.verdict.consistency)
        base_art = art.model_copy(update={"precision": "fp32", "details": {}, "files": [
            FileRecord(path=f"model.{fmt}", size_bytes=int(BASELINE["model_size_bytes"]), sha256="0" * 64)]})
        metrics = {**metrics, "model_size_bytes": float(art.size_bytes)}
        fp = fingerprint(threads=2)
        if fingerprint_id is not None:  # as if measured on another host
            fp["id"] = fingerprint_id
        write_measurements(self.path, loaded, target, metrics, baseline=BASELINE, candidate_artifact=art,
                           baseline_artifact=base_art, fingerprint=fp)

    def set_targets(self, targets: list[dict[str, Any]]) -> None:
        """Replace the manifest's targets (each ``{name, platform, backend, recipe, ...}``)."""
        import yaml

        doc = yaml.safe_load(self.manifest.read_text())
        doc["targets"] = targets
        self.manifest.write_text(yaml.safe_dump(doc, sort_keys=False))

    def commit(self, message: str) -> str:
        with (self.path / "CHANGES.txt").open("a") as changes:
            changes.write(message + "\n")
        self.run("git", "add", "models", "policies", "CHANGES.txt")
        self.run("git", "commit", "-q", "-m", message)
        return self.run("git", "rev-parse", "HEAD").stdout.strip()

    def decide(self) -> dict[str, Any]:
        self.gate("decide", "--quiet", check=False)
        return json.loads((self.path / "build/gate" / self.model / "decision.json").read_text())

    def client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)


def make_repo(path: Path, model: str, uri: str) -> GateRepo:
    """A fresh repository whose manifest is the MiniLM example renamed to ``model``."""
    path.mkdir(parents=True)
    folder = path / "models" / model
    shutil.copytree(REPO / "examples" / "minilm", folder, ignore=shutil.ignore_patterns("make_eval.py"))
    import yaml

    doc = yaml.safe_load((folder / "gate.yaml").read_text())
    doc["name"] = model
    doc["targets"] = [t for t in doc["targets"] if t["name"] == TARGET]  # the one these tests measure
    (folder / "gate.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    shutil.copytree(REPO / "policies", path / "policies")
    repo = GateRepo(path, model, uri)
    repo.run("git", "init", "-q", "-b", "main")
    (path / ".gitignore").write_text("build/\nmlflow.db*\nmlruns/\n")
    return repo


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 (sqlite backend, served artifacts), torn down after."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "HOME": str(folder)}
    env.pop("MLFLOW_TRACKING_URI", None)
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    log = (folder / "server.log").open("w")
    proc = subprocess.Popen(
        [str(mlflow_bin), "server", "--backend-store-uri", f"sqlite:///{folder / 'server.db'}",
         "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"], cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mlflow server did not start:\n{(folder / 'server.log').read_text()[-3000:]}") from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(params=["sqlite", "server"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The tracking URI of a fresh embedded sqlite store, or of the shared test server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    return str(request.getfixturevalue("mlflow_server"))


@pytest.fixture
def new_repo(tmp_path: Path, store_uri: str, request: pytest.FixtureRequest) -> Callable[..., GateRepo]:
    """Factory of repositories on ``store_uri``; model names are unique per test."""
    stem = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40].strip("-")

    def make(suffix: str = "a") -> GateRepo:
        return make_repo(tmp_path / f"repo-{suffix}", f"{stem}-{suffix}"[:60], store_uri)

    return make

