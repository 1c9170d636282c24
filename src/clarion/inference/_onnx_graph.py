"""Build torchvision's MobileNetV2 as an ONNX graph from a state dict, without torch.

The layout and parameter names follow ``torchvision.models.mobilenet_v2``: a 3x3 stem, 17
inverted residual blocks, a 1x1 head to 1280 channels, global average pooling, then
dropout (a no-op at inference, so absent here) and a 1280 -> 1000 linear layer. BatchNorm is
folded into the preceding convolution, which leaves Conv -> Clip(0, 6) chains that
onnxruntime fuses.

The graph has one input, ``input`` [N, 3, 224, 224] (ImageNet-normalised RGB), and two
outputs: ``logits`` [N, 1000] and ``features`` [N, 1280] (the pooled features, before the
classifier).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from clarion.inference import _onnx_schema as schema
from clarion.inference._checkpoint import CheckpointFormatError

INPUT = "input"
LOGITS = "logits"
FEATURES = "features"
IMAGE_SIZE = 224
FEATURE_SIZE = 1280
NUM_CLASSES = 1000

# Opset 17 and IR 8 are old enough for every onnxruntime Clarion supports.
OPSET = 17
IR_VERSION = 8

# torchvision's BatchNorm2d default.
_BN_EPS = 1e-5

# torchvision's inverted residual setting: expand ratio t, output channels c, repeats n,
# first stride s.
_INVERTED_RESIDUAL_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
_STEM_CHANNELS = 32

State = Mapping[str, npt.NDArray[Any]]


@dataclass(frozen=True, slots=True)
class _ConvBN:
    """One convolution and the BatchNorm after it, by state-dict prefix."""

    conv: str
    bn: str
    stride: int
    depthwise: bool
    relu6: bool


@dataclass(frozen=True, slots=True)
class _Block:
    """One inverted residual block: its layers, and whether it adds its input back."""

    layers: tuple[_ConvBN, ...]
    residual: bool


def _blocks() -> Iterator[_Block]:
    """Yield torchvision's 17 inverted residual blocks, numbered ``features.1`` to ``.17``."""
    index, in_channels = 1, _STEM_CHANNELS
    for expand, out_channels, repeats, first_stride in _INVERTED_RESIDUAL_SETTING:
        for repeat in range(repeats):
            stride = first_stride if repeat == 0 else 1
            residual = stride == 1 and in_channels == out_channels
            yield _Block(_block_layers(f"features.{index}.conv", expand, stride), residual)
            index, in_channels = index + 1, out_channels


def _block_layers(prefix: str, expand: int, stride: int) -> tuple[_ConvBN, ...]:
    # With expand ratio 1 torchvision omits the 1x1 expansion, which shifts the indices.
    layers = []
    if expand != 1:
        layers.append(_ConvBN(f"{prefix}.0.0", f"{prefix}.0.1", 1, False, True))
    dw = len(layers)
    layers.append(_ConvBN(f"{prefix}.{dw}.0", f"{prefix}.{dw}.1", stride, True, True))
    project = len(layers)
    layers.append(_ConvBN(f"{prefix}.{project}", f"{prefix}.{project + 1}", 1, False, False))
    return tuple(layers)


