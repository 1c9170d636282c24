"""``UrlFetcher``: download a user-supplied http(s) URL without letting it reach inside.

A URL from a request could point at the server's own network (``http://10.0.0.5/admin``,
``http://169.254.169.254/`` cloud metadata) directly, through DNS, or through a redirect.
The address check therefore sits where connections are made (``_network.GuardedBackend``),
and this module adds what sits above it: URL validation at every hop, manual redirects, a
total deadline, a byte cap while streaming (and while decoding a compressed body), and one
translation of failures into ``FetchRejected`` with a Clarifai status.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import time
from collections.abc import Iterator
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import Final

import httpcore
import httpx

from clarion.codes import INPUT_DOWNLOAD_FAILED, INPUT_INVALID_URL, INPUT_OVER_LIMIT
from clarion.fetch._addresses import AddressGuard, ip_literal
from clarion.fetch._decoding import content_codings, decoded
from clarion.fetch._network import GuardedBackend, PoolTransport, deadline, system_resolver
from clarion.fetch.policy import FetchPolicy, FetchRejected, Resolver

_SCHEMES: Final = frozenset({"http", "https"})
# FetchPolicy is frozen, so one shared default instance is safe.
_DEFAULT_POLICY: Final = FetchPolicy()
_HEADERS: Final = {
    "User-Agent": "clarion-url-fetcher/1",
    # Images are compressed already; asking for identity keeps a gzip bomb off the table
    # for well-behaved servers (the others' bodies are decoded under the byte cap).
    "Accept-Encoding": "identity",
}
_NETWORK_ERRORS: Final = (
    httpx.HTTPError,
    httpx.StreamError,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.ProxyError,
    OSError,
)


def _trusted_cas(extra_ca_certs: tuple[str, ...]) -> ssl.SSLContext:
    """The public CA bundle (certifi), plus the operator's own CAs."""
    context = httpx.create_ssl_context(trust_env=False)
    for location in extra_ca_certs:
        if os.path.isdir(location):
            context.load_verify_locations(capath=location)
        else:
            context.load_verify_locations(cafile=location)
    return context


