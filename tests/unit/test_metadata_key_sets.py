"""The two forms a metadata pair's inputs are kept in (``metadata_sets.key_set``): a mask for a
pair many inputs have, sorted keys for a rare one. Both must answer exactly as a set would,
for candidates inside, between, below and past the kept keys."""

from __future__ import annotations

import numpy as np
import pytest

from clarion.storage.sql import metadata_sets
from clarion.storage.sql.metadata_sets import key_set


def _keys(values: list[int]) -> metadata_sets.Keys:
    return np.array(sorted(values), dtype=np.int64)


@pytest.mark.parametrize(
    ("kept", "form"),
    [
        (list(range(1, 400, 3)), "_Mask"),  # one key in three: a mask
        ([5, 90_000, 700_000], "_Sorted"),  # three keys spread over 700,000: sorted keys
        ([], "_Sorted"),
    ],
)
def test_a_key_set_answers_as_a_set_in_either_form(kept: list[int], form: str) -> None:
    found = key_set(_keys(kept))
    assert type(found).__name__ == form
    candidates = [1, 2, 4, 5, 6, 397, 398, 399, 400, 401, 89_999, 90_000, 700_000, 10**9]
    answer = found.contains(np.array(candidates, dtype=np.int64))
    assert answer.dtype == np.bool_
    assert [key for key, yes in zip(candidates, answer.tolist(), strict=True) if yes] == [
        key for key in candidates if key in set(kept)
    ]


def test_a_mask_is_never_much_larger_than_the_sorted_keys() -> None:
    dense = key_set(_keys(list(range(1, 100_001, 10))))  # 10,000 keys over 100,000
    sparse = key_set(_keys([1, 2, 3, 10_000_000]))
    assert type(dense).__name__ == "_Mask"
    assert dense.nbytes <= metadata_sets.MASK_SPREAD * 10_000 * 8
    assert type(sparse).__name__ == "_Sorted"
    assert sparse.nbytes == 4 * 8
    # Dense enough for a mask, but over the cap: the sorted keys (which will not be kept).
    capped = key_set(_keys(list(range(1, 100_001, 10))), max_bytes=50_000)
    assert type(capped).__name__ == "_Sorted"
