"""Loading PyTorch checkpoints without running code from a pull request.

A ``.pth`` file is a pickle: unpickling it can run arbitrary code. edge-gate loads
checkpoints with ``torch.load(weights_only=True)`` (tensors and plain containers only,
https://pytorch.org/docs/stable/generated/torch.load.html) unless the manifest sets
``source.allow_pickle: true``; that opt-in is written into every report of the decision.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from gate.errors import ConfigError


def load_checkpoint(path: Path, *, allow_pickle: bool = False) -> Any:
    """The object stored in ``path`` (usually a state_dict), on the CPU.

    Raises:
        ConfigError: the file holds more than tensors and containers and ``allow_pickle`` is
            off, or it is not a checkpoint at all.
    """
    import torch

    with path.open("rb") as fh:
        magic = fh.read(4)
    # torch.save writes a zip archive (PK..) or, in the legacy format, a pickle (protocol 2+
    # starts with 0x80); anything else is not a checkpoint, and the pickle hint would mislead
    if not (magic.startswith(b"PK\x03\x04") or magic[:1] == b"\x80"):
        raise ConfigError(f"not a PyTorch checkpoint: the file starts with {magic!r}, neither a zip archive "
                          f"nor a pickle (an ONNX file? then set source.format: onnx)", location=str(path))
    try:
        return torch.load(str(path), map_location="cpu", weights_only=not allow_pickle)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"checkpoint holds pickled objects beyond tensors; loading it could run code ({first[:200]})",
            location=str(path),
            hint="set source.allow_pickle: true in the manifest only if you trust this file",
        ) from None
    except (RuntimeError, EOFError, ValueError) as exc:
        raise ConfigError(f"not a PyTorch checkpoint: {str(exc).strip()[:200]}", location=str(path)) from None
