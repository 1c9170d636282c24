"""Clarion's own ONNX messages (``_onnx_schema``) write the bytes ``onnx``'s helpers write.

The server builds MobileNetV2's graph without the ``onnx`` package; the suite has it (the
``dev`` extra) and holds every message the builder makes to ``onnx``'s own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime  # type: ignore[import-untyped]  # no stubs or py.typed
import pytest
from onnx import TensorProto, helper, numpy_helper

from clarion.inference import _onnx_schema as schema


def test_a_tensor_is_what_numpy_helper_makes() -> None:
    value = (np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7).astype(np.float32)

    ours = schema.tensor("w", value).SerializeToString()

    assert ours == numpy_helper.from_array(value, "w").SerializeToString()


def test_a_scalar_tensor_has_no_dims() -> None:
    value = np.array(6.0, dtype=np.float32)

    ours = schema.tensor("max", value).SerializeToString()

    assert ours == numpy_helper.from_array(value, "max").SerializeToString()


def test_a_tensor_that_is_not_float32_is_refused() -> None:
    with pytest.raises(TypeError, match="float32"):
        schema.tensor("w", np.zeros(3, dtype=np.float64))


def test_a_node_is_what_make_node_makes_with_attributes_in_name_order() -> None:
    attributes: dict[str, Any] = {
        "strides": [2, 2],
        "group": 32,
        "pads": [1, 1, 1, 1],
        "kernel_shape": [3, 3],
    }

    ours = schema.node("Conv", ["x", "w", "b"], "y", **attributes).SerializeToString()

    made = helper.make_node("Conv", ["x", "w", "b"], ["y"], name="y", **attributes)
    assert ours == made.SerializeToString()


def test_a_value_info_is_what_make_tensor_value_info_makes() -> None:
    ours = schema.float_input("input", ["batch", 3, 224, 224]).SerializeToString()

    made = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 224, 224])
    assert ours == made.SerializeToString()


def _tiny_model() -> bytes:
    """y = Clip(Gemm(x, w, b), 0, 6): one of each message the builder uses."""
    w = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    initializers = [
        schema.tensor("w", w),
        schema.tensor("b", np.ones(3, dtype=np.float32)),
        schema.tensor("lo", np.array(0.0, dtype=np.float32)),
        schema.tensor("hi", np.array(6.0, dtype=np.float32)),
    ]
    graph = schema.GraphProto(
        node=[
            schema.node("Gemm", ["x", "w", "b"], "g", transB=1),
            schema.node("Clip", ["g", "lo", "hi"], "y"),
        ],
        name="tiny",
        input=[schema.float_input("x", ["batch", 4])],
        output=[schema.float_input("y", ["batch", 3])],
        initializer=initializers,
    )
    model = schema.model(graph, opset=17, ir_version=8, producer="clarion")
    return bytes(model.SerializeToString())


def test_a_model_passes_onnx_full_check_and_reads_back_unchanged() -> None:
    data = _tiny_model()

    model = onnx.ModelProto.FromString(data)

    onnx.checker.check_model(model, full_check=True)
    assert model.SerializeToString() == data  # no field onnx does not know, none lost
    assert (model.ir_version, model.opset_import[0].version) == (8, 17)


def test_onnxruntime_runs_the_model() -> None:
    session = onnxruntime.InferenceSession(_tiny_model(), providers=["CPUExecutionProvider"])
    x = np.array([[1, 2, 3, 4], [-4, -3, -2, -1]], dtype=np.float32)

    (y,) = session.run(["y"], {"x": x})

    w = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_allclose(y, np.clip(x @ w.T + 1, 0, 6), rtol=1e-6)
