"""What the URL fetcher may do (``FetchPolicy``) and how it says no (``FetchRejected``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

Resolver: TypeAlias = Callable[[str, int], Sequence[str]]
"""Resolves ``(host, port)`` to IP address strings; the default uses ``socket.getaddrinfo``."""


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """Limits for fetching user-supplied URLs.

    ``allow_private`` lets every address through except cloud metadata endpoints (it is the
    ``--allow-private-urls`` switch for local use and tests). ``allowed_hosts`` names hosts
    (exact, case-insensitive) or CIDR networks (``"10.1.0.0/16"``) let through even when
    private; a metadata address must be allowed there explicitly. ``extra_ca_certs`` are PEM
    files or hashed folders of CA certificates trusted besides the public bundle (a site
    serving its images under its own CA).
    """

    allow_private: bool = False
    allowed_hosts: frozenset[str] = frozenset()
    extra_ca_certs: tuple[str, ...] = ()
    max_bytes: int = 20 * 1024 * 1024
    connect_timeout: float = 5.0
    total_timeout: float = 30.0
    max_redirects: int = 5


class FetchRejected(Exception):
    """A URL was refused or could not be downloaded; ``code`` is the Clarifai status."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
