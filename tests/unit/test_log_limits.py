from __future__ import annotations

import logging

import pytest

from clarion.server.log_limits import RepeatLimit


def test_a_repeated_message_is_let_through_a_few_times_then_counted(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr("clarion.server.log_limits.time.monotonic", lambda: now[0])
    limit = RepeatLimit(burst=3, window_seconds=60)
    limit.attach("test.flood")
    logger = logging.getLogger("test.flood")
    try:
        with caplog.at_level(logging.WARNING, logger="test.flood"):
            for n in range(50):
                logger.warning("bad request from %s", n)
            logger.warning("another message")  # counted apart
            now[0] += 61
            logger.warning("bad request from %s", "later")
    finally:
        limit.detach("test.flood")
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "bad request from 0",
        "bad request from 1",
        "bad request from 2",
        "another message",
        "bad request from later [and 47 more like this, not logged]",
    ]
