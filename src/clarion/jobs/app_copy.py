"""The handler of ``app_duplication`` jobs: copy an app (``clarion.storage.app_copies``), then
reindex the copy's inputs so its searches answer from its own vector index."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from clarion.storage.app_copies import AppCopyStore
from clarion.storage.searches import SearchStore

log = logging.getLogger("clarion.app_copy")


class AppCopyJob:
    """Payload: ``{"duplication_pk"}``. The copy is one transaction, so a retry after a
    failure starts from nothing, and one after success only queues the reindex again."""

    def __init__(self, copies: AppCopyStore, reindexing: SearchStore) -> None:
        self._copies = copies
        self._reindexing = reindexing

    def __call__(self, payload: Mapping[str, Any]) -> None:
        destination = self._copies.run_copy(int(payload["duplication_pk"]))
        if destination is not None:
            count = self._reindexing.request_reindex(destination)
            log.info("app copy %s done; reindexing %d inputs", payload["duplication_pk"], count)

    def give_up(self, payload: Mapping[str, Any], error: BaseException) -> None:
        self._copies.fail(
            int(payload["duplication_pk"]),
            f"The copy failed ({type(error).__name__}); the server's log has the details: "
            "delete the new app and duplicate again",
        )
