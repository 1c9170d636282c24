"""``AdaptiveSession``: every core for a run alone, one core each for runs that overlap."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from clarion.inference._runtime import AdaptiveSession
from tests.unit.conftest import Clock


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


def overlap_once(session: AdaptiveSession, first: Recording) -> list[str]:
    """Hold a run on ``first`` while another starts; return what the second one ran on."""
    first.release.clear()
    holder = threading.Thread(target=session.run, args=(None, {}))
    holder.start()
    assert first.started.wait(10)
    second: list[str] = session.run(None, {})
    first.release.set()
    holder.join(10)
    return second


def test_a_lone_run_takes_every_core_and_an_overlapping_one_takes_one() -> None:
    runs: list[str] = []
    all_cores, one_core = Recording("all", runs), Recording("one", runs)
    clock = Clock()
    session = AdaptiveSession(all_cores, one_core, settle_seconds=1.0, clock=clock)

    assert session.run(None, {}) == ["all"]
    assert session.run(None, {}) == ["all"]  # one after another is still alone
    assert overlap_once(session, all_cores) == ["one"]
    assert runs == ["all", "all", "all", "one"]


def test_runs_stay_on_one_core_until_overlaps_have_settled() -> None:
    runs: list[str] = []
    all_cores, one_core = Recording("all", runs), Recording("one", runs)
    clock = Clock()
    session = AdaptiveSession(all_cores, one_core, settle_seconds=1.0, clock=clock)
    assert overlap_once(session, all_cores) == ["one"]

    clock.now += 0.5
    assert session.run(None, {}) == ["one"]  # alone, but runs overlapped half a second ago
    clock.now += 0.5
    assert session.run(None, {}) == ["all"]  # a second without overlap: spread again


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
