"""Saying no politely: rate limits per credential and per app, and a bound on expensive work.

Throttled calls answer ``CONN_THROTTLED`` (11005), which the official clients back off and retry
on. Expensive calls (prediction, search, ingestion, hosted images) run a bounded number at a
time; a bounded number more may wait, and past that a call answers ``RPC_REQUEST_QUEUE_FULL``
(40030) at once instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from clarion.errors import DeadlineExceeded, QueueFull, ResourceExhausted

# ``/hosted`` image reads are not V2 methods; they are held to the same limits under this name
# (a thumbnail made on first request decodes the original).
HOSTED_IMAGE = "GetHostedImage"
EXPENSIVE_METHODS = frozenset(
    {
        HOSTED_IMAGE,
        "PostModelOutputs",
        "PostInputs",
        "PostInputsSearches",
        "PostAnnotationsSearches",
        "PostSearches",
        "PostSearchesByID",
        "PostWorkflowResults",
        # A version copies a whole dataset; an export builds its archive in memory.
        "PostDatasetVersions",
        "PutDatasetVersionExports",
        "ListDatasetVersionMetricsGroups",
    }
)
# Buckets not touched for this long are forgotten, so memory stays bounded.
_IDLE_BUCKET_SECONDS = 600.0


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """One token bucket per name, filled at the rate each take names (0: no limit), holding
    ``burst_seconds`` of it (at least one call)."""

    def __init__(self, burst_seconds: float) -> None:
        self._burst_seconds = burst_seconds
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self._last_sweep = time.monotonic()

    def take(self, name: str, rate: float) -> bool:
        """Spend one token of ``name``'s bucket; False when it is empty."""
        if rate <= 0:
            return True
        burst = max(1.0, rate * self._burst_seconds)
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(name)
            if bucket is None:
                bucket = self._buckets[name] = _Bucket(burst, now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            self._sweep(now)
            if bucket.tokens < 1:
                return False
            bucket.tokens -= 1
            return True

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep < _IDLE_BUCKET_SECONDS:
            return
        self._last_sweep = now
        for name in [n for n, b in self._buckets.items() if now - b.updated > _IDLE_BUCKET_SECONDS]:
            del self._buckets[name]


class Limits:
    """Rate limits (0 turns one off) and the bound on concurrent expensive calls."""

    def __init__(
        self,
        *,
        per_key_rate: float,
        per_app_rate: float,
        burst_seconds: float,
        max_expensive: int,
        max_waiting: int,
    ) -> None:
        self._per_key_rate = per_key_rate
        self._per_app_rate = per_app_rate
        self._per_key = TokenBuckets(burst_seconds)
        self._per_app = TokenBuckets(burst_seconds)
        self._max_expensive = max_expensive
        self._max_waiting = max_waiting
        self._running = 0
        self._waiting = 0
        self._slots: asyncio.Semaphore | None = None

    @property
    def in_flight(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return self._waiting

    def check_rate(self, credential: str, app: str, key_rate: float | None = None) -> None:
        """Raise ``ResourceExhausted`` (CONN_THROTTLED) when either bucket is empty.

        ``key_rate`` is the credential's own limit (``clarion rate-limit``), if it has one.
        """
        rate = self._per_key_rate if key_rate is None else key_rate
        if credential and not self._per_key.take(credential, rate):
            raise ResourceExhausted("Too many requests with this key: slow down and retry")
        if app and not self._per_app.take(app, self._per_app_rate):
            raise ResourceExhausted("Too many requests to this app: slow down and retry")

    @asynccontextmanager
    async def expensive(self, method: str, deadline: float | None = None) -> AsyncIterator[None]:
        """Hold one of the slots for expensive calls while the block runs.

        A call waits for a slot at most until its ``deadline`` (``time.monotonic()``), then
        answers ``DeadlineExceeded`` without having run.
        """
        if method not in EXPENSIVE_METHODS or not self._max_expensive:
            yield
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max_expensive)
        if self._slots.locked() and self._waiting >= self._max_waiting:
            raise QueueFull(
                f"The server is busy: {self._running} {method}-type calls are running and "
                f"{self._waiting} are waiting; retry shortly"
            )
        slots = self._slots
        if slots.locked():
            await self._wait_for_slot(slots, method, deadline)
        else:
            # A free slot is taken at once, with no timer: wait_for would start a task and a
            # timer on every call, a loop iteration more per prediction.
            await slots.acquire()
        self._running += 1
        try:
            yield
        finally:
            self._running -= 1
            slots.release()

    async def _wait_for_slot(
        self, slots: asyncio.Semaphore, method: str, deadline: float | None
    ) -> None:
        self._waiting += 1
        try:
            await asyncio.wait_for(slots.acquire(), _seconds_until(deadline))
        except TimeoutError:
            raise DeadlineExceeded(
                f"The call ran out of time waiting for one of the {self._max_expensive} slots "
                f"for {method}-type calls; the server is busy, retry shortly"
            ) from None
        finally:
            self._waiting -= 1


def _seconds_until(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())
