"""UrlFetcher against a real HTTP server on 127.0.0.1.

No test sends traffic anywhere but loopback: every fetcher gets a network backend that
records connects and refuses (without touching the network) any address but 127.0.0.1, and
names other than the test server's resolve through a fake resolver.
"""

from __future__ import annotations

import gzip
import ipaddress
import random
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpcore
import pytest

from clarion.fetch import FetchPolicy, FetchRejected, UrlFetcher
from tests.images import gzip_bomb, traced_peak

DOWNLOAD_FAILED = 30002
OVER_LIMIT = 30105
INVALID_URL = 30106


# -- a local HTTP server ------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked bodies
    server: LocalServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        url = urlsplit(self.path)
        route = ROUTES.get(url.path)
        if route is None:
            self.send_body(b"no such page", status=404)
        else:
            route(self, {key: values[0] for key, values in parse_qs(url.query).items()})

    def send_body(
        self, body: bytes, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_chunks(self, chunks: Iterable[bytes]) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def wait(self, seconds: float) -> bool:
        """Sleep unless the test is over; True when the full time passed."""
        return not self.server.stopping.wait(seconds)


def endless(handler: Handler) -> Iterator[bytes]:
    while not handler.server.stopping.is_set():
        yield b"x" * 4096


def trickle(handler: Handler) -> Iterator[bytes]:
    while handler.wait(0.05):
        yield b"."


ROUTES: dict[str, Callable[[Handler, dict[str, str]], None]] = {
    "/ok": lambda h, q: h.send_body(b"hello"),
    "/bytes": lambda h, q: h.send_body(b"b" * int(q["n"])),
    "/host": lambda h, q: h.send_body(h.headers["Host"].encode()),
    "/cookie": lambda h, q: h.send_body(h.headers.get("Cookie", "").encode()),
    "/set-cookie": lambda h, q: h.send_body(b"set", headers={"Set-Cookie": "session=secret"}),
    "/status": lambda h, q: h.send_body(b"error page", status=int(q["code"])),
    "/redirect": lambda h, q: h.send_body(b"", status=302, headers={"Location": q["to"]}),
    "/loop": lambda h, q: h.send_body(b"", status=302, headers={"Location": "/loop"}),
    "/chunked": lambda h, q: h.send_chunks([b"c" * 500] * 10),
    "/endless": lambda h, q: h.send_chunks(endless(h)),
    "/gzip-bomb": lambda h, q: h.send_body(
        gzip.compress(bytes(1_000_000)), headers={"Content-Encoding": "gzip"}
    ),
    "/double-gzip-bomb": lambda h, q: h.send_body(
        gzip_bomb(64 << 20, layers=2), headers={"Content-Encoding": "gzip, gzip"}
    ),
    "/encoded": lambda h, q: h.send_body(
        ENCODED[q["as"]][1], headers={"Content-Encoding": ENCODED[q["as"]][0]}
    ),
    "/slow": lambda h, q: h.send_body(b"too late") if h.wait(5) else None,
    "/trickle": lambda h, q: h.send_chunks(trickle(h)),
}


HELLO = b"hello " * 1000
# Many 64 KiB decoding pieces, and much of it incompressible, so the layers' pieces do not align.
LARGE = random.Random(22).randbytes(300_000) + bytes(700_000)
# /encoded?as=NAME: (its Content-Encoding, HELLO so encoded, or a body the header does not fit)
ENCODED: dict[str, tuple[str, bytes]] = {
    "gzip": ("gzip", gzip.compress(HELLO)),
    "x-gzip": ("x-gzip", gzip.compress(HELLO)),
    "deflate": ("deflate", zlib.compress(HELLO)),
    "gzip-twice": ("gzip, gzip", gzip.compress(gzip.compress(HELLO))),
    "identity-and-gzip": ("identity, GZIP", gzip.compress(HELLO)),
    "brotli": ("br", HELLO),
    "gzip-thrice": ("gzip, gzip, gzip", gzip.compress(gzip.compress(gzip.compress(HELLO)))),
    "corrupt-gzip": ("gzip", b"\x1f\x8b not really gzip"),
    "large-gzip-twice": ("gzip, gzip", gzip.compress(gzip.compress(LARGE))),
}


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.paths: list[str] = []
        self.stopping = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up early (the point of several tests) is not an error

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    server = LocalServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.stopping.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


# -- fakes for the resolver and the socket layer ------------------------------------------


@dataclass
class FakeResolver:
    """Maps names to addresses; unknown names fail as DNS would."""

    names: dict[str, list[str]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append(host)
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.names[host]


class LoopbackOnlyBackend(httpcore.NetworkBackend):
    """Records every connect; connects to 127.0.0.1 only and refuses anything else offline."""

    def __init__(self) -> None:
        self.connects: list[tuple[str, int, float | None]] = []
        self._real = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        self.connects.append((host, port, timeout))
        if host != "127.0.0.1":
            raise httpcore.ConnectError(f"test backend: no traffic to {host} leaves this machine")
        return self._real.connect_tcp(host, port, timeout, local_address, socket_options)

    @property
    def hosts(self) -> list[str]:
        return [host for host, _, _ in self.connects]


@pytest.fixture
def backend() -> LoopbackOnlyBackend:
    return LoopbackOnlyBackend()


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver()


FetcherFactory = Callable[..., UrlFetcher]


@pytest.fixture
def make_fetcher(backend: LoopbackOnlyBackend, resolver: FakeResolver) -> Iterator[FetcherFactory]:
    fetchers: list[UrlFetcher] = []

    def make(**policy: Any) -> UrlFetcher:
        fetcher = UrlFetcher(FetchPolicy(**policy), resolver=resolver, network_backend=backend)
        fetchers.append(fetcher)
        return fetcher

    yield make
    for fetcher in fetchers:
        fetcher.close()


def refusal(fetcher: UrlFetcher, url: str) -> FetchRejected:
    with pytest.raises(FetchRejected) as caught:
        fetcher.fetch(url)
    return caught.value


# -- fetching and address checks ----------------------------------------------------------


def test_fetches_from_a_local_server_when_private_addresses_are_allowed(
    server: LocalServer, make_fetcher: FetcherFactory, backend: LoopbackOnlyBackend
) -> None:
    assert make_fetcher(allow_private=True).fetch(server.url("/ok")) == b"hello"
    assert backend.hosts == ["127.0.0.1"]


def test_loopback_is_refused_by_default(
    server: LocalServer, make_fetcher: FetcherFactory, backend: LoopbackOnlyBackend
) -> None:
    error = refusal(make_fetcher(), server.url("/ok"))
    assert error.code == INVALID_URL
    assert "loopback address 127.0.0.1" in error.description
    assert backend.connects == []
    assert server.paths.count("/ok") == 1  # only the allowed fetch above reached it


def test_the_default_fetcher_refuses_loopback_too(server: LocalServer) -> None:
    # The real resolver and sockets: numeric host spellings resolve to 127.0.0.1 as well.
    with UrlFetcher() as fetcher:
        for host in ("127.0.0.1", "2130706433", "127.1", "[::ffff:127.0.0.1]"):
            error = refusal(fetcher, server.url("/ok", host=host))
            assert error.code == INVALID_URL, host
            assert "loopback" in error.description


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        pytest.param("10.0.0.5", "private", id="rfc1918-10"),
        pytest.param("172.16.3.4", "private", id="rfc1918-172"),
        pytest.param("192.168.1.1", "private", id="rfc1918-192"),
        pytest.param("169.254.169.254", "cloud metadata", id="aws-metadata"),
        pytest.param("fd00:ec2::254", "cloud metadata", id="aws-metadata-v6"),
        pytest.param("100.100.100.200", "cloud metadata", id="alibaba-metadata"),
        pytest.param("169.254.10.1", "link-local", id="link-local"),
        pytest.param("fe80::1", "link-local", id="link-local-v6"),
        pytest.param("100.64.0.1", "shared", id="cgnat"),
        pytest.param("127.0.0.2", "loopback", id="loopback"),
        pytest.param("::1", "loopback", id="loopback-v6"),
        pytest.param("0.0.0.0", "unspecified", id="unspecified"),
        pytest.param("::", "unspecified", id="unspecified-v6"),
        pytest.param("224.0.0.1", "multicast", id="multicast"),
        pytest.param("ff02::1", "multicast", id="multicast-v6"),
        pytest.param("240.0.0.1", "reserved", id="reserved"),
        pytest.param("fc00::1", "private", id="unique-local-v6"),
        pytest.param("::ffff:10.0.0.1", "private", id="ipv4-mapped"),
        pytest.param("::ffff:169.254.169.254", "cloud metadata", id="ipv4-mapped-metadata"),
        pytest.param("64:ff9b::a00:1", "private", id="nat64"),
        pytest.param("2002:a00:1::1", "private", id="6to4"),
    ],
)
def test_private_addresses_are_refused_before_any_connect(
    make_fetcher: FetcherFactory,
    resolver: FakeResolver,
    backend: LoopbackOnlyBackend,
    address: str,
    kind: str,
) -> None:
    resolver.names["evil.test"] = [address]
    error = refusal(make_fetcher(), "http://evil.test/latest/meta-data")
    assert error.code == INVALID_URL
    assert f"refusing to fetch from a {kind}" in error.description
    assert str(ipaddress.ip_address(address)) in error.description
    if address.startswith("::ffff:"):
        assert address.removeprefix("::ffff:") in error.description
    assert resolver.calls == ["evil.test"]
    assert backend.connects == []


