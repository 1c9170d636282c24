"""``SharedRuns``: jobs that wait together for the compute threads run together."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2

from clarion.runtime.shared_runs import Outcome, SharedRuns
from clarion.services.predict import RUNS_ALONE, images_of

T = TypeVar("T")


class Recorder:
    """A ``run`` that records each batch it is given and answers every job with its double;
    the first batch waits for ``release``, so the jobs submitted meanwhile queue up."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = threading.Event()
        self.first_started = threading.Event()

    def __call__(self, jobs: Sequence[int]) -> list[Outcome[int]]:
        self.batches.append(list(jobs))
        if len(self.batches) == 1:
            self.first_started.set()
            self.release.wait(10)
        return [ValueError(f"job {job}") if job < 0 else job * 2 for job in jobs]


async def submit_behind_the_first(
    runs: SharedRuns[int, int], recorder: Recorder, first: int, *jobs: int
) -> list[int | BaseException]:
    """``first`` runs alone and holds the only thread while ``jobs`` queue behind it."""
    started = asyncio.ensure_future(runs.submit(first))
    await asyncio.get_running_loop().run_in_executor(None, recorder.first_started.wait, 10)
    queued = [asyncio.ensure_future(runs.submit(job)) for job in jobs]
    await asyncio.sleep(0.05)  # every job is waiting before the thread frees up
    recorder.release.set()
    return await asyncio.gather(started, *queued, return_exceptions=True)


def run_apart(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run`` of what ``make`` gives, on a thread of its own: the browser tests leave
    Playwright's loop running on the main thread, where ``asyncio.run`` refuses to start."""
    with ThreadPoolExecutor(max_workers=1) as runner:
        return runner.submit(lambda: asyncio.run(make())).result(timeout=60)


def items_of(job: int) -> int:
    return 3 if job == 30 else 1


@pytest.fixture
def one_thread() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=1)
    yield pool
    pool.shutdown()


def test_waiting_jobs_run_together_up_to_the_item_limit(one_thread: ThreadPoolExecutor) -> None:
    recorder = Recorder()
    runs = SharedRuns(one_thread, recorder, items_of=items_of, max_items=4)
    answers = run_apart(lambda: submit_behind_the_first(runs, recorder, 0, 1, 2, 3, 4, 5))
    assert answers == [0, 2, 4, 6, 8, 10]
    assert recorder.batches == [[0], [1, 2, 3, 4], [5]]


def test_a_job_of_several_items_counts_them_all(one_thread: ThreadPoolExecutor) -> None:
    recorder = Recorder()
    runs = SharedRuns(one_thread, recorder, items_of=items_of, max_items=4)
    run_apart(lambda: submit_behind_the_first(runs, recorder, 0, 30, 1, 2))
    assert recorder.batches == [[0], [30, 1], [2]]


def test_a_job_that_fails_fails_alone(one_thread: ThreadPoolExecutor) -> None:
    recorder = Recorder()
    runs = SharedRuns(one_thread, recorder, items_of=items_of, max_items=4)
    answers = run_apart(lambda: submit_behind_the_first(runs, recorder, 0, 1, -1, 2))
    assert recorder.batches == [[0], [1, -1, 2]]
    assert answers[:2] == [0, 2] and answers[3] == 4
    assert isinstance(answers[2], ValueError) and str(answers[2]) == "job -1"


def test_with_a_limit_of_one_every_job_runs_alone(one_thread: ThreadPoolExecutor) -> None:
    recorder = Recorder()
    runs = SharedRuns(one_thread, recorder, items_of=items_of, max_items=1)
    answers = run_apart(lambda: submit_behind_the_first(runs, recorder, 0, 1, 2, 30))
    assert answers == [0, 2, 4, 60]
    assert recorder.batches == [[0], [1], [2], [30]]


def test_a_cancelled_job_is_not_run(one_thread: ThreadPoolExecutor) -> None:
    recorder = Recorder()
    runs = SharedRuns(one_thread, recorder, items_of=items_of, max_items=4)

    async def scenario() -> None:
        first = asyncio.ensure_future(runs.submit(0))
        await asyncio.get_running_loop().run_in_executor(None, recorder.first_started.wait, 10)
        given_up = asyncio.ensure_future(runs.submit(1))
        kept = asyncio.ensure_future(runs.submit(2))
        await asyncio.sleep(0.05)
        given_up.cancel()
        recorder.release.set()
        assert await first == 0 and await kept == 4

    run_apart(scenario)
    assert recorder.batches == [[0], [2]]


def test_a_run_that_raises_fails_every_job_of_its_batch(one_thread: ThreadPoolExecutor) -> None:
    def broken(jobs: Sequence[int]) -> list[Outcome[int]]:
        raise RuntimeError("the run broke")

    runs = SharedRuns(one_thread, broken, items_of=items_of, max_items=4)
    with pytest.raises(RuntimeError, match="the run broke"):
        run_apart(lambda: runs.submit(1))


def test_a_run_stopped_by_a_base_exception_leaves_no_call_waiting(
    one_thread: ThreadPoolExecutor,
) -> None:
    def stopped(jobs: Sequence[int]) -> list[Outcome[int]]:
        raise SystemExit("stopping")

    runs = SharedRuns(one_thread, stopped, items_of=items_of, max_items=4)
    with pytest.raises(RuntimeError, match="the run was stopped"):
        run_apart(lambda: asyncio.wait_for(runs.submit(1), timeout=10))


def test_a_prediction_with_a_video_takes_a_shared_run_to_itself() -> None:
    def call(*data: resources_pb2.Data) -> tuple[service_pb2.PostModelOutputsRequest, Any]:
        inputs = [resources_pb2.Input(data=one) for one in data]
        return service_pb2.PostModelOutputsRequest(inputs=inputs), None

    image = resources_pb2.Data(image=resources_pb2.Image(base64=b"jpeg"))
    video = resources_pb2.Data(video=resources_pb2.Video(base64=b"mp4"))
    in_a_part = resources_pb2.Data(parts=[resources_pb2.Part(data=video)])
    assert images_of(call(image, image)) == 2
    assert images_of(call(image, video)) == RUNS_ALONE
    assert images_of(call(in_a_part)) == RUNS_ALONE
