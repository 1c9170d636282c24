"""The relational schema, one definition for SQLite and PostgreSQL (Alembic migrates to it)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
# Keys that grow with the inputs: 64-bit on PostgreSQL (migration 0016). SQLite's INTEGER is
# 64-bit already, and only ``INTEGER PRIMARY KEY`` is its rowid (BIGINT would not autoincrement).
BigKey = BigInteger().with_variant(Integer(), "sqlite")

users = Table(
    "users",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("first_name", String(255), nullable=False, default=""),
    Column("last_name", String(255), nullable=False, default=""),
    Column("company_name", String(255), nullable=False, default=""),
    Column("email", String(255), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

apps = Table(
    "apps",
    metadata,
    # A surrogate key: resources inside an app reference it, and cascade on its deletion.
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(64), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("id", String(64), nullable=False),
    Column("name", String(255), nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("default_language", String(16), nullable=False, default="en"),
    Column("default_workflow_id", String(64), nullable=False, default=""),
    Column("visibility", Integer, nullable=False, default=10),
    Column("notes", Text, nullable=False, default=""),
    Column("metadata", JSON, nullable=False, default=dict),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("user_id", "id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("ref", String(32), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", String(64), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("type", String(32), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("scopes", JSON, nullable=False, default=list),
    Column("endpoints", JSON, nullable=False, default=list),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    # Calls a second this key may make; NULL: the server's CLARION_RATE_LIMIT_PER_KEY.
    Column("rate_limit", Float, nullable=True),
)

inputs = Table(
    "inputs",
    metadata,
    Column("pk", BigKey, primary_key=True, autoincrement=True),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column("id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # image, text
    Column("url", Text, nullable=False, default=""),
    Column("text", Text, nullable=False, default=""),
    # sha256 of the original bytes in the blob store, once known.
    Column("blob", String(64), nullable=True, index=True),
    Column("metadata", JSON, nullable=False, default=dict),
    Column("geo_longitude", Float, nullable=True),
    Column("geo_latitude", Float, nullable=True),
    Column("width", Integer, nullable=True),
    Column("height", Integer, nullable=True),
    Column("format", String(16), nullable=False, default=""),
    Column("status_code", Integer, nullable=False),
    Column("status_description", Text, nullable=False, default=""),
    Column("add_job_id", String(64), nullable=False, default="", index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("app_pk", "id"),
)

concepts = Table(
    "concepts",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column("id", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    Column("language", String(16), nullable=False, default="en"),
    Column("metadata", JSON, nullable=False, default=dict),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("app_pk", "id"),
)

annotation_table = Table(
    "annotations",
    metadata,
    Column("pk", BigKey, primary_key=True, autoincrement=True),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column("id", String(64), nullable=False),
    Column("input_pk", BigKey, ForeignKey("inputs.pk", ondelete="CASCADE"), nullable=False),
    Column("input_level", Boolean, nullable=False, default=False),
    # The annotation's Data in Clarifai JSON form (concepts, regions), as plain JSON.
    Column("data", JSON, nullable=False, default=dict),
    Column("status_code", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    # The labelling task an annotation was made for, and who made it (``storage.labelling``).
    Column("task_id", String(64), nullable=True),
    Column("worker_user_id", String(64), nullable=True),
    UniqueConstraint("app_pk", "id"),
)
# A search's hits find their input-level annotation by input (migration 0024).
Index("ix_annotations_input_level", annotation_table.c.input_pk, annotation_table.c.input_level)

datasets = Table(
    "datasets",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column("id", String(64), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("notes", Text, nullable=False, default=""),
    Column("metadata", JSON, nullable=False, default=dict),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("app_pk", "id"),
)

dataset_inputs = Table(
    "dataset_inputs",
    metadata,
    Column("dataset_pk", Integer, ForeignKey("datasets.pk", ondelete="CASCADE"), primary_key=True),
    Column("input_pk", BigKey, ForeignKey("inputs.pk", ondelete="CASCADE"), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
# A search's hits find their datasets by input; the primary key starts with the dataset.
Index("ix_dataset_inputs_input", dataset_inputs.c.input_pk)

jobs = Table(
    "jobs",
    metadata,
    Column("pk", BigKey, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("payload", JSON, nullable=False, default=dict),
    Column("state", String(16), nullable=False, index=True),  # queued, running, done, failed
    # Whose job it is: workers take apps' jobs in turn (0: a job of no one app).
    Column("app_pk", Integer, nullable=False, default=0, server_default="0"),
    Column("attempts", Integer, nullable=False, default=0),
    # A running job whose lease has ended is taken over by another worker.
    Column("lease_until", DateTime(timezone=True), nullable=True),
    # host:pid:nonce:nonce; host names run up to 64 characters (a Kubernetes pod's, say).
    Column("lease_token", String(255), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Claims walk the queued jobs app by app, oldest first within an app.
Index("ix_jobs_state_app_pk", jobs.c.state, jobs.c.app_pk, jobs.c.pk)

# Search: what ingestion computed for each input (embeddings, predicted concepts), the
# flattened metadata and annotated concepts that filters match in SQL, and a log of index
# changes that every process replays to keep its in-memory vector indexes current.

input_vectors = Table(
    "input_vectors",
    metadata,
    Column("input_pk", BigKey, ForeignKey("inputs.pk", ondelete="CASCADE"), primary_key=True),
    Column("space", String(64), primary_key=True),  # the embedding model's id
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column("vector", LargeBinary, nullable=False),  # float32, L2-normalised
)
Index("ix_input_vectors_app_space", input_vectors.c.app_pk, input_vectors.c.space)

input_predictions = Table(
    "input_predictions",
    metadata,
    Column("input_pk", BigKey, ForeignKey("inputs.pk", ondelete="CASCADE"), primary_key=True),
    Column("concept_id", String(255), primary_key=True),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("value", Float, nullable=False),
)
Index(
    "ix_input_predictions_app_concept", input_predictions.c.app_pk, input_predictions.c.concept_id
)

input_metadata = Table(
    "input_metadata",
    metadata,
    Column("input_pk", BigKey, ForeignKey("inputs.pk", ondelete="CASCADE"), nullable=False),
    Column("path", String(512), nullable=False),  # "a.b", and "a.tags[]" for list items
    Column("value", Text, nullable=False),  # canonical JSON of one leaf value
)
Index("ix_input_metadata_path_value", input_metadata.c.path, input_metadata.c.value)
# An input's rows, and (covering) a filter's probe of one candidate for a (path, value) pair.
Index(
    "ix_input_metadata_input_path_value",
    input_metadata.c.input_pk,
    input_metadata.c.path,
    input_metadata.c.value,
)

# One row: a number that every transaction changing ``input_metadata`` changes, through the
# table's triggers (migration 0025). Sets of inputs read from the table while the number held
# one value are still the table's answer while it holds that value (``metadata_sets``).
metadata_generation = Table(
    "metadata_generation",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("generation", BigInteger, nullable=False),
)

annotation_concepts = Table(
    "annotation_concepts",
    metadata,
    Column(
        "annotation_pk",
        BigKey,
        ForeignKey("annotations.pk", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("input_pk", BigKey, ForeignKey("inputs.pk", ondelete="CASCADE"), nullable=False),
    Column("concept_id", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    Column("value", Float, nullable=False),
)
Index("ix_annotation_concepts_concept", annotation_concepts.c.concept_id)
Index("ix_annotation_concepts_input", annotation_concepts.c.input_pk)
Index("ix_annotation_concepts_annotation", annotation_concepts.c.annotation_pk)

index_log = Table(
    "index_log",
    metadata,
    Column("seq", BigKey, primary_key=True, autoincrement=True),
    Column("app_pk", Integer, nullable=False),
    Column("space", String(64), nullable=False),
    Column("input_pk", BigKey, nullable=False),
    Column("op", String(8), nullable=False),  # "add" or "remove"
    # When the entry was written: entries older than the retention are pruned (0016).
    Column("logged_at", DateTime(timezone=True), nullable=True, server_default=func.now()),
)
# One row: the log position up to which entries were pruned. An in-memory index that reflects
# an older position cannot catch up from the log and is built again.
index_log_pruned = Table(
    "index_log_pruned",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", BigKey, nullable=False),
)
Index("ix_index_log_app_space_seq", index_log.c.app_pk, index_log.c.space, index_log.c.seq)

saved_searches = Table(
    "saved_searches",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column("id", String(64), nullable=False),
    Column("name", String(255), nullable=False, default=""),
    Column("query", JSON, nullable=False),  # the Search message in Clarifai JSON
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("app_pk", "id"),
)

# Custom models (``embedding-classifier``), their trained versions, and workflows. A version
# keeps its trained weights (a ``.npy`` blob), the concepts it was trained on, and the metrics
# of its last evaluation as plain JSON; older versions stay usable after a new one is trained.

custom_models = Table(
    "custom_models",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column("id", String(64), nullable=False),
    Column("name", String(255), nullable=False, default=""),
    Column("model_type_id", String(64), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("notes", Text, nullable=False, default=""),
    Column("metadata", JSON, nullable=False, default=dict),
    Column("concepts", JSON, nullable=False, default=list),  # [{"id", "name"}]
    Column("output_config", JSON, nullable=False, default=dict),  # OutputConfig as JSON
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    # {"toolkits", "use_cases", "languages", "check_consents"}: lists of strings
    # (clarion.storage.model_extras).
    Column("labels", JSON, nullable=True),
    UniqueConstraint("app_pk", "id"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("model_pk", Integer, ForeignKey("custom_models.pk", ondelete="CASCADE"), nullable=False),
    Column("id", String(64), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("status_code", Integer, nullable=False),
    Column("status_description", Text, nullable=False, default=""),
    Column("concepts", JSON, nullable=False, default=list),  # asked for, then as trained
    Column("output_config", JSON, nullable=False, default=dict),
    Column("weights", LargeBinary, nullable=True),
    Column("train_stats", JSON, nullable=False, default=dict),
    Column("metrics_status_code", Integer, nullable=False),
    Column("metrics_description", Text, nullable=False, default=""),
    Column("metrics", JSON, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    # The training parameters asked for (train_info.params: dataset_id, enrich_dataset).
    Column("train_params", JSON, nullable=True),
    # Set by PatchModelVersions and the publish methods (clarion.storage.model_extras).
    Column("visibility", Integer, nullable=False, default=10, server_default="10"),
    Column("metadata", JSON, nullable=True),
    Column("license", String(64), nullable=False, default="", server_default=""),
    # A runner-served version's method signatures (MethodSignature messages as JSON).
    Column("method_signatures", JSON, nullable=True),
    UniqueConstraint("model_pk", "id"),
)

# An evaluation of a trained version: cross-validated on the app's labelled inputs (no
# dataset), or the version's predictions against a dataset's annotations.
evaluations = Table(
    "evaluations",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column("id", String(64), nullable=False),
    Column(
        "version_pk", Integer, ForeignKey("model_versions.pk", ondelete="CASCADE"), nullable=False
    ),
    Column("dataset_id", String(64), nullable=False, default=""),  # "": cross-validated
    # A version of that dataset ("": the dataset as it is when the evaluation runs).
    Column("dataset_version_id", String(64), nullable=False, default="", server_default=""),
    Column("status_code", Integer, nullable=False),
    Column("status_description", Text, nullable=False, default=""),
    Column("metrics", JSON, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("app_pk", "id"),
)
Index("ix_evaluations_version_pk", evaluations.c.version_pk)

workflows = Table(
    "workflows",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column("id", String(64), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("notes", Text, nullable=False, default=""),
    Column("metadata", JSON, nullable=False, default=dict),
    Column("nodes", JSON, nullable=False, default=list),  # NodeSpec as JSON, in given order
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("app_pk", "id"),
)

# Videos: what probing said of a video input, and the embedding of each sampled frame, so
# visual search finds a video by any of its frames (``clarion.storage.videos``).

video_info = Table(
    "video_info",
    metadata,
    Column("input_pk", BigKey, ForeignKey("inputs.pk", ondelete="CASCADE"), primary_key=True),
    Column("fps", Float, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("frame_count", Integer, nullable=False),  # frames sampled, one a second
)

video_frame_vectors = Table(
    "video_frame_vectors",
    metadata,
    Column("input_pk", BigKey, ForeignKey("inputs.pk", ondelete="CASCADE"), primary_key=True),
    Column("space", String(64), primary_key=True),
    Column("frame_index", Integer, primary_key=True),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column("time_ms", Integer, nullable=False),
    Column("vector", LargeBinary, nullable=False),  # float32, L2-normalised
)
Index("ix_video_frame_vectors_app_space", video_frame_vectors.c.app_pk, video_frame_vectors.c.space)

# Compute records a runner needs before it serves (compute clusters, nodepools, runners,
# deployments), one table for the four: each is the user's, named by its id under its
# parents (``scope``: "" for a cluster, the cluster's id for a nodepool, "cluster/nodepool"
# for a runner). The record itself is the client's message, kept whole (``body``) so the
# cloud-only fields Clarion does not act on are shown back as they were sent.
compute_resources = Table(
    "compute_resources",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(64), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("scope", String(140), nullable=False, default=""),
    Column("id", String(64), nullable=False),
    # For runners: the model they serve, "user/app/model" ("" otherwise).
    Column("model_key", String(200), nullable=False, default=""),
    Column("body", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("user_id", "kind", "scope", "id"),
    Index("ix_compute_resources_model_key", "model_key"),
)

# A concept's name (and definition) in other languages than its own (ConceptLanguages).
concept_languages = Table(
    "concept_languages",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column("concept_id", String(255), nullable=False),
    Column("language", String(16), nullable=False),
    Column("name", String(255), nullable=False),
    Column("definition", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("app_pk", "concept_id", "language"),
)
# Searches look concepts up by their translated name in one language.
Index(
    "ix_concept_languages_app_pk_language",
    concept_languages.c.app_pk,
    concept_languages.c.language,
)

knowledge_graphs = Table(
    "knowledge_graphs",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column("id", String(64), nullable=False),
    Column("name", String(255), nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("examples_app_id", String(64), nullable=False, default=""),
    Column("sampled_examples_app_id", String(64), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("app_pk", "id"),
)

# Stored as posted: "subject predicate object"; read from the object's side it is reversed.
concept_relations = Table(
    "concept_relations",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column("id", String(64), nullable=False),
    Column("subject_id", String(255), nullable=False),
    Column("object_id", String(255), nullable=False),
    Column("predicate", String(16), nullable=False),
    Column("knowledge_graph_id", String(64), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("app_pk", "id"),
)
Index("ix_concept_relations_subject", concept_relations.c.app_pk, concept_relations.c.subject_id)
Index("ix_concept_relations_object", concept_relations.c.app_pk, concept_relations.c.object_id)

# PostBulkOperations: one change applied to many inputs by a durable job, in steps whose
# progress (``processed``, ``last_processed_id``) is what Clarifai reports.
bulk_operations = Table(
    "bulk_operations",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column("id", String(64), nullable=False),
    Column("source", JSON, nullable=False, default=dict),  # input ids, a query or a dataset
    Column("operation", JSON, nullable=False, default=dict),
    Column("state", String(16), nullable=False),  # pending, in_progress, success, failed, ...
    Column("processed", BigKey, nullable=False, default=0),  # inputs done so far
    Column("last_processed_id", String(255), nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("created_by", String(64), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("app_pk", "id"),
)

# A workflow's versions: a new one each time its nodes change (clarion.storage.workflow_versions);
# the newest is the one the workflow runs.
workflow_versions = Table(
    "workflow_versions",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("workflow_pk", Integer, ForeignKey("workflows.pk", ondelete="CASCADE"), nullable=False),
    Column("id", String(64), nullable=False),
    Column("nodes", JSON, nullable=False, default=list),
    Column("description", Text, nullable=False, default=""),
    Column("metadata", JSON, nullable=False, default=dict),
    Column("license", String(64), nullable=False, default=""),
    Column("visibility", Integer, nullable=False, default=10),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("workflow_pk", "id"),
)

# Copies of apps (PostAppDuplications): the request, and where its job stands. The source and
# destination are kept by id, as the user named them: either app may be deleted later.
app_duplications = Table(
    "app_duplications",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(64), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("id", String(64), nullable=False),
    Column("source_app_id", String(64), nullable=False),
    Column("destination_app_id", String(64), nullable=False),
    Column("filter", JSON, nullable=False, default=dict),  # copy_inputs, ... as booleans
    Column("status_code", Integer, nullable=False),
    Column("status_description", Text, nullable=False, default=""),
    Column("progress", JSON, nullable=False, default=dict),  # what was copied, by kind
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("user_id", "id"),
)

# Annotation filters: named searches over an app's annotations (clarion.storage.annotation_filters).
annotation_filters = Table(
    "annotation_filters",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column("id", String(64), nullable=False),
    Column("search", JSON, nullable=False),  # the Search message in Clarifai JSON
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("app_pk", "id"),
)

# One row per call that writes, success or not (clarion.storage.audit). Plain strings, no
# foreign keys: the record outlives the users, keys and apps it names.
audit_log = Table(
    "audit_log",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("method", String(64), nullable=False),
    Column("operation", Integer, nullable=False, default=0),
    Column("success", Boolean, nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("req_id", String(128), nullable=False, default=""),
    Column("source_ip", String(64), nullable=False, default=""),
    Column("user_id", String(64), nullable=False, default=""),
    Column("key_ref", String(64), nullable=False, default=""),
    Column("app_user_id", String(64), nullable=False, default=""),
    Column("app_id", String(64), nullable=False, default=""),
    Index("ix_audit_log_user_id_pk", "user_id", "pk"),
    Index("ix_audit_log_app_user_id_pk", "app_user_id", "pk"),
)

# Uploads in parts (clarion.storage.uploads): the parts' bytes live here, so an acknowledged
# part is as durable as the database, and deleting an upload or its app deletes them too.
uploads = Table(
    "uploads",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column("id", String(64), nullable=False),
    Column("content_name", String(255), nullable=False, default=""),
    Column("content_length", BigInteger, nullable=False),
    Column("received", BigInteger, nullable=False, default=0),
    Column("complete", Boolean, nullable=False, default=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("app_pk", "id"),
)

upload_parts = Table(
    "upload_parts",
    metadata,
    Column("upload_pk", Integer, ForeignKey("uploads.pk", ondelete="CASCADE"), nullable=False),
    Column("part_number", BigInteger, nullable=False),
    Column("range_start", BigInteger, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    UniqueConstraint("upload_pk", "part_number"),
)

# Extraction jobs (clarion.storage.extractions): an archive or bucket to make inputs of.
inputs_extractions = Table(
    "inputs_extractions",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column("id", String(64), nullable=False),
    Column("url", Text, nullable=False),
    Column("add_job_id", String(64), nullable=False),
    Column("template", JSON, nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("status_description", Text, nullable=False, default=""),
    Column("image_count", Integer, nullable=False, default=0),
    Column("text_count", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("app_pk", "id"),
)

# Labelling: tasks (their settings as the Task message's JSON) and which labeller has which
# input of a task, in what state (``clarion.storage.labelling``).

labelling_tasks = Table(
    "labelling_tasks",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column("id", String(64), nullable=False),
    Column("spec", JSON, nullable=False, default=dict),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("app_pk", "id"),
)

task_assignments = Table(
    "task_assignments",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column(
        "task_pk", Integer, ForeignKey("labelling_tasks.pk", ondelete="CASCADE"), nullable=False
    ),
    Column("id", String(64), nullable=False, unique=True),
    Column("input_pk", BigKey, ForeignKey("inputs.pk", ondelete="CASCADE"), nullable=False),
    Column("worker_user_id", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("task_pk", "input_pk", "worker_user_id"),
)

# A dataset version: a frozen copy of a dataset's inputs and their annotations when it was
# made. Each input is kept whole (as JSON), so later edits and deletions leave it as it was.
dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column("dataset_pk", Integer, ForeignKey("datasets.pk", ondelete="CASCADE"), nullable=False),
    Column("id", String(64), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("metadata", JSON, nullable=False, default=dict),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("dataset_pk", "id"),
)

dataset_version_inputs = Table(
    "dataset_version_inputs",
    metadata,
    Column(
        "version_pk",
        Integer,
        ForeignKey("dataset_versions.pk", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("input_id", String(64), primary_key=True),
    # The input's record and its annotations as they were (storage/dataset_versions.py).
    Column("snapshot", JSON, nullable=False),
)

# Another user's access to an app, with the scopes of their role there.
collaborators = Table(
    "collaborators",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column("user_id", String(64), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("scopes", JSON, nullable=False, default=list),
    Column("endpoints", JSON, nullable=False, default=list),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("app_pk", "user_id"),
)
Index("ix_collaborators_user_id", collaborators.c.user_id)

# PutModelVersionExports: a trained version as one ONNX file in the blob store. The row keeps
# the blob from the collector while the version exists.
model_exports = Table(
    "model_exports",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column(
        "version_pk", Integer, ForeignKey("model_versions.pk", ondelete="CASCADE"), nullable=False
    ),
    Column("blob", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("version_pk"),
)
