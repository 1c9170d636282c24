"""List pagination: ``page`` from 1, ``per_page`` 128 by default and 1000 at most."""

from __future__ import annotations

from clarion.errors import InvalidArgument
from clarion.storage.base import Page

DEFAULT_PER_PAGE = 128
MAX_PER_PAGE = 1000


def page_of(page: int, per_page: int) -> Page:
    """The requested page; zero means the default, past the end is simply an empty page."""
    if page < 0 or per_page < 0:
        raise InvalidArgument("page and per_page must not be negative")
    if per_page > MAX_PER_PAGE:
        # Clamping would make a client that stops at a short page miss data silently.
        raise InvalidArgument(f"per_page must be at most {MAX_PER_PAGE}, got {per_page}")
    return Page(page=page or 1, per_page=per_page or DEFAULT_PER_PAGE)
