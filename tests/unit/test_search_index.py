"""The vector indexes: the exact one against brute force, the HNSW one against the exact one."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from clarion.errors import Unavailable
from clarion.search import (
    AdaptiveIndex,
    AllowedKeys,
    ExactIndex,
    Hit,
    HnswIndex,
    HnswParams,
    IndexFormatError,
    VectorIndex,
    _faiss,
    _snapshot,
    load_index,
    read_manifest,
)
from clarion.search._rwlock import RWLock

Matrix = npt.NDArray[np.float32]

# An HNSW index that always walks its graph: no brute-force shortcut for small filters.
GRAPH_ONLY = HnswParams(brute_force_limit=0, brute_force_fraction=0.0)


def unit(rows: npt.NDArray[np.floating]) -> Matrix:
    norms: npt.NDArray[np.floating] = np.linalg.norm(rows, axis=-1, keepdims=True)
    return (rows / norms).astype(np.float32)


def random_unit(count: int, dim: int, seed: int = 0) -> Matrix:
    return unit(np.random.default_rng(seed).standard_normal((count, dim)))


def brute_force(
    keys: npt.NDArray[np.int64], vectors: Matrix, query: Matrix, k: int
) -> list[tuple[int, float]]:
    """The ranking rule spelt out: clipped score descending, then key ascending."""
    scores = np.clip(vectors @ query, 0.0, 1.0)
    order = sorted(range(len(keys)), key=lambda row: (-scores[row], keys[row]))[:k]
    return [(int(keys[row]), float(scores[row])) for row in order]


def pairs(hits: list[Hit]) -> list[tuple[int, float]]:
    return [(hit.key, hit.score) for hit in hits]


def assert_same_ranking(hits: list[Hit], expected: list[tuple[int, float]]) -> None:
    assert [hit.key for hit in hits] == [key for key, _ in expected]
    np.testing.assert_allclose([hit.score for hit in hits], [s for _, s in expected], atol=1e-5)


def assert_well_formed(hits: list[Hit]) -> None:
    scores = [hit.score for hit in hits]
    assert all(0.0 <= score <= 1.0 for score in scores)
    assert scores == sorted(scores, reverse=True)
    assert len({hit.key for hit in hits}) == len(hits)


def recall(
    index: VectorIndex, exact: ExactIndex, queries: Matrix, allowed: AllowedKeys | None = None
) -> float:
    found = 0
    for query in queries:
        truth = {hit.key for hit in exact.search(query, 10, allowed=allowed)}
        found += len(truth & {hit.key for hit in index.search(query, 10, allowed=allowed)})
    return found / (10 * len(queries))


IndexFactory = Callable[[int], VectorIndex]

FACTORIES: list[object] = [
    pytest.param(ExactIndex, id="exact"),
    pytest.param(lambda dim: HnswIndex(dim), id="hnsw"),
    pytest.param(lambda dim: HnswIndex(dim, GRAPH_ONLY), id="hnsw-graph"),
    pytest.param(lambda dim: HnswIndex(dim, HnswParams(storage="float32")), id="hnsw-f32"),
    pytest.param(lambda dim: AdaptiveIndex(dim, threshold=300), id="adaptive"),
]


@pytest.fixture(params=FACTORIES)
def make_index(request: pytest.FixtureRequest) -> IndexFactory:
    factory: IndexFactory = request.param
    return factory


# The exact index against brute force


def test_exact_top_k_order_and_scores_match_brute_force() -> None:
    keys = np.arange(1000, 3000, dtype=np.int64)
    vectors = random_unit(len(keys), 32)
    index = ExactIndex(32)
    index.add(keys, vectors)
    for query in random_unit(20, 32, seed=1):
        assert_same_ranking(index.search(query, 15), brute_force(keys, vectors, query, 15))


def test_exact_ties_are_ordered_by_key_even_at_the_page_boundary() -> None:
    vector = random_unit(1, 8)[0]
    index = ExactIndex(8)
    index.add([50, 7, 30, 12, 99], np.tile(vector, (5, 1)))
    assert [hit.key for hit in index.search(vector, 3)] == [7, 12, 30]


def test_scores_are_clipped_to_the_unit_interval(make_index: IndexFactory) -> None:
    query = random_unit(1, 16)[0]
    index = make_index(16)
    assert isinstance(index, VectorIndex)
    index.add([1, 2, 3], np.stack([query, -query, unit(query + 1e-3)]))
    hits = index.search(query, 3)
    assert_well_formed(hits)
    assert hits[0].score == pytest.approx(1.0, abs=1e-3)
    assert hits[-1] == Hit(2, 0.0)


def test_filters_small_and_large_match_brute_force_on_the_allowed_keys() -> None:
    keys = np.arange(5000, dtype=np.int64)
    vectors = random_unit(len(keys), 24)
    index = ExactIndex(24)
    index.add(keys, vectors)
    query = random_unit(1, 24, seed=2)[0]
    rng = np.random.default_rng(3)
    small = {int(key) for key in rng.choice(keys, 40, replace=False)} | {10**9}  # one unknown
    large = rng.choice(keys, 3000, replace=False)  # past the look-up-each-key size
    for allowed in (small, large, np.concatenate([large, large[:10]])):
        rows = np.isin(keys, np.fromiter(allowed, np.int64))
        expected = brute_force(keys[rows], vectors[rows], query, 25)
        assert_same_ranking(index.search(query, 25, allowed=allowed), expected)


def test_a_filter_with_fewer_matches_than_k_returns_them_all(make_index: IndexFactory) -> None:
    vectors = random_unit(2000, 16)
    index = make_index(16)
    index.add(np.arange(2000), vectors)
    allowed = {3, 500, 1999, 12345}
    hits = index.search(vectors[0], 10, allowed=allowed)
    assert {hit.key for hit in hits} == {3, 500, 1999}
    assert index.search(vectors[0], 10, allowed=set()) == []
    assert index.search(vectors[0], 10, allowed=np.array([], dtype=np.int64)) == []


def test_a_narrow_filter_still_fills_the_page(make_index: IndexFactory) -> None:
    keys = np.arange(4000, dtype=np.int64)
    index = make_index(16)
    index.add(keys, random_unit(4000, 16))
    allowed = keys[::20]  # 5%: 200 keys
    for query in random_unit(5, 16, seed=4):
        hits = index.search(query, 30, allowed=allowed)
        assert len(hits) == 30
        assert {hit.key for hit in hits} <= set(allowed.tolist())
        assert_well_formed(hits)


def test_deep_pages_are_slices_of_one_ranking(make_index: IndexFactory) -> None:
    keys = np.arange(600, dtype=np.int64)
    index = make_index(16)
    index.add(keys, random_unit(600, 16))
    query = random_unit(1, 16, seed=5)[0]
    per_page = 50
    full = index.search(query, 600)
    assert sorted(hit.key for hit in full) == keys.tolist()
    for page in (1, 4, 12):
        hits = index.search(query, page * per_page)
        assert len(hits) == page * per_page
        assert_well_formed(hits)
    assert len(index.search(query, 10_000)) == 600  # past the end: everything, once
    deep = index.search(query, 400, allowed=keys[keys % 2 == 0])
    assert len(deep) == 300


def test_exact_deep_pages_match_brute_force() -> None:
    keys = np.arange(600, dtype=np.int64)
    vectors = random_unit(600, 16)
    index = ExactIndex(16)
    index.add(keys, vectors)
    query = random_unit(1, 16, seed=5)[0]
    ranking = brute_force(keys, vectors, query, 600)
    for page in (1, 3, 12):
        hits = index.search(query, page * 50)
        assert_same_ranking(hits[(page - 1) * 50 :], ranking[(page - 1) * 50 : page * 50])


# Writes


def test_replace_remove_and_re_add(make_index: IndexFactory) -> None:
    vectors = random_unit(500, 16)
    index = make_index(16)
    index.add(np.arange(500), vectors)
    target = vectors[7]
    index.add([7], [-target])  # re-indexed: the old vector must not be found any more
    assert 7 not in {hit.key for hit in index.search(target, 5)}
    assert len(index) == 500
    assert index.remove([7, 8, 8, 10**6]) == 2
    assert 7 not in index and 8 not in index and len(index) == 498
    assert not {7, 8} & {hit.key for hit in index.search(vectors[8], 500)}
    assert index.search(vectors[8], 5, allowed={7, 8}) == []
    index.add([8], [vectors[8]])
    assert index.search(vectors[8], 1)[0].key == 8
    assert sorted(index.keys().tolist()) == [k for k in range(500) if k != 7]


def test_the_last_vector_of_a_repeated_key_wins(make_index: IndexFactory) -> None:
    vectors = random_unit(3, 8)
    index = make_index(8)
    index.add([5, 6, 5], vectors)
    assert len(index) == 2
    [hit] = index.search(vectors[2], 1)
    assert hit.key == 5 and hit.score == pytest.approx(1.0, abs=1e-3)


def test_exact_index_follows_a_random_sequence_of_writes() -> None:
    # Swap-with-last removals and capacity changes must keep key -> vector exact.
    rng = np.random.default_rng(6)
    index = ExactIndex(8)
    model: dict[int, Matrix] = {}
    for _ in range(60):
        keys = rng.integers(0, 400, rng.integers(1, 40))
        if rng.random() < 0.55:
            vectors = random_unit(len(keys), 8, seed=int(rng.integers(1 << 30)))
            index.add(keys, vectors)
            model.update(zip(keys.tolist(), vectors, strict=True))
        else:
            index.remove(keys)
            for key in keys.tolist():
                model.pop(key, None)
    assert len(index) == len(model)
    model_keys = np.array(sorted(model), dtype=np.int64)
    model_vectors = np.stack([model[key] for key in model_keys.tolist()])
    query = random_unit(1, 8, seed=7)[0]
    assert_same_ranking(index.search(query, 50), brute_force(model_keys, model_vectors, query, 50))


def test_empty_batches_and_an_empty_index() -> None:
    index = ExactIndex(4)
    index.add(np.empty(0, np.int64), np.empty((0, 0), np.float32))  # what a no-change log gives
    assert index.search(np.ones(4, np.float32) / 2, 5) == []
    assert index.remove([]) == 0
    graph = HnswIndex(4)
    graph.add([], [])
    assert graph.search(np.ones(4, np.float32) / 2, 5) == []


@pytest.mark.parametrize(
    ("keys", "vectors", "message"),
    [
        pytest.param([1, 2], np.zeros((2, 5), np.float32), "shape", id="wrong-dim"),
        pytest.param([1, 2], np.zeros((3, 4), np.float32), "shape", id="wrong-count"),
        pytest.param([1], np.array([[np.nan, 0, 0, 0]]), "finite", id="nan"),
        pytest.param(np.array([1.5]), np.zeros((1, 4)), "integers", id="float-keys"),
    ],
)
def test_bad_input_is_rejected(
    make_index: IndexFactory, keys: object, vectors: object, message: str
) -> None:
    index = make_index(4)
    with pytest.raises(ValueError, match=message):
        index.add(keys, vectors)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="query"):
        index.search(np.zeros(5, np.float32), 1)


# Persistence


def test_save_and_load_round_trip(make_index: IndexFactory, tmp_path: Path) -> None:
    vectors = random_unit(800, 16)
    index = make_index(16)
    index.add(np.arange(800), vectors)
    index.remove(np.arange(0, 800, 3))
    index.add([1], [vectors[2]])  # a replaced vector: the graph keeps a tombstone
    manifest = index.save(tmp_path / "idx", generation=41)
    assert read_manifest(tmp_path / "idx") == manifest
    assert (manifest.dim, manifest.count, manifest.generation) == (16, len(index), 41)
    loaded = load_index(tmp_path / "idx")
    assert sorted(loaded.keys().tolist()) == sorted(index.keys().tolist())
    for query in vectors[:20]:
        assert pairs(loaded.search(query, 10)) == pairs(index.search(query, 10))
    loaded.add([0], [vectors[0]])  # a loaded index takes writes
    assert loaded.search(vectors[0], 1)[0].key == 0


def test_a_save_replaces_the_previous_one_and_cleans_up(tmp_path: Path) -> None:
    index = ExactIndex(4)
    index.add([1], random_unit(1, 4))
    index.save(tmp_path, generation="a")
    index.add([2], random_unit(1, 4, seed=1))
    manifest = index.save(tmp_path, generation="b")
    assert {path.name for path in tmp_path.iterdir()} == {"manifest.json", manifest.data}
    assert read_manifest(tmp_path) == manifest
    assert len(load_index(tmp_path)) == 2


def test_a_save_that_dies_midway_leaves_the_old_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = ExactIndex(4)
    index.add([1], random_unit(1, 4))
    index.save(tmp_path, generation=1)
    index.add([2], random_unit(1, 4, seed=1))

    def crash(directory: Path, manifest: object, write_files: Callable[[Path], None]) -> None:
        data = directory / "data-half-written"
        data.mkdir()
        write_files(data)
        raise OSError("disk full")

    monkeypatch.setattr("clarion.search.exact.write_snapshot", crash)
    with pytest.raises(OSError, match="disk full"):
        index.save(tmp_path, generation=2)
    monkeypatch.undo()
    assert read_manifest(tmp_path).generation == 1  # type: ignore[union-attr]
    assert load_index(tmp_path).keys().tolist() == [1]
    index.save(tmp_path, generation=3)  # the orphan is removed by the next save
    assert not (tmp_path / "data-half-written").exists()


def test_loading_what_is_not_there_or_not_right(tmp_path: Path) -> None:
    assert read_manifest(tmp_path) is None
    with pytest.raises(IndexFormatError, match="no saved index"):
        load_index(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(IndexFormatError):
        read_manifest(tmp_path)
    index = ExactIndex(4)
    index.add([1], random_unit(1, 4))
    index.save(tmp_path, generation=1)
    with pytest.raises(IndexFormatError, match="not 'hnsw'"):
        HnswIndex.load(tmp_path)
    manifest_path = tmp_path / _snapshot.MANIFEST_NAME
    raw = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**raw, "format_version": 99}))
    with pytest.raises(IndexFormatError, match="format 99"):
        load_index(tmp_path)
    manifest_path.write_text(json.dumps({**raw, "count": 5}))
    with pytest.raises(IndexFormatError, match="does not match"):
        load_index(tmp_path)
    manifest_path.write_text(json.dumps({**raw, "data": "data-x/../.."}))
    with pytest.raises(IndexFormatError, match="missing folder"):
        load_index(tmp_path)
    manifest_path.write_text(json.dumps(raw))
    (tmp_path / raw["data"] / "vectors.npy").write_bytes(b"garbage")
    with pytest.raises(IndexFormatError):
        load_index(tmp_path)


def test_hnsw_load_keeps_the_graph_settings_and_takes_new_search_ones(tmp_path: Path) -> None:
    index = HnswIndex(8, HnswParams(m=8, storage="float32"))
    index.add(np.arange(100), random_unit(100, 8))
    index.save(tmp_path, generation=0)
    loaded = HnswIndex.load(tmp_path, HnswParams(m=48, ef_search=400))
    assert (loaded.params.m, loaded.params.storage, loaded.params.ef_search) == (
        8,
        "float32",
        400,
    )
    loaded.tune(HnswParams(m=4, ef_search=50, storage="float16"))
    assert (loaded.params.m, loaded.params.storage, loaded.params.ef_search) == (8, "float32", 50)
    assert len(loaded.search(random_unit(1, 8)[0], 5)) == 5


def test_hnsw_compaction_drops_tombstones_and_keeps_answers() -> None:
    vectors = random_unit(1000, 16)
    index = HnswIndex(16)
    index.add(np.arange(1000), vectors)
    index.remove(np.arange(0, 1000, 2))
    index.add([1], [vectors[0]])
    assert index.dead_count == 501
    before = [pairs(index.search(query, 10)) for query in vectors[:10]]
    index.compact()
    assert index.dead_count == 0 and len(index) == 500
    assert [pairs(index.search(query, 10)) for query in vectors[:10]] == before


# The ANN index against the exact one


def test_hnsw_recall_at_1280_dimensions() -> None:
    vectors = random_unit(3000, 1280)
    queries = random_unit(30, 1280, seed=1)
    exact = ExactIndex(1280)
    exact.add(np.arange(3000), vectors)
    graph = HnswIndex(1280, replace(GRAPH_ONLY, ef_construction=64, ef_search=256))
    graph.add(np.arange(3000), vectors)
    assert recall(graph, exact, queries) >= 0.95
    allowed = np.arange(0, 3000, 4)  # 25%: walked with a selector, not scored exactly
    assert recall(graph, exact, queries, allowed=allowed) >= 0.95


def test_hnsw_small_filters_are_scored_exactly() -> None:
    vectors = random_unit(6000, 32)
    exact, graph = ExactIndex(32), HnswIndex(32)
    for index in (exact, graph):
        index.add(np.arange(6000), vectors)
    allowed = set(range(0, 6000, 50))  # 120 keys: below brute_force_limit
    for query in random_unit(5, 32, seed=1):
        got, expected = (
            graph.search(query, 20, allowed=allowed),
            exact.search(query, 20, allowed=allowed),
        )
        assert [hit.key for hit in got] == [hit.key for hit in expected]
        np.testing.assert_allclose([h.score for h in got], [h.score for h in expected], atol=2e-3)


def test_hnsw_falls_back_to_exact_when_the_graph_comes_back_short(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vectors = random_unit(3000, 16)
    exact, graph = ExactIndex(16), HnswIndex(16, GRAPH_ONLY)
    for index in (exact, graph):
        index.add(np.arange(3000), vectors)

    def short(*args: object) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        k = int(args[2])  # type: ignore[call-overload]
        return np.zeros(k, np.float32), np.full(k, -1, np.int64)

    monkeypatch.setattr(_faiss, "search_graph", short)
    query = random_unit(1, 16, seed=1)[0]
    allowed = np.arange(0, 3000, 3)
    assert [h.key for h in graph.search(query, 10, allowed=allowed)] == [
        h.key for h in exact.search(query, 10, allowed=allowed)
    ]
    assert [h.key for h in graph.search(query, 10)] == [h.key for h in exact.search(query, 10)]


@pytest.mark.slow
def test_hnsw_recall_on_50k_random_unit_vectors() -> None:
    # Random unit vectors are the hard case for a graph index (real embeddings cluster), so
    # this takes a wide beam; the defaults target clustered features.
    count, dim = 50_000, 128
    vectors = random_unit(count, dim)
    queries = random_unit(60, dim, seed=1)
    exact = ExactIndex(dim)
    exact.add(np.arange(count), vectors)
    graph = HnswIndex(dim, replace(GRAPH_ONLY, ef_construction=64, ef_search=512))
    graph.add(np.arange(count), vectors)
    assert recall(graph, exact, queries) >= 0.95
    allowed = np.flatnonzero(np.random.default_rng(2).random(count) < 0.1)
    assert recall(graph, exact, queries, allowed=allowed) >= 0.95

    removed = np.arange(0, count, 7)
    graph.remove(removed)
    exact.remove(removed)
    gone = set(removed.tolist())
    for query in queries[:20]:
        assert not gone & {hit.key for hit in graph.search(query, 50)}
        assert not gone & {hit.key for hit in graph.search(query, 50, allowed=allowed)}
    assert recall(graph, exact, queries[:30]) >= 0.95
    graph.add(removed[:10], vectors[removed[:10]])
    assert graph.search(vectors[0], 1)[0].key == 0


# Switching from exact to HNSW


def test_adaptive_switches_at_the_threshold_and_keeps_everything(tmp_path: Path) -> None:
    vectors = random_unit(700, 16)
    index = AdaptiveIndex(16, threshold=500)
    index.add(np.arange(400), vectors[:400])
    index.remove([0])
    assert index.backend.kind == "exact"
    index.add(np.arange(400, 700), vectors[400:])
    assert index.backend.kind == "hnsw" and len(index) == 699 and 0 not in index
    assert index.search(vectors[650], 1)[0].key == 650
    index.save(tmp_path, generation=9)
    assert AdaptiveIndex.load(tmp_path).backend.kind == "hnsw"


def test_adaptive_load_switches_a_large_exact_snapshot(tmp_path: Path) -> None:
    exact = ExactIndex(8)
    exact.add(np.arange(300), random_unit(300, 8))
    exact.save(tmp_path, generation=1)
    assert AdaptiveIndex.load(tmp_path, threshold=1000).backend.kind == "exact"
    assert AdaptiveIndex.load(tmp_path, threshold=200).backend.kind == "hnsw"


def test_without_faiss_hnsw_says_how_to_install_and_adaptive_stays_exact(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_faiss, "available", lambda: False)
    with pytest.raises(Unavailable, match="pip install"):
        HnswIndex(8)
    index = AdaptiveIndex(8, threshold=10)
    with caplog.at_level(logging.WARNING, logger="clarion.search.adaptive"):
        index.add(np.arange(20), random_unit(20, 8))
    assert index.backend.kind == "exact" and len(index) == 20
    assert "faiss-cpu" in caplog.text


# Concurrency


def test_rwlock_lets_readers_share_and_writers_exclude() -> None:
    lock = RWLock()
    events: list[str] = []
    reader_in = threading.Event()

    def second_reader() -> None:
        with lock.read():
            events.append("second reader")

    def writer() -> None:
        with lock.write():
            events.append("writer")

    with lock.read():
        thread = threading.Thread(target=second_reader)
        thread.start()
        thread.join(5)  # a reader enters while another holds the lock
        reader_in.set()
        thread = threading.Thread(target=writer)
        thread.start()
        time.sleep(0.05)
        assert events == ["second reader"]  # the writer waits for the reader to leave
    thread.join(5)
    assert events == ["second reader", "writer"]


CONCURRENT = [
    *FACTORIES,
    pytest.param(lambda dim: AdaptiveIndex(dim, threshold=750), id="adaptive-switching"),
]


@pytest.mark.parametrize("factory", CONCURRENT)
def test_searches_run_while_another_thread_writes(factory: IndexFactory) -> None:
    dim, rounds = 16, 30
    stable = random_unit(400, dim)  # keys 0..399: never written again
    doomed = np.arange(2000, 2000 + 10 * rounds)  # removed ten a round, never re-added
    index = factory(dim)
    index.add(np.arange(400), stable)
    index.add(doomed, random_unit(len(doomed), dim, seed=1))
    removed: list[int] = []  # appended once remove() has returned
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for turn in range(rounds):
                churn = np.arange(1000 + 10 * turn, 1010 + 10 * turn)
                index.add(churn, random_unit(10, dim, seed=10 + turn))
                index.add(
                    5000 + np.arange(20 * turn, 20 * turn + 20), random_unit(20, dim, 100 + turn)
                )
                index.remove(churn[::2])
                batch = doomed[10 * turn : 10 * turn + 10]
                index.remove(batch)
                removed.extend(batch.tolist())
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    def reader(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            while not done.is_set():
                gone = set(removed[: len(removed)])
                row = int(rng.integers(400))
                allowed = None if rng.random() < 0.5 else set(range(0, 400, 3)) | {row}
                hits = index.search(stable[row], 20, allowed=allowed)
                assert_well_formed(hits)
                assert hits[0].key == row and hits[0].score > 0.99
                assert not gone & {hit.key for hit in hits}
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(seed,)) for seed in range(2)]
    threads.append(threading.Thread(target=writer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors[0]
    assert len(index) == 400 + 5 * rounds + 20 * rounds
    assert not set(doomed.tolist()) & set(index.keys().tolist())
