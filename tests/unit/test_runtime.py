"""``AdaptiveSession``: every core for a run alone, one core each for runs that overlap."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from clarion.inference._runtime import AdaptiveSession


class Recording:
    """A session that records its runs and, when told, holds a run until released."""

    def __init__(self, name: str, runs: list[str]) -> None:
        self.name = name
        self.runs = runs
        self.started = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.error: Exception | None = None

    def run(self, output_names: Sequence[str] | None, input_feed: Mapping[str, Any]) -> Any:
        if self.error is not None:
            raise self.error
        self.runs.append(self.name)
        self.started.set()
        assert self.release.wait(10)
        return [self.name]


def test_a_lone_run_takes_every_core_and_an_overlapping_one_takes_one() -> None:
    runs: list[str] = []
    all_cores, one_core = Recording("all", runs), Recording("one", runs)
    session = AdaptiveSession(all_cores, one_core)

    assert session.run(None, {}) == ["all"]
    all_cores.release.clear()
    first = threading.Thread(target=session.run, args=(None, {}))
    first.start()
    assert all_cores.started.wait(10)
    assert session.run(None, {}) == ["one"]  # while the first still runs
    all_cores.release.set()
    first.join(10)
    assert session.run(None, {}) == ["all"]  # alone again
    assert runs == ["all", "all", "one", "all"]


def test_a_failed_run_does_not_count_as_running() -> None:
    runs: list[str] = []
    all_cores = Recording("all", runs)
    session = AdaptiveSession(all_cores, Recording("one", runs))
    all_cores.error = RuntimeError("bad input")
    for _ in range(2):
        with pytest.raises(RuntimeError):
            session.run(None, {})
    all_cores.error = None

    assert session.run(None, {}) == ["all"]  # were the failures still counted, "one"
