"""The one error tree of Clarion, shared by the server and the client.

Each class declares, as class data, the Clarifai ``StatusCode`` it answers with, the HTTP
status the HTTP+JSON gateway uses, and the gRPC code a client would map it to. Defining a
subclass registers it, so the server maps exception -> response and a client maps
response -> exception from the same tables (see ``error_class_for_code``).

    ApiError                       the server answered with a non-success status
    ├── InvalidArgument            11102 CONN_INVALID_REQUEST
    │   ├── BadRequestFormat       11100 CONN_BAD_REQUEST_FORMAT
    │   ├── RequestTooLarge        40033 RPC_MAX_MESSAGE_SIZE_EXCEEDED
    │   ├── ModelInvalidArgument   21202 MODEL_INVALID_ARGUMENT
    │   ├── EvaluationInvalidArgument 43104 EVALUATION_INVALID_ARGUMENT
    │   ├── WorkflowInvalidArgument 22104 WORKFLOW_INVALID_ARGUMENT
    │   │   └── WorkflowInvalidGraph 22107 WORKFLOW_INVALID_GRAPH
    │   └── WorkflowNeedsTrainedModel 22002 WORKFLOW_REQUIRE_TRAINED_MODEL
    ├── Unauthenticated            11008 CONN_KEY_INVALID
    ├── PermissionDenied           11007 CONN_INSUFFICIENT_SCOPES
    │   └── AuthMethodNotAllowed   11200 CONN_AUTH_METHOD_DISABLED
    ├── NotFound                   11101 CONN_DOES_NOT_EXIST
    │   ├── ModelNotFound          21200 MODEL_DOES_NOT_EXIST
    │   ├── WorkflowNotFound       22102 WORKFLOW_DOES_NOT_EXIST
    │   └── RouteNotFound
    ├── AlreadyExists              11102 CONN_INVALID_REQUEST (HTTP 409)
    ├── ModelUntrained             21102 MODEL_UNTRAINED
    ├── MethodNotAllowed           11103 CONN_METHOD_NOT_ALLOWED
    ├── NotImplementedMethod       10040 NOT_IMPLEMENTED
    ├── ResourceExhausted          11005 CONN_THROTTLED
    │   └── QueueFull              40030 RPC_REQUEST_QUEUE_FULL
    ├── Unavailable                40031 RPC_SERVER_UNAVAILABLE
    ├── DeadlineExceeded           40032 RPC_REQUEST_TIMEOUT
    └── Internal                   98004 INTERNAL_SERVER_ISSUE

    TransportError                 no Clarifai status came back (client side only)
    ├── Timeout                    no answer within the timeout
    └── ConnectError               the server could not be reached (gRPC UNAVAILABLE)

A client raises ``ApiError`` subclasses with the status the server sent: ``code``,
``description``, ``details`` and ``req_id`` (``ApiError.from_status``).
"""

from __future__ import annotations

from typing import ClassVar, Self

from clarion import codes
from clarion.codes import SUCCESS

_BY_CODE: dict[int, type[ApiError]] = {}
_HTTP_BY_CODE: dict[int, int] = {SUCCESS: 200}


class ApiError(Exception):
    """A request failed with a Clarifai status; ``description`` is meant for a person."""

    status_code: ClassVar[int] = codes.INTERNAL_SERVER_ISSUE
    http_status: ClassVar[int] = 500
    grpc_code: ClassVar[str] = "INTERNAL"
    default_description: ClassVar[str] = "Internal error"
    # The server's request id, for its log; a client fills it in from the response status.
    req_id: str = ""
    _answered_code: int | None = None

    def __init__(self, description: str | None = None, *, details: str = "") -> None:
        self.description = description or self.default_description
        self.details = details
        super().__init__(self.description)

    @property
    def code(self) -> int:
        """The Clarifai status code of this error (the class's own unless the server sent one)."""
        return self.status_code if self._answered_code is None else self._answered_code

    @classmethod
    def from_status(
        cls, code: int, description: str, *, details: str = "", req_id: str = ""
    ) -> Self:
        """The error a client raises for a response whose status is not a success.

        Subclasses build their messages from structured fields when the server raises them
        (``NotFound(resource, id)``); a client only has the status, so ``__init__`` is skipped.
        """
        error = cls.__new__(cls)
        error.description = description or cls.default_description
        error.details = details
        error.req_id = req_id
        error._answered_code = code
        if isinstance(error, (NotFound, AlreadyExists)):
            error.resource, error.resource_id = "", ""
        suffix = f" (code {code}, req_id {req_id})" if req_id else f" (code {code})"
        Exception.__init__(error, error.description + suffix)
        return error

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        # The first class declaring a code is the most general one: clients map to it.
        _BY_CODE.setdefault(cls.status_code, cls)
        _HTTP_BY_CODE.setdefault(cls.status_code, cls.http_status)


