"""free_form_bytes: the Structs of a request, found wherever they sit, added up."""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from google.protobuf import struct_pb2

from clarion.protocol.sizes import free_form_bytes


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def test_every_struct_is_counted_once_wherever_it_sits() -> None:
    first, second, query = struct({"a": [1, 2, 3]}), struct({"b": "x" * 100}), struct({"k": 1})
    request = service_pb2.PostInputsRequest(
        inputs=[
            resources_pb2.Input(data=resources_pb2.Data(metadata=first)),
            resources_pb2.Input(
                data=resources_pb2.Data(
                    metadata=second,
                    image=resources_pb2.Image(base64=b"\xff" * 5000),  # bytes are no metadata
                    concepts=[resources_pb2.Concept(id="c", metadata=query)],
                )
            ),
        ]
    )
    assert free_form_bytes(request) == first.ByteSize() + second.ByteSize() + query.ByteSize()


def test_a_search_query_and_an_app_are_walked_too() -> None:
    metadata = struct({"kind": "cat", "n": [1.5] * 50})
    search = service_pb2.PostInputsSearchesRequest(
        searches=[
            resources_pb2.Search(
                query=resources_pb2.Query(
                    filters=[
                        resources_pb2.Filter(
                            annotation=resources_pb2.Annotation(
                                data=resources_pb2.Data(metadata=metadata)
                            )
                        )
                    ]
                )
            )
        ]
    )
    app = service_pb2.PatchAppsRequest(apps=[resources_pb2.App(id="a", metadata=metadata)])
    assert free_form_bytes(search) == metadata.ByteSize() == free_form_bytes(app)


def test_a_request_that_can_hold_no_struct_counts_nothing() -> None:
    assert free_form_bytes(service_pb2.ListAppsRequest(per_page=5)) == 0
    assert free_form_bytes(service_pb2.PostInputsRequest()) == 0
