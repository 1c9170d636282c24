"""Clarion: the Clarifai API (gRPC and HTTP+JSON), self-hosted and offline.

``from clarion import Client, AsyncClient`` is the Python client (``clarion.client``); it is
imported on first use, so ``import clarion`` stays cheap and never loads the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clarion.client import AsyncClient, Client

__version__ = "0.1.0"
__all__ = ["AsyncClient", "Client", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("Client", "AsyncClient"):
        from clarion import client

        return getattr(client, name)
    raise AttributeError(f"module 'clarion' has no attribute {name!r}")
