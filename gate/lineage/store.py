"""Opening the MLflow store that lineage and the registry share, safely under concurrency.

The tracking store is ``MLFLOW_TRACKING_URI`` when set (a team's shared ``mlflow server``),
else the embedded ``sqlite:///mlflow.db`` in the repository root with artifacts under
``mlruns/`` (MLflow's own default). Two faults seen with parallel CI legs (shared case C20):

* several processes opening a brand-new sqlite file at once each run MLflow's schema
  migrations and trip over one another: the first opening is serialised by an exclusive
  ``flock`` on ``<db>.init.lock``, so the store is initialised exactly once;
* sqlite allows one writer at a time, and a writer that waits past the busy timeout gets
  "database is locked" (over REST the server answers it as an error): :func:`with_retry`
  retries such a failure with exponential backoff and jitter. Callers only retry operations
  that are idempotent (search by tags, then create or update), so a retry never duplicates.

mlflow is imported inside the functions (`gate --help` imports no framework).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from gate.errors import InfrastructureError, LineageError

T = TypeVar("T")

#: Attempts of one idempotent operation before "database is locked" becomes a LineageError.
RETRY_ATTEMPTS = 8
#: First backoff (s); doubles per attempt, with up to 50% random jitter, capped at 8 s.
RETRY_FIRST_DELAY_S = 0.25

_TRANSIENT = ("database is locked", "database table is locked", "sqlite_busy",
              "unique constraint failed", "temporarily unavailable")


#: MLflow's REST client settings for a server, unless the environment sets them: MLflow's own
#: defaults (7 retries, backoff factor 2, 120 s per request) keep a job waiting for minutes on
#: a server that is down (249 s seen) or dying (742 s). With these, 2 tries of at most 10 s
#: of silence each and 1 s of backoff give up in about 21 s, inside the 30 s budget for exit 4
#: (a request that keeps receiving bytes, such as an artifact upload, is not cut off).
HTTP_FAIL_FAST = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                  "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
#: Seconds to wait for a TCP connection to the server before anything else is tried.
CONNECT_PROBE_S = 5.0
_UNAVAILABLE = ("max retries exceeded", "connection refused", "failed to establish a new connection",
                "read timed out", "connection aborted", "connectionerror", "remote end closed connection",
                "name or service not known", "timed out", "connection reset")


def unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says the MLflow server could not be reached or stopped answering."""
    import requests

    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout | ConnectionError):
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _UNAVAILABLE)


def _probe(uri: str) -> None:
    """Refuse at once (exit 4) when nothing listens at a server URI's host and port."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=CONNECT_PROBE_S).close()
    except OSError as exc:
        raise InfrastructureError(f"the MLflow server {uri} is unreachable: {exc}",
                                  hint="is `mlflow server` running, and MLFLOW_TRACKING_URI right?") from None


@contextlib.contextmanager
def mlflow_failures(what: str) -> Any:
    """Turn MLflow failures inside the block into the gate's errors: a server that cannot be
    reached or stops answering is :class:`InfrastructureError` (exit 4, the run may be
    retried), any other MLflow error :class:`LineageError` (exit 3)."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except (MlflowException, OSError) as exc:
        import requests

        if unavailable(exc) or isinstance(exc, requests.exceptions.RequestException):
            raise InfrastructureError(f"MLflow stopped answering during {what}: {str(exc)[:300]}",
                                      hint="nothing that needs MLflow was confirmed; run it again") from None
        message = getattr(exc, "message", str(exc))
        raise LineageError(f"MLflow refused {what}: {str(message)[:300]}") from None


def tracking_uri(root: Path) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<root>/mlflow.db`` (absolute path)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(root / 'mlflow.db').resolve()}"


