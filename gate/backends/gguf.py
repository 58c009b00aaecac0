"""GGUF files: read and check the header before llama.cpp (or anything else) opens the file.

The layout follows the GGUF specification (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md):
``"GGUF"`` magic, uint32 version (2 or 3), uint64 tensor count, uint64 key/value count, the
key/value pairs, one info record per tensor (name, dims, ggml type, offset into the data
section), then the data section at the next multiple of ``general.alignment`` (default 32).
Everything is little-endian.

:func:`read_gguf` parses that header in pure Python (no native code, so a corrupt file cannot
crash the process) and checks that every tensor lies inside the file, aligned and without
overlap. A zero-filled file, a truncated file or a file of another format is a
:class:`~gate.errors.ConfigError` (exit 2) naming what is wrong (shared case C11).

:class:`GgufInfo` then answers what a quantizer actually wrote: tensors per ggml type, the
effective bits per weight, and which weight tensors did not get the requested type
(llama.cpp substitutes types for some tensor shapes, e.g. Q4_K needs rows divisible by 256,
without failing).
"""

from __future__ import annotations

import itertools
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from gate.errors import ConfigError

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
#: Sanity ceilings: a header claiming more than this is corrupt, not a big model.
MAX_TENSORS = 1_000_000
MAX_KV = 1_000_000
MAX_STRING_BYTES = 1 << 28

#: ggml type id -> (name, elements per block, bytes per block). From ggml's ``type_traits``
#: (ggml/src/ggml.c), the same table as ``gguf.constants.GGML_QUANT_SIZES`` (a unit test
#: checks the two agree).
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17),
    40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18),
}
#: llama.cpp's ``enum llama_ftype`` (include/llama.h): the ``general.file_type`` values.
FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M",
    30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
}
#: Types that hold full-precision values; every other type is quantized.
FLOAT_TYPES = frozenset({"F32", "F16", "BF16", "F64"})

# GGUF metadata value types: id -> struct format (scalars), 8 string, 9 array.
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
            11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


@dataclass(frozen=True)
class TensorInfo:
    """One tensor record: ``dims`` in ggml order (innermost first), data offset and size."""

    name: str
    dims: tuple[int, ...]
    type_name: str
    offset: int  # absolute, in bytes from the start of the file
    nbytes: int

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n

    @property
    def is_weight_matrix(self) -> bool:
        """2-D or larger: the tensors a quantizer converts (llama.cpp keeps 1-D ones in F32)."""
        return sum(1 for d in self.dims if d > 1) >= 2