def test_one_bad_address_among_public_ones_is_enough(
    make_fetcher: FetcherFactory, resolver: FakeResolver, backend: LoopbackOnlyBackend
) -> None:
    resolver.names["mixed.test"] = ["93.184.216.34", "2606:2800:220:1::1", "10.0.0.5"]
    error = refusal(make_fetcher(), "https://mixed.test/cat.jpg")
    assert error.code == INVALID_URL
    assert "10.0.0.5" in error.description
    assert backend.connects == []


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/",
        "http://[::ffff:192.168.0.1]/",
        "https://[fd00:ec2::254]/",
    ],
)
def test_ip_literals_are_checked_without_the_resolver(
    make_fetcher: FetcherFactory, resolver: FakeResolver, backend: LoopbackOnlyBackend, url: str
) -> None:
    fetcher = make_fetcher()
    for check in (fetcher.fetch, fetcher.check_url):
        with pytest.raises(FetchRejected) as caught:
            check(url)
        assert caught.value.code == INVALID_URL
    assert resolver.calls == []
    assert backend.connects == []


def test_public_addresses_pass_the_check(
    make_fetcher: FetcherFactory, resolver: FakeResolver, backend: LoopbackOnlyBackend
) -> None:
    # The test backend stands in for the internet: it records the connect and fails it.
    resolver.names["public.test"] = ["93.184.216.34"]
    error = refusal(make_fetcher(), "http://public.test/cat.jpg")
    assert error.code == DOWNLOAD_FAILED
    assert backend.hosts == ["93.184.216.34"]


