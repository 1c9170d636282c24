"""Retry policy: what is worth trying again, and how long to wait first.

Retried: the statuses the official SDK retries (``CONN_THROTTLED`` 11005,
``CONN_EXCEED_HOURLY_LIMIT`` 11003), Clarion's ``RPC_SERVER_UNAVAILABLE`` (40031, starting or
draining), gRPC ``UNAVAILABLE`` and connection failures, and HTTP 502/503/504 from a proxy.
Each means the server did not do the work, so retrying is safe for any call. Timeouts are
not retried: the server may have done the work.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from clarion.codes import CONN_EXCEED_HOURLY_LIMIT, CONN_THROTTLED, RPC_SERVER_UNAVAILABLE
from clarion.errors import ApiError, ConnectError, TransportError

RETRYABLE_CODES = frozenset({CONN_THROTTLED, CONN_EXCEED_HOURLY_LIMIT, RPC_SERVER_UNAVAILABLE})
_RETRYABLE_HTTP = frozenset({502, 503, 504})


@dataclass(frozen=True, slots=True)
class Retry:
    """Up to ``attempts`` tries in all, waiting ``backoff`` seconds after the first failure,
    then ``multiplier`` times longer each time, at most ``max_backoff``; each wait is drawn
    between half and all of that, so clients throttled together do not return together.
    ``Retry(attempts=1)`` never retries.
    """

    attempts: int = 5
    backoff: float = 0.25
    multiplier: float = 2.0
    max_backoff: float = 8.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("Retry.attempts counts the first try too: it must be at least 1")

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failed try (1 for the first)."""
        ceiling = min(self.max_backoff, self.backoff * self.multiplier ** (failures - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def is_retryable(error: Exception) -> bool:
    """Whether ``error`` says the server did not do the work and may later."""
    if isinstance(error, ApiError):
        return error.code in RETRYABLE_CODES
    if isinstance(error, ConnectError):
        return True
    return isinstance(error, TransportError) and error.http_status in _RETRYABLE_HTTP
