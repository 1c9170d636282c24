"""Safe URL fetching: public http(s) addresses only, timeouts and a byte cap.

Public API::

    FetchPolicy(allow_private=False, allowed_hosts=frozenset(), max_bytes=20 MiB,
                connect_timeout=5.0, total_timeout=30.0, max_redirects=5)
    FetchRejected(code, description)    # code is a Clarifai status (30002, 30105, 30106)
    Resolver                            # Callable[[str, int], Sequence[str]]
    UrlFetcher(policy=FetchPolicy(), *, resolver=None, network_backend=None)
        .fetch(url) -> bytes            # synchronous; share one fetcher between threads
        .close()
"""

from __future__ import annotations

from clarion.fetch.policy import FetchPolicy, FetchRejected, Resolver
from clarion.fetch.urls import UrlFetcher

__all__ = ["FetchPolicy", "FetchRejected", "Resolver", "UrlFetcher"]