def test_the_connection_goes_to_the_checked_address_and_keeps_the_host_name(
    server: LocalServer,
    make_fetcher: FetcherFactory,
    resolver: FakeResolver,
    backend: LoopbackOnlyBackend,
) -> None:
    resolver.names["images.test"] = ["127.0.0.1"]
    fetcher = make_fetcher(allowed_hosts=frozenset({"IMAGES.test"}))
    body = fetcher.fetch(server.url("/host", host="images.test"))
    assert body == f"images.test:{server.port}".encode()
    # Resolved once, connected to that very address: no second lookup to rebind.
    assert resolver.calls == ["images.test"]
    assert backend.hosts == ["127.0.0.1"]


def test_allowed_networks_let_private_addresses_through(
    server: LocalServer, make_fetcher: FetcherFactory, resolver: FakeResolver
) -> None:
    resolver.names["lan.test"] = ["127.0.0.1"]
    fetcher = make_fetcher(allowed_hosts=frozenset({"127.0.0.0/8"}))
    assert fetcher.fetch(server.url("/ok", host="lan.test")) == b"hello"
    assert fetcher.fetch(server.url("/ok")) == b"hello"


def test_allow_private_still_refuses_cloud_metadata(
    make_fetcher: FetcherFactory, resolver: FakeResolver, backend: LoopbackOnlyBackend
) -> None:
    resolver.names["metadata.test"] = ["169.254.169.254"]
    error = refusal(make_fetcher(allow_private=True), "http://metadata.test/")
    assert error.code == INVALID_URL
    assert "cloud metadata" in error.description
    assert backend.connects == []


