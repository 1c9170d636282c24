"""Where the client connects and as whom: arguments first, then ``CLARIFAI_*`` if trusted.

The URL scheme picks the transport: ``http://``/``https://`` is HTTP+JSON, ``grpc://`` is
plaintext gRPC and ``grpcs://`` is gRPC over TLS. Naming ``transport="grpc"`` with an
``http(s)://`` URL speaks gRPC to that same host and port (TLS for https), for a server that
serves both on one port.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

TransportName = Literal["grpc", "http"]

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
_DEFAULT_PORTS = {"http": 80, "https": 443, "grpc": 18080, "grpcs": 443}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A parsed base URL: the transport to use and how to reach the server with it."""

    transport: TransportName
    tls: bool
    host: str
    port: int
    base_url: str  # for HTTP+JSON: scheme, host, port and any path prefix

    @property
    def grpc_target(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_endpoint(base_url: str, transport: TransportName | None = None) -> Endpoint:
    """The endpoint for ``base_url``; ``transport`` overrides what the scheme implies."""
    parts = urlsplit(base_url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(
            f"Base URL {base_url!r} needs a scheme and a host: http://, https://, "
            "grpc:// (plaintext gRPC) or grpcs:// (gRPC over TLS)"
        )
    implied: TransportName = "grpc" if scheme.startswith("grpc") else "http"
    chosen = transport or implied
    if chosen not in ("grpc", "http"):
        raise ValueError(f"Unknown transport {chosen!r}: use 'grpc' or 'http'")
    if chosen == "http" and implied == "grpc":
        raise ValueError(f"The HTTP+JSON transport needs an http(s):// URL, not {base_url!r}")
    tls = scheme in ("https", "grpcs")
    port = parts.port or _DEFAULT_PORTS[scheme]
    http_url = f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    return Endpoint(chosen, tls, parts.hostname, port, http_url)


@dataclass(frozen=True, slots=True)
class Settings:
    """The client's resolved configuration."""

    base_url: str
    token: str
    user_id: str | None
    app_id: str | None
    root_certificates: bytes | None


def resolve_settings(
    *,
    base_url: str | None,
    pat: str | None,
    api_key: str | None,
    user_id: str | None,
    app_id: str | None,
    root_certificates: bytes | str | os.PathLike[str] | None,
    trust_env: bool,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Arguments win; the ``CLARIFAI_*`` variables fill the gaps only when ``trust_env``."""
    env = (os.environ if environ is None else environ) if trust_env else {}
    if pat and api_key:
        raise ValueError("Give a PAT or an API key, not both")
    token = pat or api_key or env.get("CLARIFAI_PAT") or env.get("CLARIFAI_API_KEY") or ""
    roots = root_certificates or env.get("CLARIFAI_ROOT_CERTIFICATES_PATH") or None
    return Settings(
        base_url=base_url or env.get("CLARIFAI_API_BASE") or DEFAULT_BASE_URL,
        token=token,
        user_id=user_id or env.get("CLARIFAI_USER_ID") or None,
        app_id=app_id or env.get("CLARIFAI_APP_ID") or None,
        root_certificates=_read_roots(roots),
    )


def _read_roots(roots: bytes | str | os.PathLike[str] | None) -> bytes | None:
    """PEM bytes as given, or read from a path."""
    if roots is None or isinstance(roots, bytes):
        return roots
    return Path(roots).read_bytes()
