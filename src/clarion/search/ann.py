"""The approximate index: an HNSW graph (faiss) with keys, removals and filters around it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from clarion.search import _faiss
from clarion.search._arrays import (
    LOOKUP_SHARE,
    FloatMatrix,
    FloatVector,
    as_allowed,
    as_keys,
    as_matrix,
    as_query,
    last_wins,
    ranked,
)
from clarion.search._faiss import Bitmap, Storage
from clarion.search._rwlock import RWLock
from clarion.search._snapshot import open_snapshot, write_snapshot
from clarion.search.base import AllowedKeys, Generation, Hit, KeyArray, Keys, Manifest
from clarion.search.errors import IndexFormatError

if TYPE_CHECKING:
    import faiss

# Rows added per write-lock hold: a large add lets searches in between its chunks. At 1280-d
# on two cores a chunk takes a few tenths of a second, the longest a search waits.
_ADD_CHUNK = 512
# A page deeper than this share of the candidates is cheaper to score exactly than to walk.
_SCAN_SHARE = 4
# A filter widens the beam by (1/selectivity) ** _FILTER_WIDENING, at most _MAX_FILTER_WIDENING
# times: a beam of ef nodes meets only a fraction of allowed ones. 0.75 brought a 10% filter's
# recall@10 on clustered 1280-d vectors to that of an unfiltered search at ef 256.
_FILTER_WIDENING = 0.75
_MAX_FILTER_WIDENING = 8.0


@dataclass(frozen=True, slots=True)
class HnswParams:
    """Settings of an HNSW index. The defaults suit 384- to 1280-d embeddings.

    ``m`` and ``storage`` are fixed when the graph is built; the others may change on load.
    """

    m: int = 32  # links per node: recall and memory grow with it
    # The beam when inserting: 128 builds half as fast on 2 cores for +0.02 filtered recall.
    ef_construction: int = 64
    # The beam when searching (at least k): recall against latency. At 1M real-like vectors
    # (bench/search.py) 128 gave recall@10 0.947, 256 gave 0.962 for a fraction of a ms more.
    ef_search: int = 256
    # float16 halves memory and, being memory-bound, builds several times faster; cosine
    # scores move by about 1e-3, far below the gaps that separate real neighbours.
    storage: Storage = "float16"
    brute_force_limit: int = 4096  # a filter allowing at most this many keys is scored exactly
    brute_force_fraction: float = 0.01  # ... as is one allowing at most this share of the index

    def __post_init__(self) -> None:
        if min(self.m, self.ef_construction, self.ef_search) < 2:
            raise ValueError("m, ef_construction and ef_search must be at least 2")
        if self.storage not in ("float32", "float16"):
            raise ValueError(f"storage must be 'float32' or 'float16', got {self.storage!r}")
        if self.brute_force_limit < 0 or not 0.0 <= self.brute_force_fraction <= 1.0:
            raise ValueError("brute_force_limit must be >= 0 and brute_force_fraction in [0, 1]")


class HnswIndex:
    """Approximate nearest neighbours over an HNSW graph, with exact answers where cheap.

    Keys map to graph node ids. A removal tombstones its node: the node stays in the graph
    (other nodes route through it) but every search passes faiss a bitmap selector of live
    nodes, so it is never returned. Re-adding a key inserts a new node and tombstones the old.
    ``compact`` rebuilds the graph without tombstones; ``dead_count`` says when it is worth it.

    Filters: the allowed keys become a bitmap of node ids. When they are few
    (``brute_force_limit`` / ``brute_force_fraction``) the stored vectors they select are
    scored exactly; otherwise the graph search takes the bitmap as its selector, with a beam
    widened for selectivity. A search that comes back with fewer than ``k`` hits, or a page
    deep enough to cover a large share of the candidates, is answered by an exact scan of the
    stored vectors, so a page is never short.

    Thread safety: searches share a readers-writer lock and run in parallel (faiss releases
    the GIL). Writes hold it alone, in chunks of 512 rows, so one search sees each key either
    before or after a write, and a large add becomes visible chunk by chunk. Writes, ``tune``,
    ``save`` and ``compact`` are serialised by a second lock; searches go on during ``save``
    and during the rebuild of ``compact``.
    """

    kind: ClassVar[str] = "hnsw"

    # Set together by ``_reset``: the graph, each node's key and liveness, and the live nodes.
    _graph: faiss.IndexHNSW
    _key_of: KeyArray
    _live: npt.NDArray[np.bool_]
    _id_of: dict[int, int]
    _live_bits: Bitmap | None  # ``_live`` packed for faiss, built on demand

    def __init__(self, dim: int, params: HnswParams | None = None) -> None:
        if dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        _faiss.require()
        self._dim = dim
        self._params = params or HnswParams()
        self._lock = RWLock()
        self._writer = threading.Lock()
        self._reset(self._new_graph(), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.bool_))

    @property
    def dim(self) -> int:
        """The dimension of every vector in the index."""
        return self._dim

    @property
    def params(self) -> HnswParams:
        """The settings in force."""
        return self._params

    def tune(self, params: HnswParams) -> None:
        """Use ``params`` from now on; ``m`` and ``storage`` stay the graph's (as in ``load``).

        The beams and the brute-force limits change without a rebuild, so a deployment can
        trade recall for latency on a live index.
        """
        chosen = replace(params, m=self._params.m, storage=self._params.storage)
        with self._writer:  # ef_construction applies to the next add, not one under way
            _faiss.set_ef_construction(self._graph, chosen.ef_construction)
            self._params = chosen  # one assignment: a search reads the old or the new

    @property
    def dead_count(self) -> int:
        """Tombstoned graph nodes (removed or replaced vectors) that ``compact`` would drop."""
        return int(self._graph.ntotal) - len(self._id_of)

    def __len__(self) -> int:
        return len(self._id_of)

    def __contains__(self, key: object) -> bool:
        return key in self._id_of

    def keys(self) -> KeyArray:
        """A copy of every key with a vector, in node order."""
        with self._lock.read():
            total = int(self._graph.ntotal)
            return self._key_of[:total][self._live[:total]]

    def add(self, keys: Keys, vectors: npt.ArrayLike) -> None:
        """Set the vectors of ``keys``; see ``VectorIndex.add``."""
        key_array = as_keys(keys)
        matrix = as_matrix(vectors, self._dim, len(key_array))
        key_array, matrix = last_wins(key_array, matrix)
        with self._writer:
            for start in range(0, len(key_array), _ADD_CHUNK):
                chunk = slice(start, start + _ADD_CHUNK)
                with self._lock.write():
                    self._insert(key_array[chunk], matrix[chunk])

    def remove(self, keys: Keys) -> int:
        """Remove ``keys``; see ``VectorIndex.remove``."""
        key_array = as_keys(keys)
        with self._writer, self._lock.write():
            pop = self._id_of.pop
            ids = [node for node in (pop(key, -1) for key in key_array.tolist()) if node >= 0]
            self._live[ids] = False
            self._live_bits = None
        return len(ids)

    def search(
        self, query: npt.ArrayLike, k: int, *, allowed: AllowedKeys | None = None
    ) -> list[Hit]:
        """The ``k`` best hits, approximately; see ``VectorIndex.search`` and the class notes."""
        vector = as_query(query, self._dim)
        wanted = None if allowed is None else as_allowed(allowed)
        if k <= 0:
            return []
        with self._lock.read():
            if wanted is None:
                return self._search_all(vector, k)
            return self._search_some(vector, k, wanted)

    def compact(self) -> None:
        """Rebuild the graph from the live vectors alone, dropping tombstones.

        Searches go on against the old graph during the rebuild; writes wait for it.
        """
        with self._writer:
            fresh = HnswIndex(self._dim, self._params)
            # Writes are held back by ``_writer``, so the graph is stable without the lock.
            live_ids = np.flatnonzero(self._live[: int(self._graph.ntotal)])
            for start in range(0, len(live_ids), _ADD_CHUNK):
                ids = live_ids[start : start + _ADD_CHUNK]
                fresh._insert(self._key_of[ids], _faiss.reconstruct(self._graph, ids))
            with self._lock.write():
                self._reset(fresh._graph, fresh._key_of, fresh._live)

    def save(self, directory: str | Path, *, generation: Generation) -> Manifest:
        """Write the graph, its vectors and its keys atomically; see ``VectorIndex.save``."""
        with self._writer:  # searches go on; writes wait
            total = int(self._graph.ntotal)
            manifest = Manifest(
                kind=self.kind,
                dim=self._dim,
                count=len(self._id_of),
                generation=generation,
                params=asdict(self._params),
            )
            return write_snapshot(directory, manifest, self._writer_of(total))

    @classmethod
    def load(cls, directory: str | Path, params: HnswParams | None = None) -> HnswIndex:
        """The index saved in ``directory``; ``IndexFormatError`` if there is none or it is bad.

        ``params`` replaces the saved search settings; ``m`` and ``storage`` are the graph's.
        """
        manifest, data = open_snapshot(directory, cls.kind)
        saved = _saved_params(manifest.params, directory)
        chosen = replace(params or saved, m=saved.m, storage=saved.storage)
        graph = _faiss.read(data / "graph.faiss")
        try:
            key_of = np.load(data / "keys.npy")
            live = np.load(data / "live.npy")
        except (OSError, ValueError) as exc:
            raise IndexFormatError(f"cannot read the index in {directory}: {exc}") from exc
        _check_loaded(manifest, graph, key_of, live, directory)
        index = cls(manifest.dim, chosen)
        _faiss.set_ef_construction(graph, chosen.ef_construction)
        index._reset(graph, key_of.astype(np.int64), live.astype(np.bool_))
        if len(index) != manifest.count:
            raise IndexFormatError(f"the index in {directory} repeats a live key")
        return index

    # searching (under the read lock)

    def _search_all(self, vector: FloatVector, k: int) -> list[Hit]:
        live = len(self._id_of)
        if not live:
            return []
        bits = self._live_bitmap() if self.dead_count else None
        if live <= self._params.brute_force_limit or k * _SCAN_SHARE >= live:
            return self._scan(vector, min(k, live), bits)
        return self._walk(vector, min(k, live), self._params.ef_search, bits)

    def _search_some(self, vector: FloatVector, k: int, wanted: KeyArray) -> list[Hit]:
        ids = self._ids_of(wanted)
        count, live = len(ids), len(self._id_of)
        if not count:
            return []
        bits = self._bitmap(ids)
        few = max(self._params.brute_force_limit, self._params.brute_force_fraction * live)
        if count <= few or k * _SCAN_SHARE >= count:
            return self._scan(vector, min(k, count), bits)
        # Fewer allowed nodes on the path: widen the beam so enough of them are met.
        widening = min(_MAX_FILTER_WIDENING, (live / count) ** _FILTER_WIDENING)
        return self._walk(vector, k, int(self._params.ef_search * widening), bits)

    def _walk(self, vector: FloatVector, k: int, ef: int, bits: Bitmap | None) -> list[Hit]:
        scores, ids = _faiss.search_graph(self._graph, vector, k, ef, bits)
        found = ids >= 0
        if found.sum() < k:  # the beam ran dry of allowed nodes: answer exactly instead
            return self._scan(vector, k, bits)
        return ranked(self._key_of[ids[found]], scores[found], k)

    def _scan(self, vector: FloatVector, k: int, bits: Bitmap | None) -> list[Hit]:
        scores, ids = _faiss.scan_storage(self._graph, vector, k, bits)
        found = ids >= 0
        return ranked(self._key_of[ids[found]], scores[found], k)

    def _ids_of(self, wanted: KeyArray) -> npt.NDArray[np.int64]:
        """The live node ids of the ``wanted`` keys."""
        if len(wanted) * LOOKUP_SHARE <= len(self._id_of):  # a few keys: look each one up
            get = self._id_of.get
            ids = np.fromiter((get(key, -1) for key in wanted.tolist()), np.int64, len(wanted))
            return ids[ids >= 0]
        total = int(self._graph.ntotal)
        allowed = self._live[:total] & np.isin(self._key_of[:total], wanted)
        return np.flatnonzero(allowed).astype(np.int64)

    def _bitmap(self, ids: npt.NDArray[np.int64]) -> Bitmap:
        mask = np.zeros(int(self._graph.ntotal), dtype=np.bool_)
        mask[ids] = True
        return np.packbits(mask, bitorder="little")

    def _live_bitmap(self) -> Bitmap:
        # Readers may race to fill the cache; they compute the same value, so either wins.
        bits = self._live_bits
        if bits is None:
            bits = np.packbits(self._live[: int(self._graph.ntotal)], bitorder="little")
            self._live_bits = bits
        return bits

    # writing (under the write lock)

    def _new_graph(self) -> faiss.IndexHNSW:
        p = self._params
        return _faiss.new_graph(self._dim, p.m, p.ef_construction, p.storage)

    def _reset(self, graph: faiss.IndexHNSW, key_of: KeyArray, live: npt.NDArray[np.bool_]) -> None:
        self._graph = graph
        self._key_of = key_of
        self._live = live
        live_ids = np.flatnonzero(live)
        self._id_of = dict(zip(key_of[live_ids].tolist(), live_ids.tolist(), strict=True))
        self._live_bits = None

    def _insert(self, keys: KeyArray, matrix: FloatMatrix) -> None:
        get = self._id_of.get
        replaced = [node for node in (get(key, -1) for key in keys.tolist()) if node >= 0]
        self._live[replaced] = False
        start = int(self._graph.ntotal)
        self._graph.add(matrix)
        end = start + len(keys)
        self._reserve(end)
        self._key_of[start:end] = keys
        self._live[start:end] = True
        self._id_of.update(zip(keys.tolist(), range(start, end), strict=True))
        self._live_bits = None

    def _reserve(self, needed: int) -> None:
        if needed <= len(self._key_of):
            return
        capacity = max(needed, 2 * len(self._key_of), 64)  # doubling: amortised O(1) per node
        self._key_of = _grown(self._key_of, capacity)
        self._live = _grown(self._live, capacity)

    def _writer_of(self, total: int) -> Callable[[Path], None]:
        def write(data: Path) -> None:
            _faiss.write(self._graph, data / "graph.faiss")
            np.save(data / "keys.npy", self._key_of[:total])
            np.save(data / "live.npy", self._live[:total])

        return write


def _grown(array: npt.NDArray[Any], capacity: int) -> npt.NDArray[Any]:
    grown = np.zeros(capacity, dtype=array.dtype)
    grown[: len(array)] = array
    return grown


def _saved_params(raw: Any, directory: str | Path) -> HnswParams:
    try:
        return HnswParams(**raw)
    except (TypeError, ValueError) as exc:
        raise IndexFormatError(f"the index in {directory} has bad settings: {exc}") from exc


def _check_loaded(
    manifest: Manifest,
    graph: faiss.IndexHNSW,
    key_of: npt.NDArray[Any],
    live: npt.NDArray[Any],
    directory: str | Path,
) -> None:
    total = int(graph.ntotal)
    if (
        graph.d != manifest.dim
        or key_of.shape != (total,)
        or live.shape != (total,)
        or key_of.dtype != np.int64
        or live.dtype != np.bool_
        or int(live.sum()) != manifest.count
    ):
        raise IndexFormatError(f"the index in {directory} does not match its manifest")
