"""Workflow graphs: DAG validation, and running nodes with fake runners."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from PIL import Image

from clarion.errors import WorkflowInvalidArgument, WorkflowInvalidGraph
from clarion.inference.base import ConceptScore, InputKind, Prediction, Region
from clarion.inference.workflow import (
    MAX_NODES,
    PUBLIC_WORKFLOWS,
    GraphNode,
    NodeSpec,
    crop,
    graph_order,
    run_graph,
)


def spec(node_id: str, *parents: str) -> NodeSpec:
    return NodeSpec(node_id, "some-model", parents=parents)


def test_order_puts_parents_first_and_keeps_the_given_order_otherwise() -> None:
    nodes = [spec("c", "b"), spec("a"), spec("b", "a"), spec("d")]
    assert [n.id for n in graph_order(nodes)] == ["a", "d", "b", "c"]


@pytest.mark.parametrize(
    ("nodes", "error", "words"),
    [
        pytest.param([], WorkflowInvalidArgument, "at least one", id="empty"),
        pytest.param(
            [spec(f"n{i}") for i in range(MAX_NODES + 1)],
            WorkflowInvalidArgument,
            "at most 20",
            id="too-many",
        ),
        pytest.param([spec("a"), spec("a")], WorkflowInvalidArgument, "Two", id="same-id"),
        pytest.param([spec("")], WorkflowInvalidArgument, "needs an id", id="no-id"),
        pytest.param([NodeSpec("a", "")], WorkflowInvalidArgument, "no model", id="no-model"),
        pytest.param([spec("a", "zzz")], WorkflowInvalidGraph, "no node", id="dangling"),
        pytest.param([spec("a", "a")], WorkflowInvalidGraph, "cycle", id="self-loop"),
        pytest.param(
            [spec("a"), spec("b", "a", "c"), spec("c", "b")],
            WorkflowInvalidGraph,
            "'b', 'c'",
            id="cycle",
        ),
    ],
)
def test_invalid_graphs(nodes: list[NodeSpec], error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        graph_order(nodes)


def test_a_chain_of_twenty_is_valid_and_specs_round_trip_json() -> None:
    chain = [spec("n0")] + [spec(f"n{i}", f"n{i - 1}") for i in range(1, MAX_NODES)]
    assert len(graph_order(chain)) == MAX_NODES
    for node in chain + list(PUBLIC_WORKFLOWS["General"]):
        assert NodeSpec.from_json(node.to_json()) == node


class Recorder:
    """A fake runner: remembers what it was given, answers with fixed predictions."""

    def __init__(self, answer: Prediction) -> None:
        self.answer = answer
        self.seen: list[Any] = []

    def __call__(self, items: Sequence[Any]) -> list[Prediction]:
        self.seen.append(list(items))
        return [self.answer for _ in items]


def graph_node(
    node_id: str,
    runner: Recorder,
    *parents: str,
    kind: InputKind = "image",
    regions: bool = False,
) -> GraphNode:
    return GraphNode(
        NodeSpec(node_id, node_id, parents=parents), node_id, True, kind, regions, runner
    )


BOX = Region(top_row=0.5, left_col=0.0, bottom_row=1.0, right_col=0.5, value=0.9)
FOUND = Prediction(regions=(BOX,))
CAT = Prediction(concepts=(ConceptScore("cat", "cat", 0.8),))


def test_a_node_after_a_detector_runs_on_each_region_crop() -> None:
    detector, classifier, embedder = Recorder(FOUND), Recorder(CAT), Recorder(CAT)
    nodes = [
        graph_node("detect", detector, regions=True),
        graph_node("classify", classifier, "detect"),
        graph_node("after", embedder, "classify"),
    ]
    image = Image.new("RGB", (100, 80))
    (result,) = run_graph(nodes, [image])
    assert [crop.size for crop in classifier.seen[0]] == [(50, 40)]
    (region,) = result["classify"].regions or ()
    assert (region.source, region.index, region.region) == ("detect", 0, BOX)
    assert region.prediction == CAT
    # Regions flow on through a node that ran on them.
    assert [crop.size for crop in embedder.seen[0]] == [(50, 40)]


def test_a_detector_finding_nothing_leaves_its_children_nothing() -> None:
    classifier = Recorder(CAT)
    nodes = [
        graph_node("detect", Recorder(Prediction()), regions=True),
        graph_node("c", classifier, "detect"),
    ]
    (result,) = run_graph(nodes, [Image.new("RGB", (10, 10))])
    assert result["c"].regions == ()
    assert classifier.seen == []


def test_a_detector_on_regions_reports_boxes_in_the_whole_image() -> None:
    inner = Region(top_row=0.0, left_col=0.5, bottom_row=0.5, right_col=1.0, value=0.7)
    nodes = [
        graph_node("outer", Recorder(FOUND), regions=True),
        graph_node("inner", Recorder(Prediction(regions=(inner,))), "outer", regions=True),
    ]
    (result,) = run_graph(nodes, [Image.new("RGB", (100, 100))])
    (passed,) = result["inner"].regions or ()
    assert passed.prediction is not None
    (moved,) = passed.prediction.regions
    assert (moved.top_row, moved.left_col, moved.bottom_row, moved.right_col) == (
        0.5,
        0.25,
        0.75,
        0.5,
    )


def test_inputs_a_node_cannot_take_fail_alone_and_fail_its_children() -> None:
    text_model, child, image_model = Recorder(CAT), Recorder(CAT), Recorder(CAT)
    nodes = [
        graph_node("text", text_model, kind="text"),
        graph_node("child", child, "text", kind="text"),
        graph_node("image", image_model),
    ]
    picture, words = Image.new("RGB", (8, 8)), "a cat"
    by_picture, by_words = run_graph(nodes, [picture, words])
    assert "takes text input" in by_picture["text"].error
    assert "'text' failed" in by_picture["child"].error
    assert by_words["text"].prediction == CAT
    assert "takes image input" in by_words["image"].error
    assert text_model.seen == [[words]] and image_model.seen == [[picture]]


def test_text_models_after_a_text_reader_read_each_region_text() -> None:
    line = Region(0.0, 0.0, 0.1, 1.0, 0.9, text="hello")
    blank = Region(0.2, 0.0, 0.3, 1.0, 0.9)
    text_model = Recorder(CAT)
    nodes = [
        graph_node("ocr", Recorder(Prediction(regions=(line, blank))), regions=True),
        graph_node("words", text_model, "ocr", kind="text"),
    ]
    (result,) = run_graph(nodes, [Image.new("RGB", (10, 10))])
    assert text_model.seen == [["hello"]]
    first, second = result["words"].regions or ()
    assert first.prediction == CAT and second.prediction is None


def test_crop_keeps_at_least_one_pixel() -> None:
    image = Image.new("RGB", (10, 10))
    assert crop(image, Region(1.0, 1.0, 1.0, 1.0, 0.5)).size == (1, 1)
    assert crop(image, Region(0.0, 0.0, 1.0, 1.0, 0.5)).size == (10, 10)