class UrlFetcher:
    """Downloads public http(s) URLs under a ``FetchPolicy``; safe to share between threads.

    ``resolver`` replaces DNS (tests map names to addresses with it); ``network_backend``
    replaces the socket layer under the address check (tests watch connects with it).
    """

    def __init__(
        self,
        policy: FetchPolicy = _DEFAULT_POLICY,
        *,
        resolver: Resolver | None = None,
        network_backend: httpcore.NetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self._guard = AddressGuard(
            allow_private=policy.allow_private, allowed_hosts=policy.allowed_hosts
        )
        backend = GuardedBackend(self._guard, resolver or system_resolver, network_backend)
        pool = httpcore.ConnectionPool(
            ssl_context=_trusted_cas(policy.extra_ca_certs),
            network_backend=backend,
            max_connections=64,
            max_keepalive_connections=16,
            keepalive_expiry=5.0,
        )
        self._client = httpx.Client(
            transport=PoolTransport(pool),
            headers=_HEADERS,
            # One fetcher serves every user: no cookie may carry over from one fetch to the next.
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            timeout=httpx.Timeout(policy.total_timeout, connect=policy.connect_timeout),
            follow_redirects=False,
            # No proxies, .netrc credentials or CA paths from the environment.
            trust_env=False,
        )

    def fetch(self, url: str) -> bytes:
        """Return the body of ``url``, following up to ``max_redirects`` redirects.

        Raises ``FetchRejected``: 30106 for a URL or address that is not allowed, 30105 for a
        body over ``max_bytes``, 30002 for timeouts, HTTP error statuses and network errors.
        """
        started = time.monotonic()
        with deadline(started + self.policy.total_timeout), self._errors_translated(started):
            return self._follow_redirects(checked_url(url))

    def check_url(self, url: str) -> None:
        """Refuse (30106) what can be refused without the network, as ``fetch`` would.

        Checks the scheme, host and credentials, and the address when the host is an IP
        literal. No DNS lookup is made, so this is cheap enough for a request handler;
        ``fetch`` still checks every address it connects to.
        """
        parsed = checked_url(url)
        literal = ip_literal(parsed.host)
        if literal is not None:
            refusal = self._guard.refusal(parsed.host, literal)
            if refusal is not None:
                raise FetchRejected(INPUT_INVALID_URL, refusal)

    def close(self) -> None:
        """Close pooled connections; the fetcher must not be used afterwards."""
        self._client.close()

    def __enter__(self) -> UrlFetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _follow_redirects(self, url: httpx.URL) -> bytes:
        request = self._client.build_request("GET", url)
        for _ in range(self.policy.max_redirects + 1):
            response = self._client.send(request, stream=True)
            try:
                if response.next_request is None:
                    return self._read_body(response)
                request = response.next_request
            finally:
                response.close()
            # A redirect may name any URL; it passes the same checks as the first one.
            checked_url(request.url)
        raise FetchRejected(
            INPUT_DOWNLOAD_FAILED,
            f"too many redirects: gave up after {self.policy.max_redirects}",
        )

    def _read_body(self, response: httpx.Response) -> bytes:
        if not response.is_success:
            status = f"{response.status_code} {response.reason_phrase}".rstrip()
            raise FetchRejected(INPUT_DOWNLOAD_FAILED, f"the server answered HTTP {status}")
        limit = self.policy.max_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large()
        codings = content_codings(response.headers.get("Content-Encoding", ""))
        body = bytearray()
        # Raw bytes, decoded here a bounded piece at a time: httpx's own decoding
        # (iter_bytes) inflates a whole chunk first, gigabytes for a gzip bomb.
        for piece in decoded(response.iter_raw(), codings):
            body += piece
            # Stop reading at once: the rest of a huge body is never decoded, nor read.
            if len(body) > limit:
                raise self._too_large()
        return bytes(body)

    def _too_large(self) -> FetchRejected:
        return FetchRejected(
            INPUT_OVER_LIMIT, f"the file is larger than {_size_text(self.policy.max_bytes)}"
        )

    @contextlib.contextmanager
    def _errors_translated(self, started: float) -> Iterator[None]:
        """Turn every httpx, httpcore and socket failure into a ``FetchRejected``."""
        try:
            yield
        except FetchRejected:
            raise
        except (httpx.TimeoutException, httpcore.TimeoutException) as exc:
            raise FetchRejected(INPUT_DOWNLOAD_FAILED, self._timeout_text(exc, started)) from exc
        except httpx.InvalidURL as exc:
            raise FetchRejected(INPUT_INVALID_URL, f"the URL is not valid: {exc}") from exc
        except _NETWORK_ERRORS as exc:
            reason = str(exc) or type(exc).__name__
            raise FetchRejected(INPUT_DOWNLOAD_FAILED, f"the download failed: {reason}") from exc

    def _timeout_text(self, exc: Exception, started: float) -> str:
        elapsed = time.monotonic() - started
        connecting = isinstance(exc, httpx.ConnectTimeout | httpcore.ConnectTimeout)
        if connecting and elapsed < self.policy.total_timeout:
            return f"connecting to the server timed out after {self.policy.connect_timeout:g} s"
        return f"the download timed out after {self.policy.total_timeout:g} s"


def checked_url(url: str | httpx.URL) -> httpx.URL:
    """Parse ``url`` and refuse (30106) anything but an absolute http(s) URL without credentials."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise FetchRejected(INPUT_INVALID_URL, f"the URL is not valid: {exc}") from None
    if not parsed.scheme:
        raise FetchRejected(INPUT_INVALID_URL, "not an absolute URL: it must start with https://")
    if parsed.scheme not in _SCHEMES:
        raise FetchRejected(
            INPUT_INVALID_URL,
            f"unsupported URL scheme {parsed.scheme!r}: only http and https URLs can be fetched",
        )
    if not parsed.host:
        raise FetchRejected(INPUT_INVALID_URL, "the URL has no host name")
    if parsed.userinfo:
        raise FetchRejected(
            INPUT_INVALID_URL, "URLs with a user name or password in them are not accepted"
        )
    return parsed


def _size_text(size: int) -> str:
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"
