"""Where the pipeline writes, relative to the repository root (the folder holding dvc.yaml).

Everything generated lives under ``build/gate/<model>/``; DVC tracks it and keeps it out of git.
"""

from __future__ import annotations

from pathlib import Path

OUT_ROOT = Path("build/gate")
PARAMS_FILE = Path("gate-params.yaml")
DVC_FILE = Path("dvc.yaml")


def model_dir(model: str) -> Path:
    return OUT_ROOT / model


def baseline_dir(model: str) -> Path:
    """The baseline artifact folder."""
    return model_dir(model) / "baseline"


def inputs_file(model: str) -> Path:
    """Tokenized eval set and fixed latency input (``.npz``), written by the baseline stage."""
    return model_dir(model) / "inputs.npz"


def target_dir(model: str, target: str) -> Path:
    return model_dir(model) / "targets" / target


def candidate_dir(model: str, target: str) -> Path:
    """The candidate artifact folder of one target."""
    return target_dir(model, target) / "candidate"


def measurements_file(model: str, target: str) -> Path:
    """``measurements.json`` of one target (baseline and candidate, same job)."""
    return target_dir(model, target) / "measurements.json"


def decision_file(model: str) -> Path:
    return model_dir(model) / "decision.json"


def report_file(model: str) -> Path:
    return model_dir(model) / "report.md"


def certificate_file(model: str) -> Path:
    """The certification report (:mod:`gate.reports.certificate`)."""
    return model_dir(model) / "certificate.json"


def figures_dir(model: str, target: str) -> Path:
    """The figures DVC shows for one target (``dvc metrics``/``dvc plots``): rule values,
    latency samples and the target's point on the frontier."""
    return target_dir(model, target) / "figures"


def plan_check_file(model: str) -> Path:
    """Written by the ``plan-<model>`` stage once ``gate-params.yaml`` matches the manifest."""
    return model_dir(model) / "plan-checked.txt"
