"""Method specs read from the pinned ``clarifai.api.V2`` service descriptor.

Routes, auth types and scopes are never typed by hand: every method's ``google.api.http``
bindings, ``cl_auth_type`` and ``cl_depending_scopes`` come from the descriptor once, here.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from clarifai_grpc.grpc.api import service_pb2
from clarifai_grpc.grpc.auth.scope import scope_pb2
from clarifai_grpc.grpc.auth.util import extension_pb2
from google.api import annotations_pb2, http_pb2
from google.protobuf import message as _message, message_factory
from google.protobuf.descriptor import MethodDescriptor

SERVICE_NAME = "clarifai.api.V2"

# Scopes that only read; a method needing nothing else cannot change anything.
_READ_ONLY_SCOPE_SUFFIX = "_Get"
_READ_ONLY_SCOPES = frozenset({"Predict", "Search"})


class AuthType(enum.Enum):
    """``cl_auth_type``: which credential kinds a method accepts."""

    UNDEFINED = 0
    NO_AUTH = 1
    KEY_AUTH = 2  # an app API key or a PAT
    SESSION_TOKEN_AUTH = 3  # user level; Clarion accepts a PAT
    ADMIN_AUTH = 4
    PAT_AUTH = 5  # user level: a PAT, never an app API key

    @property
    def user_level(self) -> bool:
        """True when app API keys are refused."""
        return self in (AuthType.PAT_AUTH, AuthType.SESSION_TOKEN_AUTH, AuthType.ADMIN_AUTH)


@dataclass(frozen=True, slots=True)
class HttpBinding:
    """One ``google.api.http`` rule: verb, path template and whether a body is read."""

    verb: str
    template: str
    has_body: bool
    additional: bool


@dataclass(frozen=True, slots=True)
class MethodSpec:
    """Everything Clarion needs to know about one V2 method."""

    name: str
    request_type: type[_message.Message]
    response_type: type[_message.Message]
    client_streaming: bool
    server_streaming: bool
    auth_type: AuthType
    scopes: frozenset[str]
    bindings: tuple[HttpBinding, ...]

    @property
    def full_name(self) -> str:
        return f"/{SERVICE_NAME}/{self.name}"

    @property
    def streaming(self) -> bool:
        return self.client_streaming or self.server_streaming

    @property
    def read_only(self) -> bool:
        """True when every scope the method depends on only reads."""
        return all(
            scope.endswith(_READ_ONLY_SCOPE_SUFFIX) or scope in _READ_ONLY_SCOPES
            for scope in self.scopes
        )


@cache
def v2_methods() -> Mapping[str, MethodSpec]:
    """All methods of the V2 service by name, in descriptor order."""
    service = service_pb2.DESCRIPTOR.services_by_name["V2"]
    return {method.name: _method_spec(method) for method in service.methods}


@cache
def all_scope_names() -> tuple[str, ...]:
    """Every scope name of ``clarifai.auth.scope.S``, in enum order."""
    return tuple(value.name for value in scope_pb2.S.DESCRIPTOR.values if value.number != 0)


def _method_spec(method: MethodDescriptor) -> MethodSpec:
    options = method.GetOptions()
    scopes = frozenset(
        scope_pb2.S.Name(number) for number in options.Extensions[extension_pb2.cl_depending_scopes]
    )
    return MethodSpec(
        name=method.name,
        request_type=message_factory.GetMessageClass(method.input_type),
        response_type=message_factory.GetMessageClass(method.output_type),
        client_streaming=method.client_streaming,
        server_streaming=method.server_streaming,
        auth_type=AuthType(options.Extensions[extension_pb2.cl_auth_type]),
        scopes=scopes,
        bindings=_http_bindings(options.Extensions[annotations_pb2.http]),
    )


def _http_bindings(rule: http_pb2.HttpRule) -> tuple[HttpBinding, ...]:
    bindings = [_binding(rule, additional=False)]
    bindings += [_binding(extra, additional=True) for extra in rule.additional_bindings]
    return tuple(binding for binding in bindings if binding is not None)


def _binding(rule: http_pb2.HttpRule, *, additional: bool) -> HttpBinding | None:
    pattern = rule.WhichOneof("pattern")
    if pattern is None:
        return None
    if pattern == "custom":
        verb, template = rule.custom.kind.upper(), rule.custom.path
    else:
        verb, template = pattern.upper(), getattr(rule, pattern)
    return HttpBinding(
        verb=verb, template=template, has_body=bool(rule.body), additional=additional
    )
