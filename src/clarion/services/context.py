"""Who is calling and on what: what the server's auth step hands every handler."""

from __future__ import annotations

import time
from dataclasses import dataclass

from clarion.errors import DeadlineExceeded
from clarion.protocol.descriptor import MethodSpec
from clarion.storage.accounts import PERSONAL_ACCESS_TOKEN, AppRecord, KeyRecord

ALL_SCOPES = "All"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a user, through one credential."""

    key: KeyRecord

    @property
    def user_id(self) -> str:
        return self.key.user_id

    @property
    def is_pat(self) -> bool:
        return self.key.type == PERSONAL_ACCESS_TOKEN

    def has_scopes(self, needed: frozenset[str]) -> bool:
        return ALL_SCOPES in self.key.scopes or needed <= set(self.key.scopes)

    def missing_scopes(self, needed: frozenset[str]) -> list[str]:
        if ALL_SCOPES in self.key.scopes:
            return []
        return sorted(needed - set(self.key.scopes))

    def owns(self, app: AppRecord) -> bool:
        """True when this credential may write to ``app``: a PAT its user's apps, an API key
        its own app. Reading a public app does not make it the caller's."""
        if self.is_pat:
            return app.user_id == self.user_id
        return (app.user_id, app.id) == (self.key.user_id, self.key.app_id)


@dataclass(frozen=True, slots=True)
class CallContext:
    """One call after authentication: the method, the caller, and the user and app it targets.

    ``user_id`` is never "me" and ``app`` (when the request names an app, or an API key implies
    one) is an app the caller may use for this method.
    """

    method: MethodSpec
    req_id: str
    principal: Principal | None
    user_id: str = ""
    app: AppRecord | None = None
    deadline: float | None = None  # time.monotonic() by which the call must be answered
    # The most metadata a request may carry, and a resource keep after a merge (0: no limit).
    max_metadata_bytes: int = 0

    def check_deadline(self, before: str) -> None:
        """Raise ``DeadlineExceeded`` when the call's time ran out, naming what it was about
        to do: a handler calls this between stages so it stops working for nobody."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise DeadlineExceeded(f"The call ran out of time before {before}")

    @property
    def caller(self) -> Principal:
        """The principal of a method that needs one (every method but the NoAuth ones)."""
        assert self.principal is not None, f"{self.method.name} runs without a credential"
        return self.principal

    @property
    def own_user(self) -> bool:
        """True when the call targets the caller's own user."""
        return self.principal is not None and self.user_id == self.principal.user_id
