"""Workflows as graphs of runners: validation, the public ones, and running them.

A workflow is a DAG of nodes, each naming a model; ``node_inputs`` (``NodeSpec.parents``) are
its edges. Nodes run in topological order, each over a batch (every input, or every region).
A node whose parent finds regions (a detector, a text reader) runs on each region instead
of the whole input: an image model on the region's crop, a text model on the region's text,
and its results land in those regions. Otherwise it runs on the whole input, as its parents
do not change what it sees.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from PIL import Image

from clarion.errors import WorkflowInvalidArgument, WorkflowInvalidGraph
from clarion.inference.base import InputKind, Prediction, Region
from clarion.inference.catalog import (
    GENERAL_IMAGE_EMBEDDING,
    GENERAL_IMAGE_EMBEDDING_VERSION,
    GENERAL_IMAGE_RECOGNITION,
    GENERAL_IMAGE_RECOGNITION_VERSION,
)

MAX_NODES = 20
GENERAL_WORKFLOW = "General"
PUBLIC_USER = "clarifai"
PUBLIC_APP = "main"


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One node as a workflow stores it: the model it runs and the nodes feeding it.

    ``model_user_id``/``model_app_id`` say where the model lives: empty for the workflow's
    own app (its custom models, then the built-in ones), ``clarifai``/``main`` for built-in.
    An empty ``version_id`` means the model's newest trained version at run time.
    ``output_config`` is a per-node OutputConfig (as JSON) that overrides the request's.
    """

    id: str
    model_id: str
    version_id: str = ""
    model_user_id: str = ""
    model_app_id: str = ""
    parents: tuple[str, ...] = ()
    suppress_output: bool = False
    output_config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def public(self) -> bool:
        """True when the node names a built-in model explicitly by its public owner."""
        return (self.model_user_id, self.model_app_id) == (PUBLIC_USER, PUBLIC_APP)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model_id": self.model_id,
            "version_id": self.version_id,
            "model_user_id": self.model_user_id,
            "model_app_id": self.model_app_id,
            "parents": list(self.parents),
            "suppress_output": self.suppress_output,
            "output_config": dict(self.output_config),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NodeSpec:
        return cls(
            id=str(data["id"]),
            model_id=str(data["model_id"]),
            version_id=str(data.get("version_id", "")),
            model_user_id=str(data.get("model_user_id", "")),
            model_app_id=str(data.get("model_app_id", "")),
            parents=tuple(str(parent) for parent in data.get("parents", ())),
            suppress_output=bool(data.get("suppress_output", False)),
            output_config=dict(data.get("output_config") or {}),
        )


# The public workflows of ``clarifai/main``: every app can run them and use them as its base
# workflow. The classifier comes first, so ``outputs[0]`` holds concepts, as clients expect.
PUBLIC_WORKFLOWS: Mapping[str, tuple[NodeSpec, ...]] = {
    GENERAL_WORKFLOW: (
        NodeSpec(
            "general-concept",
            GENERAL_IMAGE_RECOGNITION,
            GENERAL_IMAGE_RECOGNITION_VERSION,
            PUBLIC_USER,
            PUBLIC_APP,
        ),
        NodeSpec(
            "general-embed",
            GENERAL_IMAGE_EMBEDDING,
            GENERAL_IMAGE_EMBEDDING_VERSION,
            PUBLIC_USER,
            PUBLIC_APP,
        ),
    ),
}


def graph_order(nodes: Sequence[NodeSpec]) -> tuple[NodeSpec, ...]:
    """The nodes in an order where each comes after its parents (stable: given order first).

    Raises ``WorkflowInvalidArgument`` for no nodes, more than ``MAX_NODES``, or missing or
    repeated node ids, and ``WorkflowInvalidGraph`` for a link to no node or a cycle.
    """
    _check_nodes(nodes)
    placed: set[str] = set()
    ordered: list[NodeSpec] = []
    waiting = list(nodes)
    while waiting:
        ready = [node for node in waiting if set(node.parents) <= placed]
        if not ready:
            names = ", ".join(f"'{node.id}'" for node in waiting)
            raise WorkflowInvalidGraph(f"The workflow's node_inputs form a cycle among {names}")
        ordered += ready
        placed.update(node.id for node in ready)
        waiting = [node for node in waiting if node.id not in placed]
    return tuple(ordered)


