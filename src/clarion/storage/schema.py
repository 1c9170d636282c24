"""The relational schema, one definition for SQLite and PostgreSQL (Alembic migrates to it)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

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
)

inputs = Table(
    "inputs",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
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
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column("id", String(64), nullable=False),
    Column("input_pk", Integer, ForeignKey("inputs.pk", ondelete="CASCADE"), nullable=False),
    Column("input_level", Boolean, nullable=False, default=False),
    # The annotation's Data in Clarifai JSON form (concepts, regions), as plain JSON.
    Column("data", JSON, nullable=False, default=dict),
    Column("status_code", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("app_pk", "id"),
)

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
    Column("input_pk", Integer, ForeignKey("inputs.pk", ondelete="CASCADE"), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("payload", JSON, nullable=False, default=dict),
    Column("state", String(16), nullable=False, index=True),  # queued, running, done, failed
    Column("attempts", Integer, nullable=False, default=0),
    # A running job whose lease has ended is taken over by another worker.
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("lease_token", String(32), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
