"""Reads over apps as wholes: how many of each resource an app holds, and apps found by name;
the record and the ``AppReadStore`` protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from clarion.storage.accounts import AppRecord
from clarion.storage.base import Page


@dataclass(frozen=True, slots=True)
class ResourceCounts:
    """How many inputs, datasets, custom models and workflows one app holds."""

    inputs: int
    datasets: int
    models: int
    workflows: int


class AppReadStore(Protocol):
    def resource_counts(self, app_pk: int) -> ResourceCounts:
        """The counts on one snapshot, so they agree with each other."""
        ...

    def search_apps(
        self, user_id: str, text: str, page: Page, *, public_only: bool = False
    ) -> list[AppRecord]:
        """The user's apps whose id or name contains ``text`` (any case), newest first."""
        ...
