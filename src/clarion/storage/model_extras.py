"""What a custom model and its versions carry beside what training needs: the model's labels
(toolkits, use cases, languages, consent checks) and each version's visibility, metadata and
license; the record and the ``ModelExtraStore`` protocol. The columns sit on the models'
and versions' rows, read and written only through this protocol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

LABEL_KINDS: Final = ("toolkits", "use_cases", "languages", "check_consents")
PRIVATE: Final = 10


@dataclass(frozen=True, slots=True)
class VersionExtras:
    """A model version's visibility (10 private, 50 public), metadata and license."""

    visibility: int = PRIVATE
    metadata: Mapping[str, Any] = field(default_factory=dict)
    license: str = ""


class ModelExtraStore(Protocol):
    """By the app's ``pk`` and the model's id; None or False where the model is absent."""

    def labels(self, app_pk: int, model_id: str) -> dict[str, list[str]] | None:
        """The model's labels by kind (``LABEL_KINDS``)."""
        ...

    def set_labels(
        self, app_pk: int, model_id: str, kind: str, values: Sequence[str]
    ) -> dict[str, list[str]] | None:
        """Replace one kind of label; all of the model's labels after, None if no model."""
        ...

    def version_extras(self, app_pk: int, model_id: str) -> dict[str, VersionExtras]:
        """Every version of the model, by version id."""
        ...

    def patch_version(
        self,
        app_pk: int,
        model_id: str,
        version_id: str,
        extras: VersionExtras,
        description: str | None,
    ) -> bool:
        """Store the version's extras (and description, unless None)."""
        ...

    def set_visibility(
        self, app_pk: int, model_id: str, version_ids: Sequence[str], visibility: int
    ) -> None:
        """All of the versions at once (the caller has checked that each exists)."""
        ...