class InvalidArgument(ApiError):
    """The request is well formed but asks for something invalid."""

    status_code = codes.CONN_INVALID_REQUEST
    http_status = 400
    grpc_code = "INVALID_ARGUMENT"
    default_description = "Invalid request"


class BadRequestFormat(InvalidArgument):
    """The request body or query string does not parse as the method's request message."""

    status_code = codes.CONN_BAD_REQUEST_FORMAT
    default_description = "Bad request format"


class RequestTooLarge(InvalidArgument):
    """The request is larger than the server accepts."""

    status_code = codes.RPC_MAX_MESSAGE_SIZE_EXCEEDED
    http_status = 413
    grpc_code = "RESOURCE_EXHAUSTED"
    default_description = "Request too large"


class ModelInvalidArgument(InvalidArgument):
    """A model or model version request asks for something this server cannot do."""

    status_code = codes.MODEL_INVALID_ARGUMENT
    default_description = "Invalid model argument"


class EvaluationInvalidArgument(InvalidArgument):
    """An evaluation request asks for something this server cannot evaluate or store."""

    status_code = codes.EVALUATION_INVALID_ARGUMENT
    default_description = "Invalid evaluation argument"


class WorkflowInvalidArgument(InvalidArgument):
    """A workflow is malformed: too many nodes, bad ids, or a node's model does not exist."""

    status_code = codes.WORKFLOW_INVALID_ARGUMENT
    default_description = "Invalid workflow argument"


class WorkflowInvalidGraph(WorkflowInvalidArgument):
    """A workflow's ``node_inputs`` do not form a DAG: a cycle, or a link to no node."""

    status_code = codes.WORKFLOW_INVALID_GRAPH
    default_description = "Invalid workflow graph"


class WorkflowNeedsTrainedModel(InvalidArgument):
    """A workflow node names a custom model that has no trained version to run."""

    status_code = codes.WORKFLOW_REQUIRE_TRAINED_MODEL
    default_description = "The workflow needs a trained model"


class Unauthenticated(ApiError):
    """The credential is missing, malformed, unknown, expired, or not valid for this app."""

    status_code = codes.CONN_KEY_INVALID
    http_status = 401
    grpc_code = "UNAUTHENTICATED"
    # The exact text the official clients' tests compare against.
    default_description = "Invalid API key or Invalid API key/application pair"


class PermissionDenied(ApiError):
    """The credential is valid but lacks a scope the method needs."""

    status_code = codes.CONN_INSUFFICIENT_SCOPES
    http_status = 403
    grpc_code = "PERMISSION_DENIED"
    default_description = "Insufficient scopes"


class AuthMethodNotAllowed(PermissionDenied):
    """The method needs a personal access token and was called with an app API key."""

    status_code = codes.CONN_AUTH_METHOD_DISABLED
    default_description = "This method needs a personal access token (PAT), not an app API key"


class NotFound(ApiError):
    """The resource does not exist, or the caller may not see it (the answer is the same)."""

    status_code = codes.CONN_DOES_NOT_EXIST
    http_status = 404
    grpc_code = "NOT_FOUND"
    default_description = "Resource does not exist"

    def __init__(self, resource: str, resource_id: str, *, details: str = "") -> None:
        self.resource = resource
        self.resource_id = resource_id
        super().__init__(f"{resource} '{resource_id}' does not exist", details=details)


class ModelNotFound(NotFound):
    """No model (or model version) with that id where the request looked."""

    status_code = codes.MODEL_DOES_NOT_EXIST


class WorkflowNotFound(NotFound):
    """No workflow with that id in the app (nor among the public ones)."""

    status_code = codes.WORKFLOW_DOES_NOT_EXIST


class ComputeClusterNotFound(NotFound):
    status_code = codes.COMPUTE_CLUSTER_DOES_NOT_EXIST


class NodepoolNotFound(NotFound):
    status_code = codes.NODEPOOL_DOES_NOT_EXIST


class RunnerNotFound(NotFound):
    status_code = codes.RUNNER_DOES_NOT_EXIST


class DeploymentNotFound(NotFound):
    status_code = codes.DEPLOYMENT_DOES_NOT_EXIST


class RouteNotFound(NotFound):
    """No HTTP binding of the V2 service matches the request path."""

    def __init__(self, verb: str, path: str) -> None:
        super().__init__("route", f"{verb} {path}")
        self.description = f"No API route matches {verb} {path}"


