"""The part of ONNX's protobuf schema that Clarion's graph builder writes, without ``onnx``.

The ``onnx`` package (31 MB installed, with ml_dtypes) was a runtime dependency only to build
one graph (``_onnx_graph``); onnxruntime reads the model's bytes and needs no ``onnx``. So the
messages the builder uses are declared here, with onnx-ml.proto's field numbers, in a
descriptor pool of their own: the bytes are ONNX's, whatever the package name, and a process
that also imports ``onnx`` (the test suite) sees no clash in protobuf's default pool.
``tests/unit/test_onnx_schema.py`` checks the built graph byte for byte against ``onnx``'s
own helpers and runs ``onnx.checker`` on it.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_PACKAGE: Final = "clarion.onnx"
_FILE: Final = "clarion/onnx_subset.proto"

_F = descriptor_pb2.FieldDescriptorProto
# (name, number, type, repeated, message type name or None, oneof index or None)
_Field = tuple[str, int, int, bool, str | None, int | None]

_INT64, _INT32, _FLOAT = _F.TYPE_INT64, _F.TYPE_INT32, _F.TYPE_FLOAT
_STRING, _BYTES, _MESSAGE, _ENUM = _F.TYPE_STRING, _F.TYPE_BYTES, _F.TYPE_MESSAGE, _F.TYPE_ENUM

# onnx-ml.proto (onnx 1.17 to 1.23), the fields the builder sets and nothing more.
_MESSAGES: Final[dict[str, list[_Field]]] = {
    "OperatorSetIdProto": [
        ("domain", 1, _STRING, False, None, None),
        ("version", 2, _INT64, False, None, None),
    ],
    "TensorProto": [
        ("dims", 1, _INT64, True, None, None),
        ("data_type", 2, _INT32, False, None, None),
        ("name", 8, _STRING, False, None, None),
        ("raw_data", 9, _BYTES, False, None, None),
    ],
    "AttributeProto": [
        ("name", 1, _STRING, False, None, None),
        ("f", 2, _FLOAT, False, None, None),
        ("i", 3, _INT64, False, None, None),
        ("ints", 8, _INT64, True, None, None),
        ("type", 20, _ENUM, False, "AttributeProto.AttributeType", None),
    ],
    "NodeProto": [
        ("input", 1, _STRING, True, None, None),
        ("output", 2, _STRING, True, None, None),
        ("name", 3, _STRING, False, None, None),
        ("op_type", 4, _STRING, False, None, None),
        ("attribute", 5, _MESSAGE, True, "AttributeProto", None),
    ],
    "TensorShapeProto.Dimension": [
        ("dim_value", 1, _INT64, False, None, 0),
        ("dim_param", 2, _STRING, False, None, 0),
    ],
    "TensorShapeProto": [
        ("dim", 1, _MESSAGE, True, "TensorShapeProto.Dimension", None),
    ],
    "TypeProto.Tensor": [
        ("elem_type", 1, _INT32, False, None, None),
        ("shape", 2, _MESSAGE, False, "TensorShapeProto", None),
    ],
    "TypeProto": [
        ("tensor_type", 1, _MESSAGE, False, "TypeProto.Tensor", 0),
    ],
    "ValueInfoProto": [
        ("name", 1, _STRING, False, None, None),
        ("type", 2, _MESSAGE, False, "TypeProto", None),
    ],
    "GraphProto": [
        ("node", 1, _MESSAGE, True, "NodeProto", None),
        ("name", 2, _STRING, False, None, None),
        ("initializer", 5, _MESSAGE, True, "TensorProto", None),
        ("input", 11, _MESSAGE, True, "ValueInfoProto", None),
        ("output", 12, _MESSAGE, True, "ValueInfoProto", None),
    ],
    "ModelProto": [
        ("ir_version", 1, _INT64, False, None, None),
        ("producer_name", 2, _STRING, False, None, None),
        ("graph", 7, _MESSAGE, False, "GraphProto", None),
        ("opset_import", 8, _MESSAGE, True, "OperatorSetIdProto", None),
    ],
}
# The oneof each message with oneof fields declares (by index 0).
_ONEOFS: Final = {"TensorShapeProto.Dimension": "value", "TypeProto": "value"}
_ATTRIBUTE_TYPES: Final = {"UNDEFINED": 0, "FLOAT": 1, "INT": 2, "INTS": 7}

# TensorProto.DataType and AttributeProto.AttributeType values used by the builder.
FLOAT: Final = 1
ATTRIBUTE_INT: Final = _ATTRIBUTE_TYPES["INT"]
ATTRIBUTE_INTS: Final = _ATTRIBUTE_TYPES["INTS"]


def _field(spec: _Field) -> descriptor_pb2.FieldDescriptorProto:
    name, number, kind, repeated, type_name, oneof = spec
    field = _F(name=name, number=number, type=kind)  # type: ignore[arg-type]
    field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    if type_name is not None:
        field.type_name = f".{_PACKAGE}.{type_name}"
    if oneof is not None:
        field.oneof_index = oneof
    return field


def _file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(name=_FILE, package=_PACKAGE, syntax="proto2")
    tops: dict[str, descriptor_pb2.DescriptorProto] = {}
    for full_name, fields in _MESSAGES.items():
        outer, _, inner = full_name.partition(".")
        if outer not in tops:
            tops[outer] = descriptor_pb2.DescriptorProto(name=outer)
        target = tops[outer] if not inner else tops[outer].nested_type.add(name=inner)
        target.field.extend(_field(spec) for spec in fields)
        if full_name in _ONEOFS:
            target.oneof_decl.add(name=_ONEOFS[full_name])
    attribute_type = tops["AttributeProto"].enum_type.add(name="AttributeType")
    for name, number in _ATTRIBUTE_TYPES.items():
        attribute_type.value.add(name=name, number=number)
    file.message_type.extend(tops.values())
    return file


def _classes() -> dict[str, Any]:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file())
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
        for name in _MESSAGES
    }


_CLASSES: Final = _classes()
ModelProto: Final = _CLASSES["ModelProto"]
GraphProto: Final = _CLASSES["GraphProto"]
NodeProto: Final = _CLASSES["NodeProto"]
AttributeProto: Final = _CLASSES["AttributeProto"]
TensorProto: Final = _CLASSES["TensorProto"]
ValueInfoProto: Final = _CLASSES["ValueInfoProto"]
OperatorSetIdProto: Final = _CLASSES["OperatorSetIdProto"]


def tensor(name: str, value: npt.NDArray[np.float32]) -> Any:
    """A float32 initializer, its bytes little-endian in ``raw_data`` (as ``numpy_helper``)."""
    if value.dtype != np.float32:
        raise TypeError(f"{name} is {value.dtype}; the graph holds float32 only")
    return TensorProto(
        name=name,
        dims=value.shape,
        data_type=FLOAT,
        raw_data=value.astype("<f4", copy=False).tobytes(),
    )


def node(op_type: str, inputs: list[str], output: str, **attributes: int | list[int]) -> Any:
    """One node named after its output, with its attributes in name order (as ``helper``)."""
    return NodeProto(
        op_type=op_type,
        input=inputs,
        output=[output],
        name=output,
        attribute=[_attribute(key, value) for key, value in sorted(attributes.items())],
    )


def _attribute(name: str, value: int | list[int]) -> Any:
    if isinstance(value, int):
        return AttributeProto(name=name, i=value, type=ATTRIBUTE_INT)
    return AttributeProto(name=name, ints=value, type=ATTRIBUTE_INTS)


def float_input(name: str, shape: list[int | str]) -> Any:
    """A float tensor's name, type and shape: a ``str`` dimension is symbolic (the batch)."""
    dims = [{"dim_param": dim} if isinstance(dim, str) else {"dim_value": dim} for dim in shape]
    return ValueInfoProto(
        name=name, type={"tensor_type": {"elem_type": FLOAT, "shape": {"dim": dims}}}
    )


def model(graph: Any, *, opset: int, ir_version: int, producer: str) -> Any:
    """The model around ``graph``, importing the default domain at ``opset``."""
    return ModelProto(
        ir_version=ir_version,
        producer_name=producer,
        graph=graph,
        opset_import=[OperatorSetIdProto(domain="", version=opset)],
    )
