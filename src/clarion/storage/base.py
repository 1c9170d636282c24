"""What every storage family shares: the ``Page`` a listing reads.

Each resource family has a module of its own holding its records and the ``Protocol`` the rest
of Clarion is typed on (``accounts``, ``inputs``, ``concepts``, ``annotations``, ``datasets``,
``models``, ``searches``, ``jobs``, ``evaluations``); their SQL implementations are in
``clarion.storage.sql``, which only the composition root (``clarion.server.app``) names.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Page:
    """``page`` counts from 1."""

    page: int = 1
    per_page: int = 128

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page
