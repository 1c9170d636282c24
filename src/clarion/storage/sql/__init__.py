"""The storage Protocols on SQLAlchemy Core: one implementation for SQLite and PostgreSQL.

One class per resource family, all on one engine. Only the composition root
(``clarion.server.app``) and storage's own tests name these classes; everything else is typed on
the Protocols beside the records (an import contract in ``pyproject.toml`` keeps it so).
"""

from clarion.storage.sql.accounts import SqlAccountStore
from clarion.storage.sql.annotation_filters import SqlAnnotationFilters
from clarion.storage.sql.annotations import SqlAnnotationStore
from clarion.storage.sql.app_copies import SqlAppCopies
from clarion.storage.sql.app_reads import SqlAppReads
from clarion.storage.sql.audit import SqlAuditLog
from clarion.storage.sql.bulk_operations import SqlBulkOperationStore
from clarion.storage.sql.collaborators import SqlCollaboratorStore
from clarion.storage.sql.compute import SqlComputeStore
from clarion.storage.sql.concept_graph import SqlConceptGraphStore
from clarion.storage.sql.concepts import SqlConceptStore
from clarion.storage.sql.dataset_versions import SqlDatasetVersionStore
from clarion.storage.sql.datasets import SqlDatasetStore
from clarion.storage.sql.evaluations import SqlEvaluationStore
from clarion.storage.sql.extractions import SqlExtractionStore
from clarion.storage.sql.inputs import SqlInputStore
from clarion.storage.sql.jobs import SqlJobQueue
from clarion.storage.sql.labelling import SqlLabellingStore
from clarion.storage.sql.model_exports import SqlModelExportStore
from clarion.storage.sql.model_extras import SqlModelExtras
from clarion.storage.sql.model_uploads import SqlUploadedModelStore
from clarion.storage.sql.models import SqlModelStore
from clarion.storage.sql.notify import SqlJobNotifications, job_notifications
from clarion.storage.sql.pgvector import (
    SqlVectorSearch,
    SqlVectorSearchStore,
    prepare as prepare_pgvector,
)
from clarion.storage.sql.pruning import SqlPruning
from clarion.storage.sql.renames import SqlRenames
from clarion.storage.sql.searches import SqlSearchStore
from clarion.storage.sql.uploads import SqlUploadStore
from clarion.storage.sql.videos import SqlVideoStore
from clarion.storage.sql.workflow_versions import SqlWorkflowVersions

__all__ = [
    "SqlAccountStore",
    "SqlAnnotationFilters",
    "SqlAnnotationStore",
    "SqlAppCopies",
    "SqlAppReads",
    "SqlAuditLog",
    "SqlBulkOperationStore",
    "SqlCollaboratorStore",
    "SqlComputeStore",
    "SqlConceptGraphStore",
    "SqlConceptStore",
    "SqlDatasetStore",
    "SqlDatasetVersionStore",
    "SqlEvaluationStore",
    "SqlExtractionStore",
    "SqlInputStore",
    "SqlJobNotifications",
    "SqlJobQueue",
    "SqlLabellingStore",
    "SqlModelExportStore",
    "SqlModelExtras",
    "SqlModelStore",
    "SqlPruning",
    "SqlRenames",
    "SqlSearchStore",
    "SqlUploadStore",
    "SqlUploadedModelStore",
    "SqlVectorSearch",
    "SqlVectorSearchStore",
    "SqlVideoStore",
    "SqlWorkflowVersions",
    "job_notifications",
    "prepare_pgvector",
]
