"""The storage Protocols on SQLAlchemy Core: one implementation for SQLite and PostgreSQL.

One class per resource family, all on one engine. Only the composition root
(``clarion.server.app``) and storage's own tests name these classes; everything else is typed on
the Protocols beside the records (an import contract in ``pyproject.toml`` keeps it so).
"""

from clarion.storage.sql.accounts import SqlAccountStore
from clarion.storage.sql.annotations import SqlAnnotationStore
from clarion.storage.sql.bulk_operations import SqlBulkOperationStore
from clarion.storage.sql.compute import SqlComputeStore
from clarion.storage.sql.concept_graph import SqlConceptGraphStore
from clarion.storage.sql.concepts import SqlConceptStore
from clarion.storage.sql.datasets import SqlDatasetStore
from clarion.storage.sql.evaluations import SqlEvaluationStore
from clarion.storage.sql.inputs import SqlInputStore
from clarion.storage.sql.jobs import SqlJobQueue
from clarion.storage.sql.model_exports import SqlModelExportStore
from clarion.storage.sql.models import SqlModelStore
from clarion.storage.sql.searches import SqlSearchStore
from clarion.storage.sql.videos import SqlVideoStore

__all__ = [
    "SqlAccountStore",
    "SqlAnnotationStore",
    "SqlBulkOperationStore",
    "SqlComputeStore",
    "SqlConceptGraphStore",
    "SqlConceptStore",
    "SqlDatasetStore",
    "SqlEvaluationStore",
    "SqlInputStore",
    "SqlJobQueue",
    "SqlModelExportStore",
    "SqlModelStore",
    "SqlSearchStore",
    "SqlVideoStore",
]