def test_a_metadata_address_can_be_allowed_explicitly(
    make_fetcher: FetcherFactory, resolver: FakeResolver, backend: LoopbackOnlyBackend
) -> None:
    resolver.names["metadata.test"] = ["169.254.169.254"]
    fetcher = make_fetcher(allowed_hosts=frozenset({"169.254.169.254/32"}))
    assert refusal(fetcher, "http://metadata.test/").code == DOWNLOAD_FAILED
    assert backend.hosts == ["169.254.169.254"]  # past the guard; the test backend said no


def test_a_name_that_does_not_resolve(make_fetcher: FetcherFactory) -> None:
    error = refusal(make_fetcher(), "http://nowhere.test/")
    assert error.code == DOWNLOAD_FAILED
    assert "could not resolve host nowhere.test" in error.description


def test_tls_is_done_with_the_host_name(
    server: LocalServer, resolver: FakeResolver, backend: LoopbackOnlyBackend
) -> None:
    handshakes: list[str | None] = []

    class NoTlsStream(httpcore.NetworkStream):
        def __init__(self, inner: httpcore.NetworkStream) -> None:
            self.inner = inner

        def start_tls(
            self,
            ssl_context: ssl.SSLContext,
            server_hostname: str | None = None,
            timeout: float | None = None,
        ) -> httpcore.NetworkStream:
            handshakes.append(server_hostname)
            self.inner.close()  # as httpcore's own streams do when a handshake fails
            raise httpcore.ConnectError("test: no TLS server here")

        def close(self) -> None:
            self.inner.close()

    class Backend(LoopbackOnlyBackend):
        def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
            return NoTlsStream(super().connect_tcp(*args, **kwargs))

    resolver.names["secure.test"] = ["127.0.0.1"]
    policy = FetchPolicy(allow_private=True)
    with UrlFetcher(policy, resolver=resolver, network_backend=(tls := Backend())) as fetcher:
        error = refusal(fetcher, f"https://secure.test:{server.port}/ok")
    assert error.code == DOWNLOAD_FAILED
    assert tls.hosts == ["127.0.0.1"]
    assert handshakes == ["secure.test"]


# -- redirects ----------------------------------------------------------------------------


def test_redirects_are_followed(server: LocalServer, make_fetcher: FetcherFactory) -> None:
    fetcher = make_fetcher(allow_private=True)
    assert fetcher.fetch(server.url("/redirect?to=/ok")) == b"hello"


def test_a_redirect_to_a_private_address_is_refused(
    server: LocalServer,
    make_fetcher: FetcherFactory,
    resolver: FakeResolver,
    backend: LoopbackOnlyBackend,
) -> None:
    resolver.names["evil.test"] = ["10.0.0.5"]
    fetcher = make_fetcher(allowed_hosts=frozenset({"127.0.0.1"}))
    target = f"http://evil.test:{server.port}/ok"
    error = refusal(fetcher, server.url(f"/redirect?to={target}"))
    assert error.code == INVALID_URL
    assert "private address 10.0.0.5" in error.description
    assert resolver.calls == ["evil.test"]
    assert backend.hosts == ["127.0.0.1"]  # the first hop only


def test_a_redirect_to_an_allowed_name_is_followed(
    server: LocalServer, make_fetcher: FetcherFactory, resolver: FakeResolver
) -> None:
    resolver.names["cdn.test"] = ["127.0.0.1"]
    fetcher = make_fetcher(allowed_hosts=frozenset({"127.0.0.1", "cdn.test"}))
    target = f"http://cdn.test:{server.port}/host"
    assert fetcher.fetch(server.url(f"/redirect?to={target}")) == f"cdn.test:{server.port}".encode()


@pytest.mark.parametrize(
    ("target", "scheme"),
    [("ftp://127.0.0.1/file", "ftp"), ("file:///etc/passwd", "file"), ("gopher://x/", "gopher")],
)
def test_a_redirect_to_another_scheme_is_refused(
    server: LocalServer, make_fetcher: FetcherFactory, target: str, scheme: str
) -> None:
    error = refusal(make_fetcher(allow_private=True), server.url(f"/redirect?to={target}"))
    assert error.code == INVALID_URL
    assert repr(scheme) in error.description


def test_too_many_redirects(server: LocalServer, make_fetcher: FetcherFactory) -> None:
    before = server.paths.count("/loop")
    error = refusal(make_fetcher(allow_private=True, max_redirects=3), server.url("/loop"))
    assert error.code in (DOWNLOAD_FAILED, INVALID_URL)
    assert "too many redirects" in error.description
    assert server.paths.count("/loop") - before == 4  # the request and three redirects


