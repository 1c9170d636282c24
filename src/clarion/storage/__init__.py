"""Storage: per resource family, plain records and the ``Protocol`` the rest of Clarion is
typed on (``accounts``, ``inputs``, ``concepts``, ``concept_graph``, ``annotations``,
``bulk_operations``, ``datasets``, ``models``, ``searches``, ``jobs``, ``evaluations``,
``videos``, ``compute``, ``renames``, ``model_extras``, ``workflow_versions``, ``app_reads``,
``app_copies``, ``annotation_filters``); their SQLAlchemy implementations on SQLite or
PostgreSQL are in ``clarion.storage.sql``. Storage raises only ``clarion.storage.errors``."""

from clarion.storage.accounts import (
    APP_SPECIFIC_KEY,
    PERSONAL_ACCESS_TOKEN,
    AccountStore,
    AppRecord,
    KeyRecord,
    UserRecord,
)
from clarion.storage.annotation_filters import AnnotationFilterRecord, AnnotationFilterStore
from clarion.storage.annotations import AnnotationRecord, AnnotationStore
from clarion.storage.app_copies import AppCopyStore, DuplicationRecord
from clarion.storage.app_reads import AppReadStore, ResourceCounts
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
from clarion.storage.model_extras import ModelExtraStore, VersionExtras
from clarion.storage.models import ModelStore
from clarion.storage.renames import RenameStore
from clarion.storage.searches import SearchStore
from clarion.storage.workflow_versions import WorkflowVersionRecord, WorkflowVersionStore

__all__ = [
    "APP_SPECIFIC_KEY",
    "PERSONAL_ACCESS_TOKEN",
    "AccountStore",
    "AnnotationFilterRecord",
    "AnnotationFilterStore",
    "AnnotationRecord",
    "AnnotationStore",
    "AppCopyStore",
    "AppReadStore",
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
    "DuplicationRecord",
    "EvaluationStore",
    "InputRecord",
    "InputStore",
    "InvalidValue",
    "JobQueue",
    "KeyRecord",
    "ModelExtraStore",
    "ModelStore",
    "Page",
    "RenameStore",
    "ResourceCounts",
    "SchemaTooNew",
    "SearchStore",
    "StorageError",
    "UserRecord",
    "VersionExtras",
    "WorkflowVersionRecord",
    "WorkflowVersionStore",
]
