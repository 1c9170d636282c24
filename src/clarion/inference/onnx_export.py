"""A trained custom model as one ONNX file a user can run elsewhere (PutModelVersionExports).

The file is the embedder's graph (MobileNetV2 from the weight package, as Clarion runs it)
with the classifier head appended, so it computes what ``EmbeddingClassifier`` scores:

    features [N, 1280] -> L2-normalised (the general-image-embedding) -> MatMul W.T -> Add b
    -> Softmax over the concepts (concepts_mutually_exclusive) or one Sigmoid each

Its one input is ``input`` [N, 3, 224, 224] float32, the image preprocessed as
``PREPROCESSING`` says; its one output ``scores`` [N, k] float32 holds the concepts in the
order of the ``concept_ids`` metadata entry (the version's concept order). The head runs in
float32 where Clarion scores in float64: the two agree to about 1e-6.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from clarion.inference._onnx_graph import FEATURES, INPUT, LOGITS
from clarion.inference.trainer import LinearClassifier

SCORES = "scores"
PREPROCESSING = (
    "RGB image; resize the short side to 256 (bilinear; the long side to "
    "int(256 * long / short)), centre-crop 224 x 224 (offsets rounded), scale pixels to "
    "[0, 1], subtract mean (0.485, 0.456, 0.406) and divide by std (0.229, 0.224, 0.225) per "
    "channel; CHW layout, batched as NCHW float32 [N, 3, 224, 224] "
    "(torchvision's Resize(256), CenterCrop(224), ToTensor(), Normalize(mean, std))"
)
_EPSILON = 1e-12  # l2_normalize's floor on a norm: an all-zero row stays zero


def classifier_onnx(
    embedder: Path,
    classifier: LinearClassifier,
    concepts: Sequence[tuple[str, str]],
    *,
    exclusive: bool,
    producer: str = "clarion",
) -> bytes:
    """The serialized ONNX model: the embedder graph at ``embedder`` plus the head.

    ``concepts`` are ``(id, name)`` pairs in the classifier's row order.
    """
    if len(concepts) != classifier.concept_count:
        raise ValueError(f"{len(concepts)} concepts for {classifier.concept_count} classifier rows")
    model = onnx.load(str(embedder))
    graph = model.graph
    _drop_output(graph, LOGITS)
    _drop_output(graph, FEATURES)
    graph.initializer.extend(_head_weights(classifier))
    graph.node.extend(_head_nodes(exclusive))
    graph.output.append(
        helper.make_tensor_value_info(
            SCORES, TensorProto.FLOAT, ["batch", classifier.concept_count]
        )
    )
    _prune_unused(graph)
    model.producer_name = producer
    _set_metadata(model, concepts, exclusive)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _drop_output(graph: onnx.GraphProto, name: str) -> None:
    kept = [output for output in graph.output if output.name != name]
    del graph.output[:]
    graph.output.extend(kept)


def _head_weights(classifier: LinearClassifier) -> list[onnx.TensorProto]:
    return [
        numpy_helper.from_array(
            np.ascontiguousarray(classifier.weights.T, dtype=np.float32), "head_weights"
        ),
        numpy_helper.from_array(classifier.bias.astype(np.float32), "head_bias"),
        numpy_helper.from_array(np.array(_EPSILON, dtype=np.float32), "head_norm_floor"),
    ]


def _head_nodes(exclusive: bool) -> list[onnx.NodeProto]:
    """``EmbeddingClassifier``'s scoring: the embedding (features over their L2 norm, the norm
    floored as ``l2_normalize`` floors it), then the linear head and its activation."""
    activation = (
        helper.make_node("Softmax", ["head_logits"], [SCORES], axis=1)
        if exclusive
        else helper.make_node("Sigmoid", ["head_logits"], [SCORES])
    )
    return [
        helper.make_node("ReduceL2", [FEATURES], ["head_norm"], axes=[1], keepdims=1),
        helper.make_node("Max", ["head_norm", "head_norm_floor"], ["head_floored"]),
        helper.make_node("Div", [FEATURES, "head_floored"], ["embedding"]),
        helper.make_node("MatMul", ["embedding", "head_weights"], ["head_product"]),
        helper.make_node("Add", ["head_product", "head_bias"], ["head_logits"]),
        activation,
    ]


def _prune_unused(graph: onnx.GraphProto) -> None:
    """Drop the ImageNet classifier layer, which only fed ``logits`` (its 1.3M weights)."""
    needed = {output.name for output in graph.output}
    kept: list[onnx.NodeProto] = []
    for node in reversed(graph.node):
        if any(name in needed for name in node.output):
            kept.append(node)
            needed.update(name for name in node.input if name)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    initializers = [tensor for tensor in graph.initializer if tensor.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def _set_metadata(
    model: onnx.ModelProto, concepts: Sequence[tuple[str, str]], exclusive: bool
) -> None:
    entries = {
        "concept_ids": json.dumps([concept_id for concept_id, _ in concepts]),
        "concept_names": json.dumps([name for _, name in concepts]),
        "activation": "softmax" if exclusive else "sigmoid",
        "input": f"{INPUT}: {PREPROCESSING}",
        "output": f"{SCORES}: [N, concepts] float32, in the order of concept_ids",
        "embedder": "general-image-embedding (MobileNetV2 pooled features, L2-normalised)",
    }
    existing = {prop.key: prop.value for prop in model.metadata_props}
    helper.set_model_props(model, {**existing, **entries})
