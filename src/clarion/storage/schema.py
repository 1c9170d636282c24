"""The relational schema, one definition for SQLite and PostgreSQL (Alembic migrates to it)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
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
