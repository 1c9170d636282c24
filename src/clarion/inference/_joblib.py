"""Read scikit-learn estimators pickled by joblib, with numpy alone and nothing executed.

A joblib file is one pickle in which every numpy array is a
``joblib.numpy_pickle.NumpyArrayWrapper``: the wrapper's pickled state (dtype, shape, order)
is followed in the file by a padding length byte, that many padding bytes, and the array's raw
bytes. joblib reads them from the file while it unpickles the wrapper; so does the wrapper
stand-in here, in ``__setstate__``. This needs Python's pure-Python unpickler
(``pickle._Unpickler``, as joblib itself uses): the C one reads ahead of the pickle.

Unpickling runs whatever callables a pickle names, so the unpickler resolves only an
allow-list: the scikit-learn classes given by the caller become inert ``PickledObject``
records of their state, a handful of numpy constructors are allowed, and any other global is
refused with ``UnsafeCheckpointError``.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np
import numpy.typing as npt

from clarion.inference._checkpoint import CheckpointFormatError, UnsafeCheckpointError

# What joblib's pickles of plain estimators need from numpy: dtypes, numpy scalars (a
# float64 attribute), and ndarray, which names the wrapped arrays' class.
_NUMPY_GLOBALS = frozenset(
    {
        ("numpy", "dtype"),
        ("numpy", "ndarray"),
        ("numpy", "float64"),
        ("numpy", "int64"),
        ("numpy._core.multiarray", "scalar"),
    }
)
_ARRAY_WRAPPER = ("joblib.numpy_pickle", "NumpyArrayWrapper")


class PickledObject:
    """An inert stand-in for a pickled object: its class name and its state dict."""

    class_name: ClassVar[str] = ""
    state: dict[str, Any]

    def __setstate__(self, state: object) -> None:
        if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
            raise CheckpointFormatError(f"{self.class_name} has no attribute dict")
        self.state = state

    def get(self, key: str) -> Any:
        """The attribute ``key`` of the pickled object; a missing one is a format error."""
        try:
            return self.state[key]
        except (AttributeError, KeyError):
            raise CheckpointFormatError(f"{self.class_name} has no {key}") from None


class _ArrayWrapper:
    """Stands in for joblib's ``NumpyArrayWrapper``: reads the array that follows it."""

    stream: ClassVar[IO[bytes]]
    array: npt.NDArray[Any]

    def __setstate__(self, state: object) -> None:
        if not isinstance(state, dict):
            raise CheckpointFormatError("array wrapper has no state")
        dtype, shape, order = state.get("dtype"), state.get("shape"), state.get("order")
        if not isinstance(dtype, np.dtype) or dtype.hasobject or order not in ("C", "F"):
            raise CheckpointFormatError("only plain C- or F-ordered arrays are supported")
        if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise CheckpointFormatError(f"bad array shape {shape!r}")
        if state.get("numpy_array_alignment_bytes") is not None:
            _read_exact(self.stream, _read_exact(self.stream, 1)[0])
        data = _read_exact(self.stream, math.prod(shape) * dtype.itemsize)
        flat = np.frombuffer(data, dtype=dtype)
        array = flat.reshape(shape[::-1]).T if order == "F" else flat.reshape(shape)
        self.array = np.ascontiguousarray(array, dtype=dtype.newbyteorder("="))


def _read_exact(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise CheckpointFormatError("joblib file is truncated")
    return data


class _RestrictedUnpickler(pickle._Unpickler):
    """The pure-Python unpickler, resolving only the allow-listed globals."""

    def __init__(self, stream: IO[bytes], classes: dict[tuple[str, str], type]) -> None:
        super().__init__(stream)
        # A wrapper class bound to this file, so that its arrays read from it.
        wrapper = type("NumpyArrayWrapper", (_ArrayWrapper,), {"stream": stream})
        self._classes: dict[tuple[str, str], type] = {**classes, _ARRAY_WRAPPER: wrapper}

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        if key in self._classes:
            return self._classes[key]
        if key in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        raise UnsafeCheckpointError(f"joblib file refers to {module}.{name}, which is not allowed")

    def persistent_load(self, pid: Any) -> Any:
        raise CheckpointFormatError(f"unsupported persistent id {pid!r}")


def load_joblib(path: Path, classes: Iterable[tuple[str, str]]) -> Any:
    """Unpickle a joblib file whose objects are of ``classes`` (``(module, name)`` pairs).

    Each such object comes back as a ``PickledObject``; each array as a numpy array.
    """
    stand_ins: dict[tuple[str, str], type] = {
        (module, name): type(name, (PickledObject,), {"class_name": f"{module}.{name}"})
        for module, name in classes
    }
    with path.open("rb") as stream:
        result = _RestrictedUnpickler(stream, stand_ins).load()
        if stream.read(1):
            raise CheckpointFormatError(f"{path.name} has data after its pickle")
    return _unwrap(result)


def _unwrap(value: Any) -> Any:
    """Replace every array wrapper in the unpickled tree by its array."""
    if isinstance(value, _ArrayWrapper):
        return value.array
    if isinstance(value, PickledObject):
        value.state = {key: _unwrap(item) for key, item in value.state.items()}
    elif isinstance(value, list):
        return [_unwrap(item) for item in value]
    elif isinstance(value, tuple):
        return tuple(_unwrap(item) for item in value)
    elif isinstance(value, dict):
        return {key: _unwrap(item) for key, item in value.items()}
    return value