def _check_nodes(nodes: Sequence[NodeSpec]) -> None:
    if not nodes:
        raise WorkflowInvalidArgument("A workflow needs at least one node")
    if len(nodes) > MAX_NODES:
        raise WorkflowInvalidArgument(
            f"The workflow has {len(nodes)} nodes: a workflow has at most {MAX_NODES}"
        )
    seen: set[str] = set()
    for node in nodes:
        if not node.id:
            raise WorkflowInvalidArgument("Each workflow node needs an id")
        if node.id in seen:
            raise WorkflowInvalidArgument(f"Two workflow nodes have the id '{node.id}'")
        if not node.model_id:
            raise WorkflowInvalidArgument(f"Workflow node '{node.id}' names no model")
        seen.add(node.id)
    for node in nodes:
        for parent in node.parents:
            if parent not in seen:
                raise WorkflowInvalidGraph(
                    f"Workflow node '{node.id}' takes input from '{parent}', which is no node"
                )


WorkflowInput = Image.Image | str
Predict = Callable[[Sequence[Any]], list[Prediction]]


@dataclass(frozen=True, slots=True)
class GraphNode:
    """A node ready to run: its spec and its model's runner.

    ``model_id`` is the model's canonical id (a built-in's slug, or the custom model's id);
    ``yields_regions`` says the model finds regions (a detector, a text reader), so the
    nodes it feeds run per region.
    """

    spec: NodeSpec
    model_id: str
    builtin: bool
    input_kind: InputKind
    yields_regions: bool
    predict: Predict


@dataclass(frozen=True, slots=True)
class RegionResult:
    """A region some node found (``source``, its ``index`` there), and what this node said.

    ``prediction`` is None when the region could not be fed to the node (a text model and a
    region without text). Boxes are relative to the whole image.
    """

    source: str
    index: int
    region: Region
    prediction: Prediction | None


@dataclass(frozen=True, slots=True)
class NodeResult:
    """One node on one input: a whole-input ``prediction``, or per-region results, or why not."""

    prediction: Prediction | None = None
    regions: tuple[RegionResult, ...] | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class _Task:
    input_index: int
    item: WorkflowInput
    slot: int | None = None  # the region's position in the node's feed, None for the input


def run_graph(
    nodes: Sequence[GraphNode], inputs: Sequence[WorkflowInput]
) -> list[dict[str, NodeResult]]:
    """Run ``nodes`` (in graph order) on each input; per input, each node's result."""
    results: list[dict[str, NodeResult]] = [{} for _ in inputs]
    by_id = {node.spec.id: node for node in nodes}
    for node in nodes:
        _run_node(node, by_id, inputs, results)
    return results


def _run_node(
    node: GraphNode,
    by_id: Mapping[str, GraphNode],
    inputs: Sequence[WorkflowInput],
    results: list[dict[str, NodeResult]],
) -> None:
    tasks: list[_Task] = []
    feeds: dict[int, list[RegionResult]] = {}
    for index, item in enumerate(inputs):
        failed = [p for p in node.spec.parents if results[index][p].error]
        if failed:
            results[index][node.spec.id] = NodeResult(error=f"its input node '{failed[0]}' failed")
            continue
        feed = _region_feed(node, by_id, results[index])
        error = _mismatch(node, item, feed is not None)
        if error:
            results[index][node.spec.id] = NodeResult(error=error)
        elif feed is None:
            tasks.append(_Task(index, item))
        else:
            feeds[index] = feed
            tasks += _region_tasks(node, index, item, feed)
    predictions = node.predict([task.item for task in tasks]) if tasks else []
    _collect(node, tasks, predictions, feeds, results)


