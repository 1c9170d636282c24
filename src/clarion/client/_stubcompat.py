"""Make ``service_pb2_grpc.V2Stub(channel)`` work on Clarion's channels.

``V2Stub.__init__`` reads the module global ``wrap_response_deserializer`` of
``clarifai_grpc.channel.clarifai_channel`` and wraps each response class with it. The official
factories set it: to ``cls.FromString`` for gRPC channels, to the class itself for their JSON
channel. It starts as ``None``, so a stub made before any factory ran fails.

Clarion's factories set it to ``cls.FromString``, which gRPC needs; Clarion's JSON channel
ignores the deserializer (it knows each method's response type from the descriptor), so a
stub made right after any Clarion channel works on every Clarion channel and on the official
gRPC ones. Only the official JSON channel needs its own setting, which its factory restores.
"""

from __future__ import annotations

from collections.abc import Callable

from clarifai_grpc.channel import clarifai_channel
from google.protobuf.message import Message


def _from_string(response_type: type[Message]) -> Callable[[bytes], Message]:
    return response_type.FromString


def prepare_v2_stub() -> None:
    """Let the next ``V2Stub(channel)`` build gRPC-style response deserializers."""
    # The module declares the global as None, so a plain assignment does not type-check.
    setattr(clarifai_channel, "wrap_response_deserializer", _from_string)  # noqa: B010
