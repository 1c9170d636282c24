"""The durable job queue: its record, the kinds and states of jobs, and the ``JobQueue``
protocol.

A worker claims a queued job (or a running one whose lease ran out) by writing its own lease
token; finishing is conditional on still holding that token, so a job taken over by another
worker after a lease ended is never finished twice. Jobs of a kind that runs in batches
(ingestion) are claimed several at once, of one app, in one transaction under one token; each
is still leased, finished and recovered on its own.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"

INGEST_JOB = "ingest"
COLLECT_BLOBS_JOB = "collect_blobs"
REINDEX_JOB = "reindex"  # an app's inputs indexed again (``clarion.storage.sql.reindexing``)


@dataclass(frozen=True, slots=True)
class JobRecord:
    pk: int
    kind: str
    payload: Mapping[str, Any]
    attempts: int
    lease_token: str
    app_pk: int = 0  # whose job it is (0: no one app's)


class JobQueue(Protocol):
    """Jobs claimed with leases, by threads of this process and of other processes."""

    def claim(
        self,
        kinds: Sequence[str],
        lease_seconds: float,
        *,
        after_app: int = -1,
        skip_apps: Collection[int] = (),
    ) -> JobRecord | None:
        """Take a claimable job of ``kinds``, or None when there is none.

        Claimable: queued, running with its lease over, or (checked every few seconds) held
        by a process of this host that is gone, such as a worker killed beside this one.
        Apps take turns: a job whose lease ran out comes first, then the oldest queued job of
        the next app after ``after_app`` (wrapping round), never one of ``skip_apps``.
        """
        ...

    def claim_batch(
        self,
        kinds: Sequence[str],
        lease_seconds: float,
        *,
        batch_sizes: Mapping[str, int] | None = None,
        spread: int = 1,
        after_app: int = -1,
        skip_apps: Collection[int] = (),
    ) -> list[JobRecord]:
        """The job ``claim`` takes, then more claimable jobs of its kind and app up to
        ``batch_sizes[kind]`` (1 when absent), in one transaction; empty when there is none.
        A batch takes at most a ``spread``-th of the app's jobs of that kind waiting (rounded
        up): a few jobs are spread over that many claims, a long queue taken in full batches.
        """
        ...

    def finish(self, job: JobRecord, *, failed: bool = False) -> bool:
        """Mark the job done (or failed for good); False if another worker has taken it over."""
        ...

    def release(self, job: JobRecord) -> None:
        """Give a job back to the queue, to be tried again."""
        ...

    def renew(self, job: JobRecord, lease_seconds: float) -> bool:
        """Extend the lease of a job still in hand; False if another worker has taken it over."""
        ...

    def recover_dead_local_holders(self, *, other_processes_only: bool = False) -> int:
        """Requeue running jobs held by processes of this host that no longer exist."""
        ...

    def counts(self) -> dict[str, float]:
        """Jobs by state (for the metrics gauge)."""
        ...

    def count(self, state: str) -> int: ...
