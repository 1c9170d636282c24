"""Annotations of inputs: the record and the ``AnnotationStore`` protocol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from clarion.codes import ANNOTATION_SUCCESS
from clarion.storage.base import Page


@dataclass(frozen=True, slots=True)
class AnnotationRecord:
    """``data`` is the annotation's Data as plain JSON (``concepts``, ``regions``)."""

    id: str
    input_id: str
    data: Mapping[str, Any] = field(default_factory=dict)
    input_level: bool = False
    status_code: int = ANNOTATION_SUCCESS
    created_at: datetime | None = None
    modified_at: datetime | None = None


class AnnotationStore(Protocol):
    """Annotations of apps' inputs, by the app's ``pk``; the concepts they name are created
    with them."""

    def add_annotations(
        self, app_pk: int, records: Sequence[AnnotationRecord]
    ) -> list[AnnotationRecord]: ...
    def get_annotation(self, app_pk: int, annotation_id: str) -> AnnotationRecord | None: ...
    def list_annotations(
        self,
        app_pk: int,
        page: Page,
        *,
        ids: Sequence[str] = (),
        input_ids: Sequence[str] = (),
        input_level: bool | None = None,
    ) -> list[AnnotationRecord]: ...
    def update_annotation(self, app_pk: int, record: AnnotationRecord) -> AnnotationRecord: ...
    def set_input_level_concepts(
        self, app_pk: int, input_id: str, data: Mapping[str, Any], new_id: str
    ) -> None:
        """Replace the input-level annotation's data, creating it (as ``new_id``) if absent."""
        ...

    def delete_annotations(
        self, app_pk: int, *, ids: Sequence[str] = (), input_ids: Sequence[str] = ()
    ) -> int: ...
