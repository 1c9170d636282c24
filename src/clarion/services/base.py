"""What every service shares: the handler type and the checks most methods make."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.message import Message

from clarion.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RequestTooLarge,
    WorkflowInvalidArgument,
)
from clarion.inference.workflow import PUBLIC_WORKFLOWS
from clarion.services.context import CallContext
from clarion.storage.accounts import AppRecord
from clarion.storage.errors import Conflict

# A handler takes the request message and the call context and returns the response message
# (its status is filled in by the dispatcher). Sync handlers run on a worker thread.
Handler = Callable[[Any, CallContext], Message | Awaitable[Message]]
HandlerTable = Mapping[str, Handler]
# A streaming method's handler takes the first request, the caller's later requests (none for
# a server-streaming method) and the context, and yields the responses (the dispatcher fills
# in each one's status).
StreamHandler = Callable[[Any, AsyncIterator[Any], CallContext], AsyncIterator[Message]]
StreamHandlerTable = Mapping[str, StreamHandler]

_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_WORKFLOW_ID = 32  # "Max workflow ID is capped at 32 chars" (the proto's comment)


def is_valid_id(value: str) -> bool:
    """Ids are 1-64 letters, digits, ``_`` or ``-``: they appear in URL paths."""
    return bool(_ID_PATTERN.fullmatch(value))


def check_id(kind: str, value: str) -> str:
    """``value`` if it is a valid id, else ``InvalidArgument`` naming the rule."""
    if not is_valid_id(value):
        raise InvalidArgument(
            f"Invalid {kind} id '{value}': use 1 to 64 letters, digits, '_' or '-'"
        )
    return value


def check_workflow_id(workflow_id: str) -> str:
    """``workflow_id`` if an app's workflow may take it (``PostWorkflows``, ``PatchWorkflowIds``):
    a valid id of at most ``MAX_WORKFLOW_ID`` characters, not a public workflow's."""
    if not workflow_id:
        raise WorkflowInvalidArgument("Each workflow needs an 'id'")
    if len(workflow_id) > MAX_WORKFLOW_ID or not all(
        ch.isascii() and (ch.isalnum() or ch in "-_") for ch in workflow_id
    ):
        raise WorkflowInvalidArgument(
            f"Invalid workflow id '{workflow_id}': use 1 to {MAX_WORKFLOW_ID} letters, "
            "digits, '_' or '-'"
        )
    if workflow_id in PUBLIC_WORKFLOWS:
        raise WorkflowInvalidArgument(f"'{workflow_id}' is the id of a public workflow")
    return workflow_id


def check_merged_metadata(ctx: CallContext, metadata: Mapping[str, Any], owner: str) -> None:
    """Refuse metadata that a merge made larger than a request may carry: patches merged one
    at a time would grow it without bound, and each write stores all of it again."""
    limit = ctx.max_metadata_bytes
    if not limit or not metadata:
        return
    message = struct_pb2.Struct()
    message.update(metadata)
    if (size := message.ByteSize()) > limit:
        raise RequestTooLarge(
            f"Merged, the metadata of {owner} would be {size} bytes; at most {limit} are "
            "kept (the server's max_metadata_bytes): remove keys, or overwrite it"
        )


def require_app(ctx: CallContext) -> AppRecord:
    """The app the call targets; the auth step has checked the caller may use it."""
    if ctx.app is None:
        raise InvalidArgument("This method needs an app: set user_app_id.app_id")
    return ctx.app


def require_writable_app(
    ctx: CallContext, scopes: frozenset[str], doing: str, otherwise: str
) -> AppRecord:
    """The app the call targets, when the caller may write to it and holds ``scopes``.

    For the part of a read-only method that writes (``save`` on a search): the auth step let
    the call in on read scopes, and on another user's public app, so the write is checked
    here. ``doing`` names that part ("Saving a search") and ``otherwise`` what the caller can
    do instead, for the refusal.
    """
    app = require_app(ctx)
    missing = ctx.caller.missing_scopes(scopes)
    if missing:
        raise PermissionDenied(
            f"{doing} needs the scopes {', '.join(missing)}, which this key lacks: {otherwise}"
        )
    if not ctx.caller.owns(app):
        raise PermissionDenied(
            f"{doing} writes to app {app.user_id}/{app.id}, which this key may read but not "
            f"change: {otherwise}"
        )
    return app


def app_pk(app: AppRecord) -> int:
    """The storage key of an app read from storage."""
    assert app.pk is not None, "apps read from storage carry their pk"
    return app.pk


def require_own_user(ctx: CallContext) -> str:
    """Writes under a user are for that user alone; others see it as absent."""
    if not ctx.own_user:
        raise NotFound("user", ctx.user_id)
    return ctx.user_id


@contextmanager
def conflicts_as(resource: str, resource_id: str) -> Iterator[None]:
    """Turn a storage uniqueness conflict into ``AlreadyExists`` for the caller."""
    try:
        yield
    except Conflict as exc:
        raise AlreadyExists(resource, resource_id) from exc
