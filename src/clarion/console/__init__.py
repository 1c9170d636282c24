"""The web console: static HTML, CSS and JavaScript served at ``/console``.

The console is a client like any other: the browser keeps the user's PAT in its session
storage and calls the public HTTP+JSON API (``/v2/...``, ``/hosted/...``) with it. This
package only serves the files; it imports nothing from the rest of Clarion.

Public API: ``console_routes()`` (the routes to put before the API's catch-all route),
``STATIC_DIR`` and ``CONSOLE_PATH``.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

__all__ = ["CONSOLE_PATH", "STATIC_DIR", "console_routes"]

CONSOLE_PATH = "/console"
STATIC_DIR = Path(__file__).parent / "static"

# The browser may talk to this server only: no CDN, font host or third-party script, and no
# framing by other sites. Images come back from /hosted as blob: URLs (fetched with the PAT).
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
        "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    # Revalidate each time, so an upgraded server never runs last version's scripts.
    "cache-control": "no-cache",
}


class _ConsoleFiles:
    """``StaticFiles`` for the console's directory, with the security headers added."""

    def __init__(self, directory: Path) -> None:
        self._files = StaticFiles(directory=directory, html=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.decode("latin-1").lower() != "cache-control"
                ]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self._files(scope, receive, send_with_headers)


async def _to_console(request: Request) -> Response:
    return RedirectResponse(request.url.path + "/", status_code=308)


def console_routes() -> list[BaseRoute]:
    """``/console`` (a redirect to ``/console/``) and the console's files under it."""
    return [
        Route(CONSOLE_PATH, _to_console, methods=["GET", "HEAD"]),
        Mount(CONSOLE_PATH, app=_ConsoleFiles(STATIC_DIR), name="console"),
    ]