class AlreadyExists(ApiError):
    """A resource with that id already exists."""

    status_code = codes.CONN_INVALID_REQUEST
    http_status = 409
    grpc_code = "ALREADY_EXISTS"
    default_description = "Resource already exists"

    def __init__(self, resource: str, resource_id: str) -> None:
        self.resource = resource
        self.resource_id = resource_id
        super().__init__(f"{resource} '{resource_id}' already exists")


class ModelUntrained(ApiError):
    """The model (or the version asked for) is not trained yet, so it cannot predict."""

    status_code = codes.MODEL_UNTRAINED
    http_status = 409
    grpc_code = "FAILED_PRECONDITION"
    default_description = "The model is not trained"


class MethodNotAllowed(ApiError):
    """The path exists but not for this HTTP verb."""

    status_code = codes.CONN_METHOD_NOT_ALLOWED
    http_status = 405
    grpc_code = "UNIMPLEMENTED"
    default_description = "Method not allowed"


class NotImplementedMethod(ApiError):
    """The V2 method is routed but Clarion does not implement it yet."""

    status_code = codes.NOT_IMPLEMENTED
    http_status = 501
    grpc_code = "UNIMPLEMENTED"
    default_description = "Not implemented"


class ResourceExhausted(ApiError):
    """Too many requests: the official clients back off and retry on this code."""

    status_code = codes.CONN_THROTTLED
    http_status = 429
    grpc_code = "RESOURCE_EXHAUSTED"
    default_description = "Too many requests"


class QueueFull(ResourceExhausted):
    """Too much expensive work is waiting already; retry shortly."""

    status_code = codes.RPC_REQUEST_QUEUE_FULL
    http_status = 503


class Unavailable(ApiError):
    """The server cannot serve the request now (starting or draining, or the database's write
    lock was not granted in time); nothing was done, and a retry may succeed."""

    status_code = codes.RPC_SERVER_UNAVAILABLE
    http_status = 503
    grpc_code = "UNAVAILABLE"
    default_description = "Server unavailable"


class NoRunner(Unavailable):
    """The model is served by runners and none is connected: nothing was run."""

    status_code = codes.RUNNER_DOES_NOT_EXIST


class RunnerFailed(Unavailable):
    """The runner serving a call went away after it had started answering."""

    status_code = codes.RUNNER_PROCESSING_FAILED


class DeadlineExceeded(ApiError):
    """The call ran out of time: the client's gRPC deadline or the server's request timeout."""

    status_code = codes.RPC_REQUEST_TIMEOUT
    http_status = 504
    grpc_code = "DEADLINE_EXCEEDED"


class Internal(ApiError):
    """An unexpected failure; the details are in the server log under the request id."""


def error_class_for_code(code: int) -> type[ApiError]:
    """The most general error class answering with ``code`` (``ApiError`` if none)."""
    return _BY_CODE.get(code, ApiError)


def http_status_for_code(code: int) -> int:
    """The HTTP status the gateway uses for a Clarifai status code."""
    if code in _HTTP_BY_CODE:
        return _HTTP_BY_CODE[code]
    # Clarifai groups codes by family: 10xxx are whole-call outcomes such as MIXED_STATUS,
    # 98xxx and 99xxx are server faults, and the rest describe a problem with the request.
    if code < 11000:
        return 200
    return 500 if code >= 98000 else 400


_HTTP_BY_CODE[ApiError.status_code] = ApiError.http_status


class InputRejected(Exception):
    """One input of a batch cannot be used; the others still can.

    Not an ``ApiError``: it becomes that input's status (``INPUT_*`` codes), not the call's.
    """

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


class TransportError(Exception):
    """No Clarifai status came back: the connection failed, timed out, or the answer was not
    the API's (an HTML error page from a proxy, say). Not an ``ApiError``: the server did not
    answer the request, so there is no status code.
    """

    def __init__(
        self,
        description: str,
        *,
        http_status: int | None = None,
        grpc_code: str | None = None,
        req_id: str = "",
    ) -> None:
        self.description = description
        self.http_status = http_status  # the HTTP status, on the HTTP+JSON transport
        self.grpc_code = grpc_code  # the gRPC status name (``UNAVAILABLE``), on gRPC
        self.req_id = req_id
        super().__init__(description)


class Timeout(TransportError):
    """No answer came within the timeout; the server may still have done the work."""


class ConnectError(TransportError):
    """The server could not be reached (refused, unknown host, TLS, gRPC ``UNAVAILABLE``)."""