# -- URLs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "says"),
    [
        pytest.param("ftp://127.0.0.1/cat.jpg", "'ftp'", id="ftp"),
        pytest.param("file:///etc/passwd", "'file'", id="file"),
        pytest.param("javascript:alert(1)", "'javascript'", id="javascript"),
        pytest.param("data:image/png;base64,AAAA", "'data'", id="data"),
        pytest.param("cat.jpg", "absolute", id="relative"),
        pytest.param("", "absolute", id="empty"),
        pytest.param("http://", "no host", id="no-host"),
        pytest.param("http://user:secret@127.0.0.1/", "password", id="credentials"),
        pytest.param("http://[::1/", "not valid", id="unparseable"),
    ],
)
def test_bad_urls_are_refused(
    make_fetcher: FetcherFactory, backend: LoopbackOnlyBackend, url: str, says: str
) -> None:
    fetcher = make_fetcher(allow_private=True)
    for check in (fetcher.fetch, fetcher.check_url):
        with pytest.raises(FetchRejected) as caught:
            check(url)
        assert caught.value.code == INVALID_URL
        assert says in caught.value.description
    assert backend.connects == []


def test_check_url_makes_no_lookup(make_fetcher: FetcherFactory, resolver: FakeResolver) -> None:
    make_fetcher().check_url("https://images.example.com/cat.jpg")
    make_fetcher(allow_private=True).check_url("http://10.0.0.5/cat.jpg")
    assert resolver.calls == []


# -- sizes, statuses, timeouts ------------------------------------------------------------


def test_a_body_of_exactly_max_bytes_is_fine(
    server: LocalServer, make_fetcher: FetcherFactory
) -> None:
    fetcher = make_fetcher(allow_private=True, max_bytes=1000)
    assert len(fetcher.fetch(server.url("/bytes?n=1000"))) == 1000


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/bytes?n=5000", id="content-length"),
        pytest.param("/chunked", id="chunked"),
        pytest.param("/endless", id="endless"),
        pytest.param("/gzip-bomb", id="gzip-bomb"),
        pytest.param("/double-gzip-bomb", id="double-gzip-bomb"),
    ],
)
def test_a_body_over_max_bytes_is_refused(
    server: LocalServer, make_fetcher: FetcherFactory, path: str
) -> None:
    fetcher = make_fetcher(allow_private=True, max_bytes=1000, total_timeout=5.0)
    started = time.monotonic()
    error = refusal(fetcher, server.url(path))
    assert error.code == OVER_LIMIT
    assert error.description == "the file is larger than 1000 bytes"
    assert time.monotonic() - started < 2.0


def test_a_double_gzip_bomb_is_decoded_only_up_to_the_cap(
    server: LocalServer, make_fetcher: FetcherFactory
) -> None:
    fetcher = make_fetcher(allow_private=True, max_bytes=1024 * 1024)
    with traced_peak() as memory:
        error = refusal(fetcher, server.url("/double-gzip-bomb"))
    assert error.code == OVER_LIMIT
    # 64 MiB decoded in full; the cap plus a few 64 KiB pieces when decoding stops at the cap.
    assert memory.bytes < 8 << 20, f"{memory.bytes >> 20} MiB held at once"


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "deflate", "gzip-twice", "identity-and-gzip"])
def test_compressed_bodies_are_decoded(
    server: LocalServer, make_fetcher: FetcherFactory, coding: str
) -> None:
    fetcher = make_fetcher(allow_private=True)
    assert fetcher.fetch(server.url(f"/encoded?as={coding}")) == HELLO


def test_a_large_compressed_body_is_decoded_whole(
    server: LocalServer, make_fetcher: FetcherFactory
) -> None:
    fetcher = make_fetcher(allow_private=True)
    assert fetcher.fetch(server.url("/encoded?as=large-gzip-twice")) == LARGE


@pytest.mark.parametrize(
    ("coding", "reason"),
    [
        pytest.param("brotli", "content coding 'br', which is not supported", id="unsupported"),
        pytest.param("gzip-thrice", "compressed the file 3 times over", id="three-layers"),
        pytest.param("corrupt-gzip", "gzip compression is corrupt", id="corrupt"),
    ],
)
def test_bodies_that_cannot_be_decoded_are_a_failed_download(
    server: LocalServer, make_fetcher: FetcherFactory, coding: str, reason: str
) -> None:
    error = refusal(make_fetcher(allow_private=True), server.url(f"/encoded?as={coding}"))
    assert error.code == DOWNLOAD_FAILED
    assert reason in error.description


