"""Method signatures, published as Clarifai's model runners publish them, and the calls the
modern SDK makes with them.

The modern Python SDK's ``Model.predict(image=Image(...))`` first reads the model's method
signatures: from ``model_version.method_signatures`` (GetModelVersion), else by a
PostModelOutputs whose input carries ``data.metadata._method_name = "_GET_SIGNATURES"``,
answered with the signatures as JSON in ``outputs[0].data.text.raw``. It then sends each
argument as a named part (``data.parts[{id: "image", data: {image: ...}}]``) with
``_method_name`` naming the method, and reads the result from the part named ``return``.
The format is the SDK's own (``clarifai.runners.utils.method_signatures``).

Every Clarion model has one method, ``predict``, taking one ``image`` (``Image``) or ``text``
(``Text``) and returning what the model outputs: ``List[Concept]`` for classifiers,
``List[Region]`` for detectors and OCR (a region's text in its data), ``np.ndarray`` (one
float32 vector) for embedders, and ``JSON`` for the colour model, which has no Clarifai data
type (a list of ``{raw_hex, w3c: {hex, name}, value}``, as in ``data.colors``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TypeAlias

import numpy as np
from clarifai_grpc.grpc.api import resources_pb2
from google.protobuf import json_format

from clarion.errors import ModelInvalidArgument
from clarion.inference.base import InputKind, OutputKind

METHOD_NAME_KEY = "_method_name"
GET_SIGNATURES = "_GET_SIGNATURES"
PREDICT = "predict"
RETURN_PART = "return"

_DataType = resources_pb2.ModelTypeField.DataType
_TypeValue: TypeAlias = "resources_pb2.ModelTypeField.DataType.ValueType"
_ARGUMENT_TYPES: dict[InputKind, _TypeValue] = {"image": _DataType.IMAGE, "text": _DataType.TEXT}
_LIST_ITEM_TYPES: dict[OutputKind, _TypeValue] = {
    "concepts": _DataType.CONCEPT,
    "regions": _DataType.REGION,
}
_PLAIN_RETURN_TYPES: dict[OutputKind, _TypeValue] = {
    "embeddings": _DataType.NDARRAY,
    "colors": _DataType.JSON_DATA,
}


@dataclass(frozen=True, slots=True)
class MethodCall:
    """What a PostModelOutputs request asks of the model's methods."""

    method: str  # PREDICT or GET_SIGNATURES
    by_parts: bool  # arguments sent as named parts: the result goes back in one too


@cache
def method_signatures(
    input_kind: InputKind, output_kind: OutputKind
) -> tuple[resources_pb2.MethodSignature, ...]:
    """The model's methods: ``predict(image|text) -> its output``. Built once for each kind
    (12 µs); callers copy them into their messages and never change them."""
    signature = resources_pb2.MethodSignature(
        name=PREDICT,
        method_type=resources_pb2.RunnerMethodType.UNARY_UNARY,
        description=f"Predict on one {input_kind}.",
    )
    signature.input_fields.add(name=input_kind, type=_ARGUMENT_TYPES[input_kind], required=True)
    signature.output_fields.append(_return_field(output_kind))
    return (signature,)


def _return_field(output_kind: OutputKind) -> resources_pb2.ModelTypeField:
    field = resources_pb2.ModelTypeField(name=RETURN_PART)
    if output_kind in _LIST_ITEM_TYPES:
        field.type = _DataType.LIST
        field.type_args.add(name=f"{RETURN_PART}_item", type=_LIST_ITEM_TYPES[output_kind])
    else:
        field.type = _PLAIN_RETURN_TYPES[output_kind]
    return field


def signatures_json(signatures: Sequence[resources_pb2.MethodSignature]) -> str:
    """The signatures as the SDK's ``signatures_to_json`` writes them: by method name."""
    return json.dumps({s.name: json_format.MessageToDict(s) for s in signatures})


def requested_call(inputs: Sequence[resources_pb2.Input]) -> MethodCall | None:
    """The method the inputs call, or None for a plain prediction (no method, no parts).

    The SDK names the same method in every input; one that names another is refused."""
    for message in inputs:  # a plain loop: the usual case (none) costs under 1 µs an input
        data = message.data
        if data.parts or METHOD_NAME_KEY in data.metadata.fields:
            break
    else:
        return None
    methods = {_method_name(message.data) for message in inputs}
    if len(methods) > 1:
        raise ModelInvalidArgument("Every input of one call must name the same method")
    method = methods.pop() or PREDICT
    if method not in (PREDICT, GET_SIGNATURES):
        raise ModelInvalidArgument(
            f"The model has no method '{method}': its methods are {PREDICT} and {GET_SIGNATURES}"
        )
    return MethodCall(method, any(message.data.parts for message in inputs))


def _method_name(data: resources_pb2.Data) -> str:
    # ``get``, not indexing: indexing would add the key (and data) to the caller's input.
    value = data.metadata.fields.get(METHOD_NAME_KEY)
    return value.string_value if value is not None else ""


def input_from_parts(message: resources_pb2.Input, input_kind: InputKind) -> resources_pb2.Input:
    """The plain input a method call's named argument stands for."""
    names = [part.id for part in message.data.parts]
    unknown = sorted(set(names) - {input_kind})
    if unknown:
        raise ModelInvalidArgument(
            f"predict() takes one argument, '{input_kind}': it has no argument "
            + ", ".join(f"'{name}'" for name in unknown)
        )
    if input_kind not in names:
        raise ModelInvalidArgument(f"predict() needs the argument '{input_kind}'")
    argument = message.data.parts[names.index(input_kind)].data
    plain = resources_pb2.Input(id=message.id)
    if input_kind == "image":
        plain.data.image.CopyFrom(argument.image)
    else:
        plain.data.text.CopyFrom(argument.text)
    return plain


def move_into_return_part(data: resources_pb2.Data, output_kind: OutputKind) -> None:
    """Move a plain prediction's data into the part named ``return``, typed as the method's
    signature says the result is."""
    result = resources_pb2.Data()
    if output_kind == "concepts":
        result.concepts.extend(data.concepts)
    elif output_kind == "regions":
        result.regions.extend(data.regions)
    elif output_kind == "embeddings":
        _set_vector(result.ndarray, data.embeddings[0].vector if data.embeddings else [])
    else:
        colors = [
            json_format.MessageToDict(c, preserving_proto_field_name=True) for c in data.colors
        ]
        result.struct_value.update({"_list": colors})  # the SDK's JSON form of a list
    data.Clear()
    data.parts.add(id=RETURN_PART, data=result)


def _set_vector(array: resources_pb2.NDArray, vector: Sequence[float]) -> None:
    values = np.asarray(vector, dtype=np.float32)
    array.buffer = values.tobytes()
    array.shape.append(len(values))
    array.dtype = str(values.dtype)
