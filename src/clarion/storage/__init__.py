"""Storage: per resource family, plain records and the ``Protocol`` the rest of Clarion is
typed on (``accounts``, ``inputs``, ``concepts``, ``concept_graph``, ``annotations``,
``bulk_operations``, ``datasets``, ``models``, ``searches``, ``jobs``, ``evaluations``); their
SQLAlchemy implementations on SQLite or PostgreSQL are in ``clarion.storage.sql``. Storage
raises only ``clarion.storage.errors``."""

from clarion.storage.accounts import (
    APP_SPECIFIC_KEY,
    PERSONAL_ACCESS_TOKEN,
    AccountStore,
    AppRecord,
    KeyRecord,
    UserRecord,
)
from clarion.storage.annotations import AnnotationRecord, AnnotationStore
from clarion.storage.base import Page
from clarion.storage.bulk_operations import BulkOperationStore
from clarion.storage.concept_graph import ConceptGraphStore
from clarion.storage.concepts import ConceptRecord, ConceptStore
from clarion.storage.datasets import DatasetRecord, DatasetStore
from clarion.storage.errors import (
    ConceptsExist,
    Conflict,
    DatabaseBusy,
    InvalidValue,
    SchemaTooNew,
    StorageError,
)
from clarion.storage.evaluations import EvaluationStore
from clarion.storage.inputs import InputRecord, InputStore
from clarion.storage.jobs import JobQueue
from clarion.storage.models import ModelStore
from clarion.storage.searches import SearchStore

__all__ = [
    "APP_SPECIFIC_KEY",
    "PERSONAL_ACCESS_TOKEN",
    "AccountStore",
    "AnnotationRecord",
    "AnnotationStore",
    "AppRecord",
    "BulkOperationStore",
    "ConceptGraphStore",
    "ConceptRecord",
    "ConceptStore",
    "ConceptsExist",
    "Conflict",
    "DatabaseBusy",
    "DatasetRecord",
    "DatasetStore",
    "EvaluationStore",
    "InputRecord",
    "InputStore",
    "InvalidValue",
    "JobQueue",
    "KeyRecord",
    "ModelStore",
    "Page",
    "SchemaTooNew",
    "SearchStore",
    "StorageError",
    "UserRecord",
]
