"""Every call into faiss, so that the rest of the package sees typed numpy in and out.

faiss is imported on first use, not with the package: importing ``clarion.search`` stays
cheap, and a machine without faiss-cpu can still run the exact index.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from clarion.errors import Unavailable
from clarion.search.errors import IndexFormatError

if TYPE_CHECKING:
    import faiss

Storage = Literal["float32", "float16"]
IdArray = npt.NDArray[np.int64]
Scores = npt.NDArray[np.float32]
Bitmap = npt.NDArray[np.uint8]

# faiss-cpu is 67 MB installed, a third of what keeps a plain install under 500 MB, so it is
# the `hnsw` extra: apps under DEFAULT_THRESHOLD vectors never use it.
INSTALL_HINT = "pip install 'clarion[hnsw]' (faiss-cpu)"


def available() -> bool:
    """Whether faiss can be imported here."""
    return importlib.util.find_spec("faiss") is not None


def require() -> None:
    """Raise ``Unavailable`` with the install command when faiss is missing."""
    if not available():
        raise Unavailable(f"faiss-cpu is not installed: {INSTALL_HINT}")


def new_graph(dim: int, m: int, ef_construction: int, storage: Storage) -> faiss.IndexHNSW:
    """An empty HNSW graph for inner-product search over vectors kept as ``storage``."""
    import faiss

    graph: faiss.IndexHNSW
    if storage == "float16":
        # The stub says ScalarQuantizer, but the C++ constructor takes the quantizer type.
        qtype = faiss.ScalarQuantizer.QT_fp16
        graph = faiss.IndexHNSWSQ(dim, qtype, m, faiss.METRIC_INNER_PRODUCT)  # type: ignore[arg-type]
        graph.train(np.zeros((1, dim), dtype=np.float32))  # fp16 needs no statistics
    else:
        graph = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = ef_construction
    return graph


def set_ef_construction(graph: faiss.IndexHNSW, ef_construction: int) -> None:
    """Use ``ef_construction`` for the vectors added from now on."""
    graph.hnsw.efConstruction = ef_construction


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run faiss's OpenMP loops on the calling thread alone for the ``with`` block.

    A single query gains little from a thread team, and waking one on a small machine costs
    more than the query when other threads (BLAS, other searches) hold the cores. Parallelism
    comes from concurrent searches instead. The setting is per thread in libgomp, so the
    thread count of a build on another thread is left alone.
    """
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def search_graph(
    graph: faiss.IndexHNSW, query: Scores, k: int, ef: int, bits: Bitmap | None
) -> tuple[Scores, IdArray]:
    """Walk the graph: the ``k`` best ids allowed by ``bits`` (``None``: all), -1 padded."""
    import faiss

    # faiss's stub omits SearchParametersHNSW, which the library has had since 1.7.3.
    params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
    params.efSearch = max(ef, k)
    # The selector reads ``bits`` through a raw pointer: both stay referenced until we return.
    selector = None if bits is None else faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))
    params.sel = selector
    with _one_thread():
        scores, ids = graph.search(query.reshape(1, -1), k, params=params)
    return np.asarray(scores[0], dtype=np.float32), np.asarray(ids[0], dtype=np.int64)


def scan_storage(
    graph: faiss.IndexHNSW, query: Scores, k: int, bits: Bitmap | None
) -> tuple[Scores, IdArray]:
    """Score every stored vector allowed by ``bits``: exact (up to storage precision)."""
    import faiss

    storage = faiss.downcast_index(graph.storage)
    params = faiss.SearchParameters()
    selector = None if bits is None else faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))
    params.sel = selector
    with _one_thread():
        scores, ids = storage.search(query.reshape(1, -1), k, params=params)
    return np.asarray(scores[0], dtype=np.float32), np.asarray(ids[0], dtype=np.int64)


def reconstruct(graph: faiss.IndexHNSW, ids: IdArray) -> npt.NDArray[np.float32]:
    """The stored vectors of ``ids`` as float32 rows."""
    if not len(ids):
        return np.empty((0, graph.d), dtype=np.float32)
    rows = graph.reconstruct_batch(np.ascontiguousarray(ids, dtype=np.int64))
    return np.asarray(rows, dtype=np.float32)


def write(graph: faiss.IndexHNSW, path: Path) -> None:
    """Write the graph and its vectors to ``path``."""
    import faiss

    faiss.write_index(graph, str(path))


def read(path: Path) -> faiss.IndexHNSW:
    """The graph written to ``path``; ``IndexFormatError`` if it is unreadable or not HNSW."""
    import faiss

    try:
        # read_index already returns the most derived class; a downcast wrapper would not own
        # the index, which would then be freed with the temporary that did.
        index = faiss.read_index(str(path))
    except RuntimeError as exc:  # faiss reports every I/O and format failure this way
        raise IndexFormatError(f"cannot read {path}: {exc}") from exc
    if not isinstance(index, faiss.IndexHNSW):
        raise IndexFormatError(f"{path} holds a {type(index).__name__}, not an HNSW graph")
    return index