@dataclass(frozen=True)
class GgufInfo:
    """A checked GGUF header. ``metadata`` holds scalars and strings (arrays as their length)."""

    path: Path
    version: int
    file_size: int
    data_offset: int
    alignment: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo] = field(repr=False)

    def type_counts(self) -> dict[str, int]:
        """Number of tensors per ggml type name, e.g. ``{"Q4_K": 150, "F32": 61, ...}``."""
        return dict(sorted(Counter(t.type_name for t in self.tensors).items()))

    def weight_type_counts(self) -> dict[str, int]:
        """Like :meth:`type_counts`, over weight matrices only (2-D and larger)."""
        return dict(sorted(Counter(t.type_name for t in self.tensors if t.is_weight_matrix).items()))

    def n_elements(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    def tensor_bytes(self) -> int:
        """Bytes of tensor data (what a forward pass reads at most), excluding the header."""
        return sum(t.nbytes for t in self.tensors)

    def bits_per_weight(self) -> float:
        """Effective bits per weight: 8 x tensor data bytes / elements, over every tensor.

        This is llama.cpp's own "BPW" figure (llama-model-loader prints file size in bits over
        parameter count); block scales and unquantized norms count, so Q4_K_M lands near 5.
        """
        n = self.n_elements()
        return 8.0 * self.tensor_bytes() / n if n else 0.0

    def quantized(self) -> bool:
        """True when any weight matrix is stored in a quantized (non-float) type."""
        return any(t.type_name not in FLOAT_TYPES for t in self.tensors if t.is_weight_matrix)

    def main_weight_type(self) -> str:
        """The type that holds the most weight-matrix elements (ties: alphabetical)."""
        elements: Counter[str] = Counter()
        for t in self.tensors:
            if t.is_weight_matrix:
                elements[t.type_name] += t.n_elements
        if not elements:
            return "none"
        return sorted(elements.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]

    def main_quantized_type(self) -> str | None:
        """The quantized type holding the most weight-matrix elements, or None if none is."""
        elements: Counter[str] = Counter()
        for t in self.tensors:
            if t.is_weight_matrix and t.type_name not in FLOAT_TYPES:
                elements[t.type_name] += t.n_elements
        return sorted(elements.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] if elements else None

    def substitutions(self, requested: str) -> dict[str, int]:
        """Weight matrices that did not get the ``requested`` type: ``{actual type: count}``."""
        return dict(sorted(Counter(
            t.type_name for t in self.tensors if t.is_weight_matrix and t.type_name != requested
        ).items()))

    def block_quantized_type(self) -> str | None:
        """The quantized type holding the most elements among the transformer blocks' weight
        matrices (``blk.*``), or None if none is quantized. The token embedding is left out:
        it is often kept in a larger type and, in small models with large vocabularies, holds
        most of the elements (Gemma3-270M's Q4_K_M file keeps it in Q8_0, and counted whole the
        file reads as "Q8_0")."""
        elements: Counter[str] = Counter()
        for t in self.tensors:
            if t.is_weight_matrix and t.name.startswith("blk.") and t.type_name not in FLOAT_TYPES:
                elements[t.type_name] += t.n_elements
        return sorted(elements.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] if elements else None

    def block_weight_types(self) -> frozenset[str]:
        """Every type the blocks' weight matrices are stored in."""
        return frozenset(t.type_name for t in self.tensors if t.is_weight_matrix and t.name.startswith("blk."))

    def declared_file_type(self) -> str | None:
        """The file type the writer declared (``general.file_type``, llama.cpp's ``llama_ftype``
        names), or None. A claim of the writer, not read from the tensors."""
        value = self.metadata.get("general.file_type")
        return FILE_TYPES.get(int(value), f"ftype {value}") if isinstance(value, int) else None

    def outside(self, allowed: frozenset[str]) -> tuple[dict[str, int], float]:
        """Weight matrices whose type is not in ``allowed`` (a quantization scheme's types):
        ``({type: count}, share of weight-matrix elements)``."""
        weights = [t for t in self.tensors if t.is_weight_matrix]
        off = [t for t in weights if t.type_name not in allowed]
        total = sum(t.n_elements for t in weights)
        share = sum(t.n_elements for t in off) / total if total else 0.0
        return dict(sorted(Counter(t.type_name for t in off).items())), share

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures for artifact details and reports."""
        return {
            "gguf_version": self.version, "tensor_count": len(self.tensors),
            "file_size_bytes": self.file_size, "tensor_bytes": self.tensor_bytes(),
            "n_elements": self.n_elements(), "bits_per_weight": round(self.bits_per_weight(), 4),
            "type_counts": self.type_counts(), "weight_type_counts": self.weight_type_counts(),
            "main_weight_type": self.main_weight_type(), "quantized": self.quantized(),
            "main_quantized_type": self.main_quantized_type(),
            "block_quantized_type": self.block_quantized_type(),
            "declared_file_type": self.declared_file_type(),
        }


class _Reader:
    def __init__(self, fh: BinaryIO, path: Path, size: int) -> None:
        self.fh, self.path, self.size = fh, path, size

    def fail(self, what: str) -> ConfigError:
        return ConfigError(f"invalid GGUF file: {what}", location=str(self.path))

    def take(self, n: int, what: str) -> bytes:
        pos = self.fh.tell()
        if n < 0 or pos + n > self.size:
            raise self.fail(f"truncated: {what} needs {n} bytes at offset {pos}, file has {self.size}")
        return self.fh.read(n)

    def scalar(self, fmt: str, what: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        n = self.scalar("<Q", what)
        if n > MAX_STRING_BYTES:
            raise self.fail(f"{what}: string length {n} is not plausible")
        try:
            return self.take(n, what).decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what}: not UTF-8") from None

    def value(self, vtype: int, what: str, depth: int = 0) -> Any:
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype], what)
        if vtype == _STRING:
            return self.string(what)
        if vtype == _ARRAY and depth == 0:
            item_type = self.scalar("<I", what)
            count = self.scalar("<Q", what)
            if item_type in _SCALARS:  # skip the values, keep the length
                width = struct.calcsize(_SCALARS[item_type])
                if count * width > self.size:
                    raise self.fail(f"{what}: array of {count} items does not fit in the file")
                self.take(count * width, what)
            elif item_type == _STRING:
                if count > self.size // 8:
                    raise self.fail(f"{what}: array of {count} strings does not fit in the file")
                for _ in range(count):
                    self.string(what)
            else:
                raise self.fail(f"{what}: unsupported array item type {item_type}")
            return {"array_length": count}
        raise self.fail(f"{what}: unknown metadata value type {vtype}")


def read_gguf(path: Path) -> GgufInfo:
    """Parse and check the header of the GGUF file at ``path``.

    Checks: the magic bytes, a supported version (2 or 3), plausible tensor and key counts,
    every key/value and tensor record inside the file, known ggml types, block-divisible
    rows, the data section and every tensor aligned, inside the file and not overlapping.

    Raises:
        ConfigError: (exit 2) the file is missing, empty, zero-filled, truncated, of another
            format, or any check above fails; the message says which.
    """
    if not path.is_file():
        raise ConfigError("GGUF file does not exist", location=str(path))
    size = path.stat().st_size
    if size == 0:
        raise ConfigError("invalid GGUF file: empty (0 bytes)", location=str(path))
    with path.open("rb") as fh:
        r = _Reader(fh, path, size)
        magic = r.take(4, "magic") if size >= 4 else b""
        if magic != MAGIC:
            what = "all zero bytes" if magic == b"\0\0\0\0" and _all_zero(path) else f"magic {magic!r}"
            raise r.fail(f"not a GGUF file ({what}; expected {MAGIC!r})")
        version = r.scalar("<I", "version")
        if version not in SUPPORTED_VERSIONS:
            raise r.fail(f"unsupported version {version} (supported: {SUPPORTED_VERSIONS})")
        n_tensors, n_kv = r.scalar("<Q", "tensor count"), r.scalar("<Q", "key/value count")
        if n_tensors > MAX_TENSORS or n_kv > MAX_KV:
            raise r.fail(f"implausible counts: {n_tensors} tensors, {n_kv} keys")
        metadata: dict[str, Any] = {}
        for i in range(n_kv):
            key = r.string(f"key {i}")
            metadata[key] = r.value(r.scalar("<I", f"type of {key}"), key)
        raw = []
        for i in range(n_tensors):
            name = r.string(f"tensor {i} name")
            n_dims = r.scalar("<I", f"{name} n_dims")
            if not 1 <= n_dims <= 4:
                raise r.fail(f"tensor {name!r} has {n_dims} dimensions")
            dims = tuple(r.scalar("<Q", f"{name} dims") for _ in range(n_dims))
            raw.append((name, dims, r.scalar("<I", f"{name} type"), r.scalar("<Q", f"{name} offset")))
        header_end = fh.tell()
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise ConfigError(f"invalid GGUF file: alignment {alignment!r} is not a power of two", location=str(path))
    data_offset = -(-header_end // alignment) * alignment
    tensors = [_tensor(path, size, data_offset, alignment, *t) for t in raw]
    spans = sorted((t.offset, t.offset + t.nbytes, t.name) for t in tensors)
    for (_, end, a), (start, _, b) in itertools.pairwise(spans):
        if start < end:
            raise ConfigError(f"invalid GGUF file: tensors {a!r} and {b!r} overlap", location=str(path))
    return GgufInfo(path=path, version=version, file_size=size, data_offset=data_offset,
                    alignment=alignment, metadata=metadata, tensors=tensors)


def _tensor(path: Path, size: int, data_offset: int, alignment: int, name: str,
            dims: tuple[int, ...], type_id: int, rel_offset: int) -> TensorInfo:
    where = str(path)
    if type_id not in GGML_TYPES:
        raise ConfigError(f"invalid GGUF file: tensor {name!r} has unknown ggml type {type_id}", location=where)
    type_name, block, block_bytes = GGML_TYPES[type_id]
    if dims[0] % block:
        raise ConfigError(f"invalid GGUF file: tensor {name!r} rows of {dims[0]} are not a multiple of "
                          f"{type_name}'s block of {block}", location=where)
    n = 1
    for d in dims:
        n *= d
    nbytes = n // block * block_bytes
    if rel_offset % alignment:
        raise ConfigError(f"invalid GGUF file: tensor {name!r} offset {rel_offset} is not aligned "
                          f"to {alignment}", location=where)
    offset = data_offset + rel_offset
    if offset + nbytes > size:
        raise ConfigError(f"invalid GGUF file: truncated: tensor {name!r} needs bytes "
                          f"{offset}..{offset + nbytes}, file has {size}", location=where)
    return TensorInfo(name=name, dims=dims, type_name=type_name, offset=offset, nbytes=nbytes)


def _all_zero(path: Path, chunk: int = 1 << 20) -> bool:
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            if block.count(0) != len(block):
                return False
    return True