def _region_feed(
    node: GraphNode, by_id: Mapping[str, GraphNode], done: Mapping[str, NodeResult]
) -> list[RegionResult] | None:
    """The regions the node's parents pass on, or None if it runs on the whole input."""
    feed: dict[tuple[str, int], RegionResult] = {}
    per_region = False
    for parent_id in node.spec.parents:
        result = done[parent_id]
        if result.regions is not None:
            per_region = True
            for passed in result.regions:
                feed.setdefault((passed.source, passed.index), replace(passed, prediction=None))
        elif by_id[parent_id].yields_regions:
            per_region = True
            found = result.prediction.regions if result.prediction else ()
            for position, region in enumerate(found):
                feed.setdefault(
                    (parent_id, position), RegionResult(parent_id, position, region, None)
                )
    return list(feed.values()) if per_region else None


def _mismatch(node: GraphNode, item: WorkflowInput, per_region: bool) -> str:
    is_text = isinstance(item, str)
    if per_region and is_text:
        return "regions come from images, and this input is a text"
    if not per_region and is_text != (node.input_kind == "text"):
        kind = "a text" if is_text else "an image"
        return f"model '{node.model_id}' takes {node.input_kind} input, and this input is {kind}"
    return ""


def _region_tasks(
    node: GraphNode, index: int, item: WorkflowInput, feed: Sequence[RegionResult]
) -> list[_Task]:
    assert isinstance(item, Image.Image)
    tasks = []
    for slot, passed in enumerate(feed):
        if node.input_kind == "text":
            if passed.region.text:
                tasks.append(_Task(index, passed.region.text, slot))
        else:
            tasks.append(_Task(index, crop(item, passed.region), slot))
    return tasks


def _collect(
    node: GraphNode,
    tasks: Sequence[_Task],
    predictions: Sequence[Prediction],
    feeds: Mapping[int, list[RegionResult]],
    results: list[dict[str, NodeResult]],
) -> None:
    per_region: dict[int, list[RegionResult]] = {i: list(feed) for i, feed in feeds.items()}
    for task, prediction in zip(tasks, predictions, strict=True):
        if task.slot is None:
            results[task.input_index][node.spec.id] = NodeResult(prediction=prediction)
            continue
        passed = per_region[task.input_index][task.slot]
        located = _in_image(prediction, passed.region)
        per_region[task.input_index][task.slot] = replace(passed, prediction=located)
    for index, regions in per_region.items():
        results[index][node.spec.id] = NodeResult(regions=tuple(regions))


def crop(image: Image.Image, region: Region) -> Image.Image:
    """The part of ``image`` inside ``region``'s box, at least one pixel each way."""
    width, height = image.size
    left = min(max(math.floor(region.left_col * width), 0), width - 1)
    top = min(max(math.floor(region.top_row * height), 0), height - 1)
    right = min(max(math.ceil(region.right_col * width), left + 1), width)
    bottom = min(max(math.ceil(region.bottom_row * height), top + 1), height)
    return image.crop((left, top, right, bottom))


def _in_image(prediction: Prediction, outer: Region) -> Prediction:
    """A prediction made on a crop, with any regions it found moved to whole-image boxes."""
    if not prediction.regions:
        return prediction
    tall = outer.bottom_row - outer.top_row
    wide = outer.right_col - outer.left_col
    moved = tuple(
        replace(
            inner,
            top_row=outer.top_row + inner.top_row * tall,
            bottom_row=outer.top_row + inner.bottom_row * tall,
            left_col=outer.left_col + inner.left_col * wide,
            right_col=outer.left_col + inner.right_col * wide,
            polygon=(),
        )
        for inner in prediction.regions
    )
    return replace(prediction, regions=moved)
