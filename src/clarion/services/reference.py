"""Reference data any caller may read without a key: Clarifai's status codes
(``ListStatusCodes``, ``GetStatusCode``) and the open source licenses a model may carry
(``ListOpenSourceLicenses``)."""

from __future__ import annotations

from clarifai_grpc.grpc.api import service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2

from clarion.errors import InvalidArgument, NotFound
from clarion.services.base import HandlerTable
from clarion.services.context import CallContext
from clarion.services.licenses import OPEN_SOURCE_LICENSES

# The enum's zero is "no code", not a status a call can answer.
_CODES = tuple((name, value) for name, value in status_code_pb2.StatusCode.items() if value != 0)


class ReferenceService:
    def handlers(self) -> HandlerTable:
        return {
            "ListStatusCodes": self.list_status_codes,
            "GetStatusCode": self.get_status_code,
            "ListOpenSourceLicenses": self.list_open_source_licenses,
        }

    def list_status_codes(
        self, request: service_pb2.ListStatusCodesRequest, ctx: CallContext
    ) -> service_pb2.MultiStatusCodeResponse:
        """Every status code of Clarifai's API, in numeric order, each with its meaning."""
        ordered = sorted(_CODES, key=lambda pair: pair[1])
        return service_pb2.MultiStatusCodeResponse(
            statuses=[_described(name, value) for name, value in ordered]
        )

    def get_status_code(
        self, request: service_pb2.GetStatusCodeRequest, ctx: CallContext
    ) -> service_pb2.SingleStatusCodeResponse:
        """The code asked for, as the response's own status (Clarifai's convention): over
        HTTP the response's HTTP status is the one that code maps to."""
        value = _parsed_code(request.status_code_id)
        for name, known in _CODES:
            if known == value:
                return service_pb2.SingleStatusCodeResponse(status=_described(name, value))
        raise NotFound("status code", request.status_code_id)

    def list_open_source_licenses(
        self, request: service_pb2.ListOpenSourceLicensesRequest, ctx: CallContext
    ) -> service_pb2.ListOpenSourceLicensesResponse:
        return service_pb2.ListOpenSourceLicensesResponse(licenses=OPEN_SOURCE_LICENSES)


def _parsed_code(text: str) -> int:
    if not text.strip().isdigit():
        raise InvalidArgument(
            f"status_code_id must be a status code's number (such as 10000), got '{text}': "
            "ListStatusCodes lists them"
        )
    return int(text)


def _described(name: str, value: int) -> status_pb2.Status:
    """The code with its name as a sentence: ``MODEL_DOES_NOT_EXIST`` reads "Model does not
    exist", and ``details`` keeps the exact name."""
    sentence = name.replace("_", " ").capitalize()
    return status_pb2.Status(code=value, description=sentence, details=name)
