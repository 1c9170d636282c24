"""Workers: threads that claim jobs from the durable queue and run them.

In-process by default (``clarion serve``); ``clarion worker`` runs the same pool as a separate
process on the same database.

Apps share the threads fairly: a claim goes to an app with the fewest jobs running here, the
apps tied for that taking turns, so one app's thousand queued inputs do not keep another's one
input waiting behind them. And no app runs more than all threads but one: one app's slow jobs
(URLs that take a minute to answer) leave a thread for the others.

A kind with a batch handler (ingestion) is claimed in batches: a thread takes up to
``batch_size`` jobs of one app at once and runs them together, so that the claim and the
results (with the jobs' finishing) are one transaction each for the whole batch. A batch
counts as one claim for the turns above, and each of its jobs fails, is retried and is given
up on by itself.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from clarion.storage.jobs import JobQueue, JobRecord

log = logging.getLogger("clarion.worker")

JobHandler = Callable[[Mapping[str, Any]], None]
# Runs a batch of jobs and finishes (``JobQueue.finish``'s work, in the transaction that stores
# their results) those that succeed; the error of each job that did not, by pk.
BatchHandler = Callable[[Sequence[JobRecord]], Mapping[int, BaseException]]


@dataclass(frozen=True, slots=True)
class JobKind:
    """How to run one kind of job, and what to do when it fails for good."""

    run: JobHandler
    give_up: Callable[[Mapping[str, Any], BaseException], None]
    # Set, the kind's jobs are claimed up to ``batch_size`` at a time and run by it.
    run_batch: BatchHandler | None = None
    batch_size: int = 1


class Wakeups(Protocol):
    """Something that calls ``wake`` when jobs are queued elsewhere (LISTEN/NOTIFY)."""

    def start(self, wake: Callable[[], None]) -> None: ...
    def stop(self) -> None: ...


class WorkerPool:
    def __init__(
        self,
        queue: JobQueue,
        kinds: Mapping[str, JobKind],
        *,
        threads: int = 4,
        poll_seconds: float = 1.0,
        wakeups: Wakeups | None = None,
        lease_seconds: float = 120.0,
        max_attempts: int = 3,
    ) -> None:
        self._queue = queue
        self._kinds = dict(kinds)
        self._batch_sizes = {
            name: kind.batch_size for name, kind in kinds.items() if kind.run_batch is not None
        }
        self._thread_count = threads
        self._poll_seconds = poll_seconds
        self._wakeups = wakeups
        self._lease_seconds = lease_seconds
        self._max_attempts = max_attempts
        self._wakeup = threading.Condition()
        self._pending_wakeups = 0
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        # Jobs being run now, by pk: their leases are renewed while they run, so a long job
        # (a training run) is not taken over by another worker as if its holder had died.
        self._held: dict[int, JobRecord] = {}
        self._held_lock = threading.Lock()
        # Claims are made one at a time, so that the turn and the reserve see every job held.
        self._claim_lock = threading.Lock()
        self._last_app = -1

    def start(self) -> None:
        recovered = self._queue.recover_dead_local_holders()
        if recovered:
            log.info("requeued %d jobs left running by a process that is gone", recovered)
        for index in range(self._thread_count):
            thread = threading.Thread(
                target=self._loop, name=f"clarion-worker-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        renewer = threading.Thread(target=self._renew_leases, name="clarion-leases", daemon=True)
        renewer.start()
        self._threads.append(renewer)
        if self._wakeups is not None:
            self._wakeups.start(self.wake)

    def wake(self) -> None:
        """New jobs are queued: stop waiting for the next poll."""
        with self._wakeup:
            self._pending_wakeups = self._thread_count
            self._wakeup.notify_all()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the jobs in hand, claim no more."""
        self._stopping.set()
        if self._wakeups is not None:
            self._wakeups.stop()
        self.wake()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                batch = self._claim()
            except Exception:
                log.exception("could not claim a job")
                batch = []
            if batch:
                self._run(batch)
            else:
                self._wait()

    def _claim(self) -> list[JobRecord]:
        """A job (or a batch of one app's jobs) of an app with the fewest claims running here;
        held at once, so that the next claim counts it."""
        with self._claim_lock:
            batch = self._claim_fairly()
            if batch:
                self._last_app = batch[0].app_pk
                with self._held_lock:
                    self._held.update((job.pk, job) for job in batch)
            return batch

    def _claim_fairly(self) -> list[JobRecord]:
        """Apps with nothing running here first, then those with one claim running, and so
        on, below the cap of all threads but one."""
        with self._held_lock:
            # A claim's jobs share its lease token: a batch counts as the one thread it takes.
            claims = {(job.app_pk, job.lease_token) for job in self._held.values()}
        running = Counter(app for app, _ in claims)
        cap = max(1, self._thread_count - 1)
        for level in sorted({0, *running.values()}):
            if level >= cap:
                break
            busier = {app for app, count in running.items() if count > level}
            batch = self._queue.claim_batch(
                list(self._kinds),
                self._lease_seconds,
                batch_sizes=self._batch_sizes,
                # A few jobs go to as many threads as one app may have, not to one batch.
                spread=cap,
                after_app=self._last_app,
                skip_apps=busier,
            )
            if batch:
                return batch
        return []

    def _wait(self) -> None:
        with self._wakeup:
            if self._pending_wakeups == 0:
                self._wakeup.wait(self._poll_seconds)
            self._pending_wakeups = max(0, self._pending_wakeups - 1)

    def _renew_leases(self) -> None:
        """Every third of a lease, extend the leases of the jobs in hand."""
        while not self._stopping.wait(self._lease_seconds / 3):
            with self._held_lock:
                held = list(self._held.values())
            for job in held:
                try:
                    if not self._queue.renew(job, self._lease_seconds):
                        log.warning(
                            "job %s (%s) was taken over by another worker", job.pk, job.kind
                        )
                except Exception:
                    log.exception("could not renew the lease of job %s", job.pk)

    def _run(self, batch: Sequence[JobRecord]) -> None:
        try:
            kind = self._kinds[batch[0].kind]
            if kind.run_batch is None:
                self._run_held(kind, batch[0])
            else:
                self._run_batch(kind, kind.run_batch, batch)
        finally:
            with self._held_lock:
                for job in batch:
                    del self._held[job.pk]

    def _run_held(self, kind: JobKind, job: JobRecord) -> None:
        try:
            kind.run(job.payload)
        except Exception as error:
            log.exception("job %s (%s) failed, attempt %d", job.pk, job.kind, job.attempts)
            self._failed(kind, job, error)
            return
        self._queue.finish(job)

    def _run_batch(
        self, kind: JobKind, run_batch: BatchHandler, batch: Sequence[JobRecord]
    ) -> None:
        """The handler finishes the jobs that succeed; each that failed is retried or given
        up on by itself, the rest of the batch unaffected."""
        try:
            failures = run_batch(batch)
        except Exception as error:
            log.exception("a batch of %d %s jobs failed", len(batch), batch[0].kind)
            failures = {job.pk: error for job in batch}
        for job in batch:
            failure = failures.get(job.pk)
            if failure is not None:
                log.error(
                    "job %s (%s) failed, attempt %d: %r", job.pk, job.kind, job.attempts, failure
                )
                self._failed(kind, job, failure)

    def _failed(self, kind: JobKind, job: JobRecord, error: BaseException) -> None:
        """Back to the queue for another attempt, or given up on after the last."""
        if job.attempts < self._max_attempts:
            self._queue.release(job)
            return
        kind.give_up(job.payload, error)
        self._queue.finish(job, failed=True)