class _GraphBuilder:
    """Accumulates nodes and initializers, and records which state-dict keys were used."""

    def __init__(self, state: State) -> None:
        self._state = state
        self.used: set[str] = set()
        self.nodes: list[Any] = []  # schema.NodeProto
        self.initializers: list[Any] = []  # schema.TensorProto
        self._constant("relu6.min", np.array(0.0, dtype=np.float32))
        self._constant("relu6.max", np.array(6.0, dtype=np.float32))

    def param(self, key: str) -> npt.NDArray[np.float64]:
        if key not in self._state:
            raise CheckpointFormatError(f"state dict has no {key}")
        self.used.add(key)
        return np.asarray(self._state[key], dtype=np.float64)

    def _constant(self, name: str, value: npt.NDArray[np.float32]) -> str:
        self.initializers.append(schema.tensor(name, value))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: int | list[int]) -> str:
        self.nodes.append(schema.node(op, inputs, output, **attrs))
        return output

    def conv_bn(self, x: str, layer: _ConvBN) -> str:
        """Add a convolution with its BatchNorm folded in, then ReLU6 if the layer has one."""
        weight, bias = self._folded(layer)
        out_channels, in_per_group, kernel, _ = weight.shape
        if layer.depthwise and in_per_group != 1:
            raise CheckpointFormatError(f"{layer.conv} is not a depthwise convolution")
        w = self._constant(f"{layer.conv}.weight", weight)
        b = self._constant(f"{layer.conv}.bias", bias)
        pad = (kernel - 1) // 2
        y = self.node(
            "Conv",
            [x, w, b],
            f"{layer.conv}.out",
            kernel_shape=[kernel, kernel],
            strides=[layer.stride, layer.stride],
            pads=[pad] * 4,
            group=out_channels if layer.depthwise else 1,
        )
        if not layer.relu6:
            return y
        return self.node("Clip", [y, "relu6.min", "relu6.max"], f"{layer.conv}.relu6")

    def _folded(self, layer: _ConvBN) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Fold BatchNorm into the convolution: w' = w * g / sqrt(v + eps), b' = b - m * that."""
        weight = self.param(f"{layer.conv}.weight")
        gamma, beta = self.param(f"{layer.bn}.weight"), self.param(f"{layer.bn}.bias")
        mean, var = self.param(f"{layer.bn}.running_mean"), self.param(f"{layer.bn}.running_var")
        scale = gamma / np.sqrt(var + _BN_EPS)
        folded = weight * scale[:, None, None, None]
        return folded.astype(np.float32), (beta - mean * scale).astype(np.float32)

    def linear(self, x: str, prefix: str, output: str) -> str:
        weight = self.param(f"{prefix}.weight").astype(np.float32)
        bias = self.param(f"{prefix}.bias").astype(np.float32)
        w = self._constant(f"{prefix}.weight", weight)
        b = self._constant(f"{prefix}.bias", bias)
        return self.node("Gemm", [x, w, b], output, transB=1)


def build_mobilenet_v2(state: State) -> Any:
    """Return the ONNX model (``schema.ModelProto``) of torchvision's MobileNetV2 with
    ``state``'s weights; onnxruntime checks it when it loads it."""
    builder = _GraphBuilder(state)
    x = builder.conv_bn(INPUT, _ConvBN("features.0.0", "features.0.1", 2, False, True))
    for block in _blocks():
        x = _inverted_residual(builder, x, block)
    x = builder.conv_bn(x, _ConvBN("features.18.0", "features.18.1", 1, False, True))
    pooled = builder.node("GlobalAveragePool", [x], "pool")
    builder.node("Flatten", [pooled], FEATURES, axis=1)
    builder.linear(FEATURES, "classifier.1", LOGITS)
    _check_all_used(state, builder.used)
    return _model(builder)


def _inverted_residual(builder: _GraphBuilder, x: str, block: _Block) -> str:
    y = x
    for layer in block.layers:
        y = builder.conv_bn(y, layer)
    if not block.residual:
        return y
    return builder.node("Add", [x, y], f"{block.layers[0].conv.rsplit('.', 2)[0]}.add")


def _check_all_used(state: State, used: set[str]) -> None:
    # An unused tensor means the checkpoint is not the network built here.
    unused = {key for key in state if key not in used and not key.endswith("num_batches_tracked")}
    if unused:
        raise CheckpointFormatError(f"state dict has unexpected tensors: {sorted(unused)[:5]}")


def _model(builder: _GraphBuilder) -> Any:
    batch = "batch"
    graph = schema.GraphProto(
        node=builder.nodes,
        name="mobilenet_v2",
        input=[schema.float_input(INPUT, [batch, 3, IMAGE_SIZE, IMAGE_SIZE])],
        output=[
            schema.float_input(LOGITS, [batch, NUM_CLASSES]),
            schema.float_input(FEATURES, [batch, FEATURE_SIZE]),
        ],
        initializer=builder.initializers,
    )
    return schema.model(graph, opset=OPSET, ir_version=IR_VERSION, producer="clarion")
