"""Calls that wait together run together: one model run for the images of several calls.

Under load, calls queue for the compute threads anyway. When a thread frees up it takes the
first waiting call and, behind it, the calls already waiting up to ``max_items`` items in all,
and answers them together (``run``), with one model run per model. Nothing waits for company:
a call that finds a thread free runs at once, alone, so a lone client's latency is as before.

Why: on the development machine's CPU, MobileNetV2 costs 0.92 of the CPU a picture in runs of
two to four pictures that it costs in runs of one, and 1.14 in runs of eight
(``bench/model_batch.py``); and the calls of a batch go back to the event loop in one hand-off.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Generic, TypeAlias, TypeVar

J = TypeVar("J")
R = TypeVar("R")

# What ``run`` gives for each job: its answer, or the error the call fails with.
Outcome: TypeAlias = R | Exception


@dataclass(slots=True)
class _Waiting(Generic[J, R]):
    job: J
    items: int
    future: asyncio.Future[R]
    loop: asyncio.AbstractEventLoop


class SharedRuns(Generic[J, R]):
    """Runs jobs on ``executor``'s threads, those that wait together in one ``run`` call."""

    def __init__(
        self,
        executor: Executor,
        run: Callable[[Sequence[J]], Sequence[Outcome[R]]],
        *,
        items_of: Callable[[J], int],
        max_items: int,
    ) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self._executor = executor
        self._run = run
        self._items_of = items_of
        self._max_items = max_items
        self._waiting: deque[_Waiting[J, R]] = deque()
        self._lock = threading.Lock()

    async def submit(self, job: J) -> R:
        """The job's answer, once a compute thread has run it (with others, or alone)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        with self._lock:
            self._waiting.append(_Waiting(job, self._items_of(job), future, loop))
        # One task a job: a task finds its job taken by an earlier task's batch, or takes the
        # first waiting job itself, so every job is taken by the time its own task runs.
        self._executor.submit(self._take_and_run)
        return await future

    def _take(self) -> list[_Waiting[J, R]]:
        """The first waiting job and those behind it that fit, in arrival order."""
        taken: list[_Waiting[J, R]] = []
        items = 0
        with self._lock:
            while self._waiting:
                first = self._waiting[0]
                if taken and items + first.items > self._max_items:
                    break
                self._waiting.popleft()
                if first.future.cancelled():
                    continue  # its caller gave up: no work for no one
                taken.append(first)
                items += first.items
        return taken

    def _take_and_run(self) -> None:
        taken = self._take()
        if not taken:
            return
        try:
            outcomes: Sequence[Outcome[R]] = self._run([waiting.job for waiting in taken])
        except Exception as error:  # ``run`` answers each job; this is a bug in it
            outcomes = [error] * len(taken)
        except BaseException as error:  # the thread is being stopped: no call may hang on it
            self._answer(taken, [RuntimeError(f"the run was stopped: {error!r}")] * len(taken))
            raise
        self._answer(taken, outcomes)

    @staticmethod
    def _answer(taken: list[_Waiting[J, R]], outcomes: Sequence[Outcome[R]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[R], Outcome[R]]]] = {}
        for waiting, outcome in zip(taken, outcomes, strict=True):
            by_loop.setdefault(waiting.loop, []).append((waiting.future, outcome))
        for loop, answers in by_loop.items():
            # One hand-off back to the loop for the whole batch.
            loop.call_soon_threadsafe(_settle, answers)


def _settle(answers: list[tuple[asyncio.Future[R], Outcome[R]]]) -> None:
    for future, outcome in answers:
        if future.done():  # cancelled while it ran
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
