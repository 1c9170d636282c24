"""Retries with backoff on throttling and unavailability, timeouts, unreachable servers and
answers that are not the API's: over both transports, sync and async, through proxies in
front of the real server that misbehave on cue."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from clarion import errors
from clarion.client import Retry, Text
from clarion.testing import RunningServer
from tests.client.conftest import Driver
from tests.client.faults import Faults, grpc_proxy, http_proxy
from tests.conftest import unique_id


@contextmanager
def proxied(server: RunningServer, transport: str, faults: Faults) -> Iterator[str]:
    """The base URL of a misbehaving proxy to ``server`` for ``transport``."""
    if transport == "grpc":
        with grpc_proxy(server.grpc_target, faults) as target:
            yield f"grpc://{target}"
    else:
        with http_proxy(server.http_url, faults) as url:
            yield url


def test_throttling_and_unavailability_are_retried(
    server: RunningServer, mode: tuple[str, str], drive: Driver
) -> None:
    faults = Faults("throttle", "hourly", "unavailable")
    with proxied(server, mode[0], faults) as base:
        client = drive.client(base, pat=server.admin_pat)

        user = drive(client.me())

    assert user.id == "admin"
    assert faults.calls == 4  # three refusals, then the call that went through


def test_retries_give_up_with_the_last_error(
    server: RunningServer, mode: tuple[str, str], drive: Driver
) -> None:
    faults = Faults("throttle", "throttle", "throttle")
    with proxied(server, mode[0], faults) as base:
        client = drive.client(base, pat=server.admin_pat, retry=Retry(attempts=2, backoff=0.01))

        with pytest.raises(errors.ResourceExhausted) as raised:
            drive(client.me())

    assert faults.calls == 2
    assert raised.value.code == 11005 and raised.value.description == "Slow down"


def test_backoff_waits_longer_each_time(
    server: RunningServer, mode: tuple[str, str], drive: Driver
) -> None:
    faults = Faults("throttle", "throttle", "throttle")
    retry = Retry(attempts=4, backoff=0.1, multiplier=2.0)
    with proxied(server, mode[0], faults) as base:
        client = drive.client(base, pat=server.admin_pat, retry=retry)
        started = time.monotonic()

        drive(client.me())

    # Waits of at least half of 0.1, 0.2 and 0.4 seconds.
    assert time.monotonic() - started >= 0.35


def test_a_slow_answer_times_out_without_a_retry(
    server: RunningServer, mode: tuple[str, str], drive: Driver
) -> None:
    faults = Faults("slow", delay=2.0)
    with proxied(server, mode[0], faults) as base:
        client = drive.client(base, pat=server.admin_pat, timeout=0.3)
        started = time.monotonic()

        with pytest.raises(errors.Timeout):
            drive(client.me())
        elapsed = time.monotonic() - started
        per_call = drive(client.me(timeout=10))  # the fault is spent; a call-level timeout

    assert elapsed < 1.5
    assert faults.calls == 2 and per_call.id == "admin"


def test_an_unreachable_server_is_a_connect_error(mode: tuple[str, str], drive: Driver) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"grpc://127.0.0.1:{port}" if mode[0] == "grpc" else f"http://127.0.0.1:{port}"
    client = drive.client(base, pat="x", retry=Retry(attempts=2, backoff=0.01), timeout=5)

    with pytest.raises(errors.ConnectError) as raised:
        drive(client.me())

    assert not isinstance(raised.value, errors.ApiError)
    assert raised.value.description


def test_uploads_retry_throttled_batches(
    server: RunningServer, mode: tuple[str, str], drive: Driver
) -> None:
    app_id = unique_id("retry")
    faults = Faults()
    with proxied(server, mode[0], faults) as base:
        client = drive.client(base, pat=server.admin_pat, app_id=app_id)
        drive(client.apps.create(app_id))
        faults.add("throttle", "unavailable")

        report = drive(client.app().inputs.upload([Text("a"), Text("b")], batch_size=1))

    assert report.succeeded
    assert faults.calls == 1 + 2 + 2  # PostApps, two batches, two refusals


def test_an_upload_batch_that_stays_throttled_is_reported(
    server: RunningServer, mode: tuple[str, str], drive: Driver
) -> None:
    app_id = unique_id("refused")
    faults = Faults()
    with proxied(server, mode[0], faults) as base:
        client = drive.client(base, pat=server.admin_pat, app_id=app_id)
        drive(client.apps.create(app_id))
        faults.add(*["throttle"] * 4)  # every try of the one batch

        report = drive(client.app().inputs.upload([Text("a"), Text("b")]))

    assert [(item.state, item.code) for item in report.items] == [("failed", 11005)] * 2
    assert report.items[0].description == "Slow down"


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_an_html_error_page_is_a_transport_error(server: RunningServer, flavour: str) -> None:
    faults = Faults(*["unavailable"] * 3)
    drive = Driver(flavour)
    with http_proxy(server.http_url, faults) as base:
        client = drive.client(base, pat=server.admin_pat, retry=Retry(attempts=3, backoff=0.01))

        with pytest.raises(errors.TransportError) as raised:
            drive(client.me())
        drive.close()

    assert raised.value.http_status == 503
    assert "503" in raised.value.description and "Service Unavailable" in raised.value.description
    assert faults.calls == 3  # 503 is retried like UNAVAILABLE
