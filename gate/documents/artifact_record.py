"""``artifact.json``: an artifact folder's files, format, backend, precision and details."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from gate.config.schema import sha256_file
from gate.documents.core import ARTIFACT_FILE, ARTIFACT_SCHEMA, _Doc, write_json_atomic
from gate.errors import ConfigError


class FileRecord(BaseModel):
    """One file of an artifact: path relative to the artifact folder, size (bytes), sha256."""

    path: str
    size_bytes: int = Field(ge=0)
    sha256: str


class Artifact(_Doc):
    """Description of an artifact folder (written as its ``artifact.json``).

    ``files`` lists every file that makes up the model (e.g. an ``.onnx`` and its external
    data), so that size and hashes cover all of them.
    """

    schema_: str = Field(default=ARTIFACT_SCHEMA, alias="schema")
    format: str
    backend: str
    precision: str
    entry: str = Field(description="the file a runtime opens, relative to the folder")
    files: list[FileRecord]
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def size_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)

    @classmethod
    def describe(
        cls, folder: Path, *, fmt: str, backend: str, precision: str, entry: str,
        details: Mapping[str, Any] | None = None, extra_files: list[str] | None = None,
    ) -> Artifact:
        """Hash and size ``entry`` and ``extra_files`` inside ``folder``."""
        names = [entry, *(extra_files or [])]
        files = [
            FileRecord(path=n, size_bytes=(folder / n).stat().st_size, sha256=sha256_file(folder / n))
            for n in names
        ]
        return cls(format=fmt, backend=backend, precision=precision, entry=entry, files=files,
                   details=dict(details or {}))

    def write(self, folder: Path) -> None:
        """Write ``artifact.json`` atomically."""
        write_json_atomic(folder / ARTIFACT_FILE, self.dump())

    @classmethod
    def read(cls, folder: Path) -> Artifact:
        """Read ``folder/artifact.json``.

        Raises:
            ConfigError: the folder holds no artifact description, or it is malformed.
        """
        path = folder / ARTIFACT_FILE
        if not path.is_file():
            raise ConfigError(f"no {ARTIFACT_FILE} in {folder}: the stage that builds it has not run")
        try:
            return cls.model_validate_json(path.read_text())
        except ValueError as exc:
            raise ConfigError(f"malformed artifact description: {exc}", location=str(path)) from None
