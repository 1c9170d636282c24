"""Usage counts for ``PostMetricsQuery``: each user's predictions by app, model, version and HTTP
status, per minute, kept in this process's memory for a week.

The Prometheus counters (``server/metrics.py``) only grow; a usage query asks how many calls
fell in each minute of a window, so the dispatcher also counts here. In memory, not in the
database: a prediction is a read, and a write per prediction would cost more than the
prediction's own bookkeeping. Hence the limits the README states: counts restart with the
process, and each process counts its own calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from clarifai_grpc.grpc.api import resources_pb2
from google.protobuf.message import Message

from clarion.errors import http_status_for_code
from clarion.services.context import CallContext
from clarion.services.metrics import UsageBucket, UsageKey

RETENTION_MINUTES = 7 * 24 * 60
# The methods that count as model requests, and the fields naming the model and version.
MODEL_REQUESTS = frozenset({"PostModelOutputs"})

_LABEL = resources_pb2.MetricLabel


@dataclass(slots=True)
class _Totals:
    count: int = 0
    seconds: float = 0.0
    slowest: float = 0.0
    fastest: float = float("inf")


class UsageCounter:
    """Per-minute totals of model requests; thread-safe (recorded on the event loop, read by
    handlers on worker threads)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[int, str, UsageKey], _Totals] = {}
        self._oldest_kept = 0

    def after_call(
        self, method: str, request: Message, ctx: CallContext | None, code: int, seconds: float
    ) -> None:
        """Count a model request that reached an app (auth passed), for the caller's user:
        usage is what a user's calls made, whoever's model they used."""
        if method not in MODEL_REQUESTS or ctx is None or ctx.app is None:
            return
        if ctx.principal is None:
            return
        labels: Mapping[int, str] = {
            _LABEL.APP_ID: ctx.app.id,
            _LABEL.MODEL_ID: str(getattr(request, "model_id", "")),
            _LABEL.MODEL_VERSION_ID: str(getattr(request, "version_id", "")),
            _LABEL.HTTP_STATUS: str(http_status_for_code(code)),
        }
        self.record(ctx.principal.user_id, tuple(sorted(labels.items())), seconds)

    def record(self, owner: str, key: UsageKey, seconds: float) -> None:
        minute = int(self._now() // 60)
        with self._lock:
            totals = self._buckets.setdefault((minute, owner, key), _Totals())
            totals.count += 1
            totals.seconds += seconds
            totals.slowest = max(totals.slowest, seconds)
            totals.fastest = min(totals.fastest, seconds)
            self._forget_before(minute - RETENTION_MINUTES)

    def buckets(self, owner: str, first_minute: int, last_minute: int) -> list[UsageBucket]:
        """The minutes in ``[first_minute, last_minute]`` with calls made by ``owner``."""
        with self._lock:
            return [
                UsageBucket(minute, key, t.count, t.seconds, t.slowest, t.fastest)
                for (minute, who, key), t in self._buckets.items()
                if who == owner and first_minute <= minute <= last_minute
            ]

    def _forget_before(self, minute: int) -> None:
        if minute <= self._oldest_kept:
            return
        self._oldest_kept = minute
        for stale in [bucket for bucket in self._buckets if bucket[0] < minute]:
            del self._buckets[stale]

    def _now(self) -> float:
        return self._clock()
