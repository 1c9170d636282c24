"""Read a PyTorch checkpoint in torch's legacy (pre-1.6, not zip) format with numpy alone.

The file is a sequence of pickles followed by raw data:

1. the magic number ``0x1950a86a20f9469cfc6c``, 2. the protocol version ``1001``,
3. system info (byte order, type sizes), 4. the state dict, whose tensors point at storages
through ``persistent_load`` ids ``('storage', <type>, key, location, numel, view)`` and are
rebuilt by ``torch._utils._rebuild_tensor_v2``, 5. the list of storage keys, then 6. each
storage in that order as an 8-byte little-endian element count and its little-endian bytes.

Unpickling runs whatever callables the pickle names, so the unpickler here resolves only the
handful of names a state dict needs, to inert stand-ins, and refuses every other global.
"""

from __future__ import annotations

import collections
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

# torch storage class name -> element type, always little-endian in this format.
_STORAGE_DTYPES: dict[str, str] = {
    "DoubleStorage": "<f8",
    "FloatStorage": "<f4",
    "HalfStorage": "<f2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint's pickle names a global outside the state-dict allow-list."""


class CheckpointFormatError(ValueError):
    """A checkpoint is not a well-formed legacy torch state dict."""


@dataclass(frozen=True, slots=True)
class _StorageType:
    """Stands in for ``torch.FloatStorage`` and friends: only the element type matters."""

    dtype: np.dtype[Any]


@dataclass(frozen=True, slots=True)
class _StorageRef:
    key: str
    dtype: np.dtype[Any]
    numel: int


@dataclass(frozen=True, slots=True)
class _TensorRef:
    """A tensor before its storage has been read: a strided view into one storage."""

    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(
    storage: object, storage_offset: object, size: object, stride: object, *_: object
) -> _TensorRef:
    """Stands in for ``torch._utils._rebuild_tensor_v2``; grad flags and hooks are dropped."""
    if not isinstance(storage, _StorageRef) or not isinstance(storage_offset, int):
        raise CheckpointFormatError("tensor does not refer to a storage")
    return _TensorRef(storage, storage_offset, _int_tuple(size), _int_tuple(stride))


def _int_tuple(value: object) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not all(isinstance(item, int) for item in value):
        raise CheckpointFormatError(f"expected a tuple of ints, got {value!r}")
    return value


_ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    **{("torch", name): _StorageType(np.dtype(code)) for name, code in _STORAGE_DTYPES.items()},
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals a legacy torch state dict uses."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafeCheckpointError(
                f"checkpoint refers to {module}.{name}, which is not allowed"
            ) from None

    def persistent_load(self, pid: Any) -> _StorageRef:
        match pid:
            case ("storage", _StorageType(dtype), str(key), str(), int(numel), None):
                return _StorageRef(key, dtype, numel)
        raise CheckpointFormatError(f"unsupported persistent id {pid!r}")


def load_state_dict(path: Path) -> dict[str, npt.NDArray[Any]]:
    """Read a legacy torch checkpoint into ``{parameter name: contiguous numpy array}``."""
    with path.open("rb") as stream:
        _read_header(stream)
        refs = _load_tensor_refs(stream)
        storages = _read_storages(stream, {ref.storage.key: ref.storage for ref in refs.values()})
    return {name: _materialise(ref, storages[ref.storage.key]) for name, ref in refs.items()}


def _read_header(stream: IO[bytes]) -> None:
    if _unpickle(stream) != MAGIC_NUMBER:
        raise CheckpointFormatError("not a legacy torch checkpoint (bad magic number)")
    if _unpickle(stream) != PROTOCOL_VERSION:
        raise CheckpointFormatError("unsupported legacy checkpoint protocol version")
    info = _unpickle(stream)
    if not isinstance(info, dict) or info.get("little_endian") is not True:
        raise CheckpointFormatError("only little-endian checkpoints are supported")


def _load_tensor_refs(stream: IO[bytes]) -> dict[str, _TensorRef]:
    state = _unpickle(stream)
    if not isinstance(state, dict):
        raise CheckpointFormatError("checkpoint does not hold a state dict")
    for name, ref in state.items():
        if not isinstance(name, str) or not isinstance(ref, _TensorRef):
            raise CheckpointFormatError(f"state dict entry {name!r} is not a tensor")
    return dict(state)


def _read_storages(
    stream: IO[bytes], wanted: dict[str, _StorageRef]
) -> dict[str, npt.NDArray[Any]]:
    keys = _unpickle(stream)
    if not isinstance(keys, list) or set(keys) != set(wanted):
        raise CheckpointFormatError("storage key list does not match the state dict")
    # The records carry no type, so each one's element size comes from the tensors' refs.
    return {key: _read_storage(stream, wanted[key]) for key in keys}


def _read_storage(stream: IO[bytes], ref: _StorageRef) -> npt.NDArray[Any]:
    numel = int.from_bytes(_read_exact(stream, 8), "little")
    if numel != ref.numel:
        raise CheckpointFormatError(f"storage {ref.key} has {numel} elements, not {ref.numel}")
    return np.frombuffer(_read_exact(stream, numel * ref.dtype.itemsize), dtype=ref.dtype)


def _read_exact(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise CheckpointFormatError("checkpoint is truncated")
    return data


def _materialise(ref: _TensorRef, storage: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Copy the tensor's strided view out of its storage, as a native-endian array."""
    if len(ref.size) != len(ref.stride) or min((*ref.size, *ref.stride, ref.offset), default=0) < 0:
        raise CheckpointFormatError("tensor has an invalid shape or stride")
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride, strict=True))
    if 0 not in ref.size and last >= storage.size:
        raise CheckpointFormatError("tensor reaches past the end of its storage")
    view = np.lib.stride_tricks.as_strided(
        storage[ref.offset :],
        shape=ref.size,
        strides=tuple(s * storage.itemsize for s in ref.stride),
        writeable=False,
    )
    return np.ascontiguousarray(view, dtype=storage.dtype.newbyteorder("="))


def _unpickle(stream: IO[bytes]) -> Any:
    return RestrictedUnpickler(stream).load()