def _sqlite_path(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///"):])


def open_client(root: Path) -> tuple[Any, Any, str]:
    """``(mlflow module, MlflowClient, tracking uri)`` for ``root``, the store initialised.

    For a sqlite store the first process to open it creates the schema while holding an
    exclusive lock; the others wait for it, then open an initialised store.

    Raises:
        InfrastructureError: a server URI whose host and port take no connection within
            :data:`CONNECT_PROBE_S`, or a server that does not answer (exit 4).
        LineageError: the store cannot be opened (bad URI, schema too old).
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = tracking_uri(root)
    if _sqlite_path(uri) is None:
        for key, value in HTTP_FAIL_FAST.items():
            os.environ.setdefault(key, value)
        _probe(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)

    def connect() -> Any:  # creating the client opens the stores: migrations on a fresh database
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        client.search_experiments(max_results=1)
        client.search_registered_models(max_results=1)
        return client

    db = _sqlite_path(uri)
    try:
        if db is None:
            client = with_retry(connect, f"open the MLflow store {uri}")
        else:
            db.parent.mkdir(parents=True, exist_ok=True)
            with open(f"{db}.init.lock", "a+") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    _initialise_sqlite(db)
                    client = with_retry(connect, f"open the MLflow store {uri}")
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
    except MlflowException as exc:
        if unavailable(exc):
            raise InfrastructureError(f"the MLflow server {uri} is not answering: {exc.message[:300]}") from None
        raise LineageError(f"cannot open the MLflow store {uri}: {exc.message}") from None
    return mlflow, client, uri


def _initialise_sqlite(db: Path) -> None:
    """Make sure ``db`` is a fully initialised MLflow store (called under the init lock).

    A new store is built in a temporary file next to ``db`` and renamed into place only when
    MLflow's migrations finished, so an interrupted first ``gate record`` (SIGINT during the
    migrations) leaves no half-built store. A store that an interrupted initialisation left
    without its schema version (MLflow would re-run every migration on it and fail with
    "table ... already exists" or "duplicate column name", on every later opening) is moved
    aside as ``<db>.broken-<time>`` and rebuilt when it holds no run and no registered
    model; one that holds lineage is never touched. The check reads the file with sqlite3,
    so MLflow never opens (and caches) the broken store.

    Raises:
        LineageError: a half-migrated store that holds lineage (restore it from a backup).
    """
    from mlflow import MlflowClient

    def build(path: Path) -> None:
        uri = f"sqlite:///{path}"
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        client.search_experiments(max_results=1)
        client.search_registered_models(max_results=1)

    if db.exists():
        if _stamped(db):
            return
        if _holds_lineage(db):
            raise LineageError(f"the MLflow store {db} is half-migrated (no schema version; an interrupted "
                               f"initialisation or upgrade) and holds lineage; it was not changed",
                               hint=f"restore {db} from a backup")
        db.replace(db.with_name(f"{db.name}.broken-{int(time.time())}"))
    tmp = db.with_name(f".{db.name}.init-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        build(tmp)
        tmp.replace(db)
    finally:
        tmp.unlink(missing_ok=True)


def _stamped(db: Path) -> bool:
    """True when the sqlite file records one alembic schema version (MLflow finished its
    migrations on it)."""
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            return len(conn.execute("select version_num from alembic_version").fetchall()) == 1
    except sqlite3.Error:
        return False


def _holds_lineage(db: Path) -> bool:
    """True when the sqlite file has a run or a registered model (or cannot be read)."""
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
            return any(conn.execute(f"select count(*) from {t}").fetchone()[0] > 0  # fixed table names
                       for t in ("runs", "registered_models") if t in tables)
    except sqlite3.Error:
        return True


def stdout_to_stderr() -> contextlib.AbstractContextManager[Any]:
    """MLflow prints "View run at <url>" lines on stdout when talking to a server; commands
    run MLflow under this so that their stdout holds only their own JSON result."""
    return contextlib.redirect_stdout(sys.stderr)


def is_transient(exc: BaseException) -> bool:
    """True for failures that a retry can cure: a locked sqlite database, a lost race on a
    unique key. (Connection errors are retried by MLflow's own REST client.)"""
    text = str(exc).lower()
    return any(marker in text for marker in _TRANSIENT)


def with_retry(fn: Callable[[], T], what: str, attempts: int = RETRY_ATTEMPTS) -> T:
    """Run ``fn``; retry it on a transient failure (:func:`is_transient`) with backoff.

    ``fn`` must be idempotent. Delays: 0.25 s doubling per attempt, +0-50% jitter, <= 8 s.

    Raises:
        LineageError: still failing after ``attempts`` tries (the message names ``what``).
        The first non-transient exception is re-raised unchanged.
    """
    import sqlalchemy.exc
    from mlflow.exceptions import MlflowException

    transient = (MlflowException, sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError, OSError)
    delay = RETRY_FIRST_DELAY_S
    for _ in range(attempts - 1):
        try:
            return fn()
        except transient as exc:
            if not is_transient(exc):
                raise
            time.sleep(min(delay, 8.0) * (1 + random.random() / 2))
            delay *= 2
    try:
        return fn()
    except transient as exc:
        if not is_transient(exc):
            raise
        raise LineageError(f"could not {what} after {attempts} attempts: {str(exc)[:300]}",
                           hint="another writer holds the MLflow store; retry later") from None


def log_tags(client: Any, run_id: str, tags: dict[str, Any]) -> None:
    """Set (or update) ``tags`` on a run; keys cut to 250 characters, values to 5,000 (MLflow's
    limits)."""
    from mlflow.entities import RunTag

    client.log_batch(run_id, tags=[RunTag(k[:250], str(v)[:5000]) for k, v in tags.items()])


def already_exists(exc: BaseException) -> bool:
    """True when MLflow refused a create because the name exists (a lost creation race)."""
    return getattr(exc, "error_code", "") == "RESOURCE_ALREADY_EXISTS" or "already exists" in str(exc).lower()


#: MLflow's experiment tag that picks the UI's view of an experiment: ``custom_model_development``
#: opens it on its runs table (MLflow 3 otherwise may open an experiment on the GenAI
#: "Traces" view; the UI's own setting writes this tag).
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def experiment_id(client: Any, name: str, tags: dict[str, str] | None = None) -> str:
    """The id of experiment ``name``, created if missing (safe when processes race), with
    ``tags`` set on it (an existing experiment gets the ones it lacks)."""
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is None:
        try:
            return str(client.create_experiment(name, tags=tags))
        except MlflowException as exc:
            if not already_exists(exc):
                raise
        exp = client.get_experiment_by_name(name)
    if exp is None:
        raise LineageError(f"experiment {name!r} was created by another writer but cannot be read")
    for key, value in (tags or {}).items():
        if key not in exp.tags:
            client.set_experiment_tag(exp.experiment_id, key, value)
    return str(exp.experiment_id)


def registered_model(client: Any, name: str, description: str) -> None:
    """Create registered model ``name`` if it does not exist (safe when processes race)."""
    from mlflow.exceptions import MlflowException

    if client.search_registered_models(filter_string=f"name = '{name}'"):
        return
    try:
        client.create_registered_model(name, description=description)
    except MlflowException as exc:
        if not already_exists(exc):
            raise
