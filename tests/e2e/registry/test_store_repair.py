"""A sqlite store left half-migrated (SIGINT during the first `gate record` left every later
record failing with "table ... already exists") is detected and rebuilt when it holds no
lineage, and reported, untouched, when it does."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.registry.conftest import PASSING, make_repo

pytestmark = pytest.mark.e2e


def _half_migrated(db: Path) -> None:
    """The state an interrupted first initialisation leaves (seen with SIGINT 3.4 s into it:
    "table secrets already exists" on every later opening): some tables missing and no
    alembic version, so MLflow runs every migration again on tables that exist."""
    db.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", "import sys; from mlflow import MlflowClient; "
                    "MlflowClient(tracking_uri=f'sqlite:///{sys.argv[1]}').search_experiments(max_results=1)",
                    str(db)], check=True, capture_output=True)  # not in this process: MLflow caches stores
    with sqlite3.connect(db) as conn:
        conn.execute("drop table secrets")
        conn.execute("drop table alembic_version")


def test_a_half_migrated_empty_store_is_rebuilt(tmp_path: Path) -> None:
    db = tmp_path / "store" / "mlflow.db"
    _half_migrated(db)
    repo = make_repo(tmp_path / "repo", "half-migrated", f"sqlite:///{db}")
    repo.write_candidate(PASSING, scale=1.0)
    repo.commit("candidate")
    repo.decide()
    recorded = json.loads(repo.gate("record").stdout)
    assert recorded["targets"]
    assert list(db.parent.glob("mlflow.db.broken-*"))  # the broken file is kept aside, not deleted
    assert not list(db.parent.glob(".mlflow.db.init-*"))


def test_a_half_migrated_store_with_lineage_is_not_touched(tmp_path: Path) -> None:
    db = tmp_path / "store" / "mlflow.db"
    _half_migrated(db)
    with sqlite3.connect(db) as conn:
        conn.execute("insert into registered_models (name, creation_time, last_updated_time) values ('x', 0, 0)")
    before = db.read_bytes()
    repo = make_repo(tmp_path / "repo", "half-with-lineage", f"sqlite:///{db}")
    repo.write_candidate(PASSING, scale=1.0)
    repo.commit("candidate")
    repo.decide()
    refused = repo.gate("record", check=False)
    assert refused.returncode == 3 and "half-migrated" in refused.stderr and "restore" in refused.stderr
    assert db.read_bytes() == before
