"""Channels for the low level the Clarifai docs show: ``V2Stub(channel)`` plus metadata.

``ClarifaiChannel`` has the official factories' names and arguments, so the docs' snippets
run with only the import changed; ``grpc_channel``/``json_channel`` and their ``aio_`` twins
take a Clarion URL instead. Unlike the official factories these read the environment when
called, never at import, and also trust ``CLARIFAI_ROOT_CERTIFICATES_PATH`` (the variable the
``clarifai`` SDK reads) for a server with its own CA.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc

from clarion.client._json_channel import AsyncJsonChannel, JsonChannel
from clarion.client._stubcompat import prepare_v2_stub
from clarion.protocol.descriptor import SERVICE_NAME

_MAX_MESSAGE_BYTES = 1024 * 1024 * 1024
# The official channels' retry of UNAVAILABLE, so low-level callers see the same behaviour.
_RETRY_UNAVAILABLE = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{"service": SERVICE_NAME}],
                "retryPolicy": {
                    "maxAttempts": 5,
                    "initialBackoff": "0.01s",
                    "maxBackoff": "5s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
)
DEFAULT_GRPC_BASE = "api.clarifai.com"
DEFAULT_API_BASE = "https://api.clarifai.com"


def channel_options(*, retry_unavailable: bool = True) -> list[tuple[str, Any]]:
    """gRPC channel options: 1 GiB messages, and gRPC's own retry of UNAVAILABLE if asked."""
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
    ]
    if retry_unavailable:
        options.append(("grpc.service_config", _RETRY_UNAVAILABLE))
    return options


def grpc_channel(
    target: str,
    *,
    tls: bool = False,
    root_certificates: bytes | None = None,
    retry_unavailable: bool = True,
) -> grpc.Channel:
    """A gRPC channel to ``host:port``, plaintext or TLS (``root_certificates``: PEM CA)."""
    prepare_v2_stub()
    options = channel_options(retry_unavailable=retry_unavailable)
    if tls:
        credentials = grpc.ssl_channel_credentials(root_certificates)
        return grpc.secure_channel(target, credentials, options=options)
    return grpc.insecure_channel(target, options=options)


def aio_grpc_channel(
    target: str,
    *,
    tls: bool = False,
    root_certificates: bytes | None = None,
    retry_unavailable: bool = True,
) -> grpc.aio.Channel:
    """The ``grpc.aio`` twin of ``grpc_channel``; stub calls are awaited."""
    prepare_v2_stub()
    options = channel_options(retry_unavailable=retry_unavailable)
    if tls:
        credentials = grpc.ssl_channel_credentials(root_certificates)
        return grpc.aio.secure_channel(target, credentials, options=options)
    return grpc.aio.insecure_channel(target, options=options)


def json_channel(base_url: str, *, root_certificates: bytes | None = None) -> JsonChannel:
    """An HTTP+JSON channel to ``http(s)://host:port``."""
    return JsonChannel(_checked_http_url(base_url), root_certificates=root_certificates)


def aio_json_channel(base_url: str, *, root_certificates: bytes | None = None) -> AsyncJsonChannel:
    """The asyncio twin of ``json_channel``."""
    return AsyncJsonChannel(_checked_http_url(base_url), root_certificates=root_certificates)


def _checked_http_url(base_url: str) -> str:
    if urlsplit(base_url).scheme not in ("http", "https"):
        raise ValueError(f"The JSON channel needs an http:// or https:// URL, not {base_url!r}")
    return base_url


def read_root_certificates(path: str | os.PathLike[str] | None) -> bytes | None:
    """PEM roots from ``path``, else from ``CLARIFAI_ROOT_CERTIFICATES_PATH``, else None."""
    path = path or os.environ.get("CLARIFAI_ROOT_CERTIFICATES_PATH") or None
    return Path(path).read_bytes() if path else None


def _tls_base(base: str | None) -> str:
    base = base or os.environ.get("CLARIFAI_GRPC_BASE") or DEFAULT_GRPC_BASE
    if base.startswith(("http:", "https:")):
        raise ValueError(
            "A gRPC base is host[:port] (api.clarifai.com), without http:// or https://"
        )
    return base


def _insecure_target(base: str | None, port: int) -> str:
    base = base or os.environ.get("CLARIFAI_GRPC_BASE")
    if not base:
        raise ValueError("Set 'base' or the CLARIFAI_GRPC_BASE variable")
    return f"{base}:{port}"


class ClarifaiChannel:
    """Drop-in for ``clarifai_grpc.channel.clarifai_channel.ClarifaiChannel``.

    Same factory names, arguments and defaults, so ``channel = ClarifaiChannel.get_...()``
    followed by ``V2Stub(channel)`` works unchanged; the JSON factories return Clarion's
    ``JsonChannel``/``AsyncJsonChannel``.
    """

    @staticmethod
    def get_grpc_channel(
        base: str | None = None, root_certificates_path: str | None = None
    ) -> grpc.Channel:
        """TLS gRPC to ``base`` (else ``CLARIFAI_GRPC_BASE``, else api.clarifai.com)."""
        roots = read_root_certificates(root_certificates_path)
        return grpc_channel(_tls_base(base), tls=True, root_certificates=roots)

    @staticmethod
    def get_insecure_grpc_channel(base: str | None = None, port: int = 18080) -> grpc.Channel:
        """Plaintext gRPC to ``base:port`` (``base`` else ``CLARIFAI_GRPC_BASE``)."""
        return grpc_channel(_insecure_target(base, port))

    @staticmethod
    def get_json_channel(
        base_url: str | None = None, root_certificates_path: str | None = None
    ) -> JsonChannel:
        """HTTP+JSON to ``base_url`` (else ``CLARIFAI_API_BASE``, else api.clarifai.com)."""
        url = base_url or os.environ.get("CLARIFAI_API_BASE") or DEFAULT_API_BASE
        return json_channel(url, root_certificates=read_root_certificates(root_certificates_path))

    @staticmethod
    def get_aio_grpc_channel(
        base: str | None = None, root_certificates_path: str | None = None
    ) -> grpc.aio.Channel:
        """The ``grpc.aio`` twin of ``get_grpc_channel``."""
        roots = read_root_certificates(root_certificates_path)
        return aio_grpc_channel(_tls_base(base), tls=True, root_certificates=roots)

    @staticmethod
    def get_aio_insecure_grpc_channel(
        base: str | None = None, port: int = 18080
    ) -> grpc.aio.Channel:
        """The ``grpc.aio`` twin of ``get_insecure_grpc_channel``."""
        return aio_grpc_channel(_insecure_target(base, port))

    @staticmethod
    def get_aio_json_channel(
        base_url: str | None = None, root_certificates_path: str | None = None
    ) -> AsyncJsonChannel:
        """The asyncio twin of ``get_json_channel``."""
        url = base_url or os.environ.get("CLARIFAI_API_BASE") or DEFAULT_API_BASE
        return aio_json_channel(
            url, root_certificates=read_root_certificates(root_certificates_path)
        )