def test_a_limit_in_whole_megabytes_is_described_in_megabytes(
    server: LocalServer, make_fetcher: FetcherFactory
) -> None:
    fetcher = make_fetcher(allow_private=True, max_bytes=2 * 1024 * 1024)
    error = refusal(fetcher, server.url(f"/bytes?n={2 * 1024 * 1024 + 1}"))
    assert (error.code, error.description) == (OVER_LIMIT, "the file is larger than 2 MB")


@pytest.mark.parametrize("status", [404, 403, 500, 503])
def test_an_http_error_status_is_a_failed_download(
    server: LocalServer, make_fetcher: FetcherFactory, status: int
) -> None:
    error = refusal(make_fetcher(allow_private=True), server.url(f"/status?code={status}"))
    assert error.code == DOWNLOAD_FAILED
    assert f"HTTP {status}" in error.description


@pytest.mark.parametrize("path", ["/slow", "/trickle"])
def test_a_slow_server_times_out(
    server: LocalServer, make_fetcher: FetcherFactory, path: str
) -> None:
    fetcher = make_fetcher(allow_private=True, total_timeout=0.4)
    started = time.monotonic()
    error = refusal(fetcher, server.url(path))
    elapsed = time.monotonic() - started
    assert error.code == DOWNLOAD_FAILED
    assert error.description == "the download timed out after 0.4 s"
    assert 0.35 < elapsed < 1.5


def test_a_refused_connection_is_a_failed_download(make_fetcher: FetcherFactory) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    error = refusal(make_fetcher(allow_private=True), f"http://127.0.0.1:{closed_port}/")
    assert error.code == DOWNLOAD_FAILED
    assert "the download failed" in error.description


def test_the_connect_timeout_is_passed_down_and_reported(
    make_fetcher: FetcherFactory, resolver: FakeResolver, backend: LoopbackOnlyBackend
) -> None:
    class HangingBackend(LoopbackOnlyBackend):
        def connect_tcp(
            self, host: str, port: int, timeout: float | None = None, *_: Any, **__: Any
        ) -> httpcore.NetworkStream:
            self.connects.append((host, port, timeout))
            raise httpcore.ConnectTimeout("timed out")

    resolver.names["slow.test"] = ["93.184.216.34", "93.184.216.35"]
    hanging = HangingBackend()
    policy = FetchPolicy(connect_timeout=0.25)
    with UrlFetcher(policy, resolver=resolver, network_backend=hanging) as fetcher:
        error = refusal(fetcher, "http://slow.test/")
    assert error.code == DOWNLOAD_FAILED
    assert error.description == "connecting to the server timed out after 0.25 s"
    assert [host for host, _, _ in hanging.connects] == ["93.184.216.34", "93.184.216.35"]
    assert all(timeout is not None and timeout <= 0.25 for _, _, timeout in hanging.connects)


# -- sharing one fetcher ------------------------------------------------------------------


def test_no_cookies_carry_over_between_fetches(
    server: LocalServer, make_fetcher: FetcherFactory
) -> None:
    fetcher = make_fetcher(allow_private=True)
    assert fetcher.fetch(server.url("/set-cookie")) == b"set"
    assert fetcher.fetch(server.url("/cookie")) == b""


def test_one_fetcher_serves_many_threads(server: LocalServer, make_fetcher: FetcherFactory) -> None:
    fetcher = make_fetcher(allow_private=True, total_timeout=5.0)
    with ThreadPoolExecutor(max_workers=8) as pool:
        bodies = list(pool.map(fetcher.fetch, [server.url("/ok")] * 32))
    assert bodies == [b"hello"] * 32


def test_a_slow_fetch_does_not_shorten_another_threads_deadline(
    server: LocalServer, make_fetcher: FetcherFactory
) -> None:
    fetcher = make_fetcher(allow_private=True, total_timeout=0.5)
    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = pool.submit(refusal, fetcher, server.url("/slow"))
        time.sleep(0.3)
        assert fetcher.fetch(server.url("/ok")) == b"hello"
        assert slow.result().code == DOWNLOAD_FAILED
