"""One vector rank under filters: the nearest inputs that pass, and how many pass in all.

Two plans:

- filter first: the filters run in SQL and the index is searched among the inputs they allow.
  Exact totals; the cost grows with the number of inputs allowed, which at a million inputs
  and a filter allowing 10% is a hundred thousand keys to read per query.
- candidates first (post-filtering), for large indexes: the index's nearest candidates are
  checked against the filters, by key, a few hundred of them however large the app. How many
  to fetch comes from the share of a sample of the index that passes (kept for
  ``SHARE_SECONDS``), which also estimates the total (``Hit`` counts are estimates in
  Clarifai's API too). When too few candidates pass, more are fetched once, then the plan
  falls back to filtering first, so a page is never short.
"""

from __future__ import annotations

import math
import operator
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from clarion.runtime.frame_indexes import AppIndexes
from clarion.storage.accounts import AppRecord
from clarion.storage.searches import InputFilter, SearchStore

# Candidates first from this index size on; below it a filter costs a few milliseconds in SQL.
POST_FILTER_FROM = 20_000
# At most this many candidates per query: a narrower filter is run first instead.
MAX_CANDIDATES = 2_000
# A filter's sampled share is reused this long (it only sizes fetches and estimates totals).
SHARE_SECONDS = 30.0
_SHARES_KEPT = 256
_GROWTH = 4  # the second fetch, when the first came back short
_KEY = operator.itemgetter(0)  # a (key, score) pair's key


@dataclass(frozen=True, slots=True)
class _Share:
    share: float
    size: int  # the index's size when sampled
    until: float


Scored = list[tuple[int, float]]


class FilteredNearest:
    """Answers a vector rank with filters by the cheaper of the two plans (module notes)."""

    def __init__(
        self,
        search: SearchStore,
        indexes: AppIndexes,
        *,
        post_filter_from: int = POST_FILTER_FROM,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._search = search
        self._indexes = indexes
        self._from = post_filter_from
        self._clock = clock
        self._shares: OrderedDict[tuple[object, ...], _Share] = OrderedDict()
        self._lock = threading.Lock()

    def nearest(
        self,
        app: AppRecord,
        space: str,
        vector: npt.NDArray[np.float32],
        wanted: int,
        filters: Sequence[InputFilter],
    ) -> tuple[Scored, int]:
        """The ``wanted`` nearest inputs that pass ``filters``, best first, and the total."""
        if not filters:
            return self._indexes.nearest_counted(app, space, vector, wanted, None)
        found = self._candidates_first(app, space, vector, wanted, filters)
        if found is not None:
            return found
        assert app.pk is not None
        allowed = self._search.filtered_keys(app.pk, filters)
        return self._indexes.nearest_counted(app, space, vector, wanted, allowed)

    def _candidates_first(
        self,
        app: AppRecord,
        space: str,
        vector: npt.NDArray[np.float32],
        wanted: int,
        filters: Sequence[InputFilter],
    ) -> tuple[Scored, int] | None:
        """None where the plan does not pay (a small index, a narrow filter, a deep page) or
        found too few (a filter that the query's neighbourhood mostly fails)."""
        assert app.pk is not None
        share, size = self._share(app, space, filters)
        fetch = first_fetch(wanted, share)
        limit = min(MAX_CANDIDATES, size)
        passing: set[int] = set()
        checked = 0
        while fetch is not None and fetch <= limit:
            # Twice as deep a search, of which the first half is kept: a graph's last few
            # results are its least sure, and the filter's answers may sit among them.
            candidates = self._indexes.nearest(app, space, vector, 2 * fetch, None)[:fetch]
            fresh = list(map(_KEY, candidates[checked:]))  # the first ones are checked
            passing |= self._search.filtered_keys(app.pk, filters, among=fresh)
            checked = len(candidates)
            hits = [hit for hit in candidates if hit[0] in passing]
            if len(hits) >= wanted or len(candidates) < fetch:
                return hits[:wanted], max(round(share * size), len(hits))
            fetch *= _GROWTH
        return None

    def _share(
        self, app: AppRecord, space: str, filters: Sequence[InputFilter]
    ) -> tuple[float, int]:
        """The share of the index that passes ``filters`` (from a sample), and its size; a
        share of 0 below the size where candidates first pays."""
        key = (app.pk, app.created_at, space, repr(filters))
        now = self._clock()
        with self._lock:
            known = self._shares.get(key)
        if known is not None and known.until > now:
            return known.share, known.size
        sample, size = self._indexes.sample(app, space)
        share = 0.0  # a small index: the filters run first
        if size >= self._from and len(sample):
            assert app.pk is not None
            allowed = self._search.filtered_keys(app.pk, filters, among=sample.tolist())
            share = len(allowed) / len(sample)
        with self._lock:
            self._shares[key] = _Share(share, size, now + SHARE_SECONDS)
            self._shares.move_to_end(key)
            while len(self._shares) > _SHARES_KEPT:
                self._shares.popitem(last=False)
        return share, size


def first_fetch(wanted: int, share: float) -> int | None:
    """Candidates to fetch so that ``wanted`` of them pass a filter allowing ``share`` of the
    inputs, two standard deviations to spare (about 98% of the time, when the filter does not
    depend on the neighbourhood); None when the sample saw none pass."""
    if share <= 0:
        return None
    return math.ceil((wanted + 2 * math.sqrt(wanted) + 2) / share)
