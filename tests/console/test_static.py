"""The console's files: served at /console, all shipped, strict headers, no other host named."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx

from clarion.console import STATIC_DIR
from clarion.testing import RunningServer

# An XML namespace names a host without the browser ever asking it for anything.
NAMESPACES = {"http://www.w3.org/2000/svg"}
IMPORT = re.compile(r"""(?:from|import)\s+["'](\.{1,2}/[^"']+)["']""")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith("#"):
                self.links.append(value)


def test_console_is_served_with_strict_headers(server: RunningServer) -> None:
    with httpx.Client(base_url=server.http_url) as client:
        moved = client.get("/console")
        assert moved.status_code == 308 and moved.headers["location"] == "/console/"
        page = client.get("/console/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "connect-src 'self'" in policy
        assert page.headers["cache-control"] == "no-cache"
        script = client.get("/console/js/main.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        # The API around it still answers JSON, unknown routes included.
        assert client.get("/v2/nowhere").json()["status"]["code"] == 11101
        assert client.get("/console/nowhere.js").status_code == 404


def test_every_file_the_page_loads_is_shipped(server: RunningServer) -> None:
    parser = _Links()
    parser.feed((STATIC_DIR / "index.html").read_text())
    wanted = set(parser.links)
    for module in STATIC_DIR.rglob("*.js"):
        folder = module.parent.relative_to(STATIC_DIR)
        for target in IMPORT.findall(module.read_text()):
            wanted.add(str((folder / target).as_posix()))
    wanted = {_normal(path) for path in wanted}
    assert "js/main.js" in wanted and "js/pages/inputs.js" in wanted
    with httpx.Client(base_url=f"{server.http_url}/console/") as client:
        missing = [path for path in sorted(wanted) if client.get(path).status_code != 200]
    assert not missing


def _normal(path: str) -> str:
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts)


def test_no_file_names_another_host() -> None:
    url = re.compile(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s"'`)]*""", re.IGNORECASE)
    found = {
        f"{path.relative_to(STATIC_DIR)}: {match}"
        for path in STATIC_DIR.rglob("*")
        if path.is_file()
        for match in url.findall(path.read_text())
        if match not in NAMESPACES
    }
    assert not found
