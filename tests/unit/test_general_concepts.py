"""The general vocabulary over ImageNet's classes: what each concept sums, and its ids."""

from __future__ import annotations

import csv
import importlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clarion.inference.base import Region
from clarion.inference.general_concepts import GeneralVocabulary, general_vocabulary

TOOLS = Path(__file__).resolve().parents[2] / "tools"
WORDNET = Path("/usr/share/wordnet")


def packaged(resource: str) -> Any:
    text = resources.files("clarion.inference").joinpath(resource).read_text("utf-8")
    return json.loads(text)


def class_index(name: str) -> int:
    classes = packaged("data/general_concepts.json")["classes"]
    return next(index for index, entry in enumerate(classes) if entry["name"] == name)


def values_for(vocabulary: GeneralVocabulary, class_name: str) -> dict[str, float]:
    """The vocabulary's values, by name, for an image that is surely of one class."""
    probabilities = np.zeros((1, 1000), dtype=np.float32)
    probabilities[0, class_index(class_name)] = 1.0
    row = vocabulary.scores(probabilities)[0]
    return {c.name: float(v) for c, v in zip(vocabulary.concepts, row, strict=True)}


def test_a_dog_breed_is_a_dog_a_canine_a_mammal_an_animal_and_a_pet() -> None:
    values = values_for(general_vocabulary(), "malamute")

    assert {name for name, value in values.items() if value == 1.0} == {
        "malamute",
        "dog",
        "canine",
        "mammal",
        "animal",
        "pet",
        "domestic",
    }
    assert values["cat"] == values["vehicle"] == values["water"] == 0.0


def test_a_seashore_implies_water_beach_and_travel_beyond_its_hypernyms() -> None:
    values = values_for(general_vocabulary(), "seashore")

    for implied in ("water", "beach", "sea", "sand", "outdoors", "nature", "travel", "landscape"):
        assert values[implied] == 1.0, implied
    assert values["indoors"] == values["animal"] == 0.0


def test_furniture_implies_indoors_and_vehicles_a_transportation_system() -> None:
    desk = values_for(general_vocabulary(), "desk")
    cab = values_for(general_vocabulary(), "cab")

    assert desk["furniture"] == desk["indoors"] == desk["office"] == 1.0
    assert cab["car"] == cab["vehicle"] == cab["transportation system"] == 1.0
    assert cab["indoors"] == 0.0


def test_values_are_probabilities_summed_over_disjoint_classes() -> None:
    vocabulary = general_vocabulary()
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.full(1000, 0.05), size=4).astype(np.float32)

    scores = vocabulary.scores(probabilities)

    assert scores.shape == (4, len(vocabulary.concepts))
    assert (scores >= 0).all() and (scores <= 1).all()
    animal = [c.name for c in vocabulary.concepts].index("animal")
    dog = [c.name for c in vocabulary.concepts].index("dog")
    assert (scores[:, animal] >= scores[:, dog]).all()  # every dog is an animal


def test_ids_are_unique_and_clarifais_where_clarifai_has_the_name() -> None:
    vocabulary = general_vocabulary()
    with (TOOLS / "clarifai_general_concepts.tsv").open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream, delimiter="\t"))
    clarifai_ids = {row["id"]: row["name"].lower() for row in rows}

    ids = [c.id for c in vocabulary.concepts]
    assert len(ids) == len(set(ids))
    for concept in vocabulary.concepts:
        if concept.id.startswith("ai_"):
            assert clarifai_ids[concept.id] == concept.name
    general = {c.name: c.id for c in vocabulary.general_concepts}
    assert general["dog"] == "ai_8S2Vq3cR" and general["cat"] == "ai_mFqxrph2"
    assert general["reptile"] == "clarion-reptile"  # a name Clarifai's list lacks
    assert len(vocabulary.concepts) - len(general) == 998  # "church", "mushroom" are general


@pytest.mark.skipif(
    not (WORDNET / "data.noun").is_file(),
    reason="WordNet 3.0 derives the table: apt-get install wordnet-base",
)
def test_the_packaged_table_is_what_the_tool_derives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(TOOLS))
    tool = importlib.import_module("derive_general_concepts")
    wordnet = importlib.import_module("wordnet")
    table = packaged("data/general_concepts.json")
    wnids = [entry["wnid"] for entry in table["classes"]]  # timm's list, as the tool read it
    names = packaged("data/imagenet_labels.json")
    clarifai = tool._clarifai_ids(TOOLS / "clarifai_general_concepts.tsv")

    assert tool.derive(wordnet.WordNet(WORDNET), wnids, names, clarifai) == table


def face(value: float, height: float) -> Region:
    return Region(top_row=0.1, left_col=0.1, bottom_row=0.1 + height, right_col=0.5, value=value)


def test_faces_decide_people_portrait_and_no_person() -> None:
    vocabulary = general_vocabulary().with_faces()
    names = [c.name for c in vocabulary.concepts]
    probabilities = np.zeros((3, 1000), dtype=np.float32)
    probabilities[:, class_index("malamute")] = 0.9
    probabilities[2, class_index("malamute")] = 0.5
    probabilities[2, class_index("scuba diver")] = 0.4  # a person class: people 0.4

    scores = vocabulary.scores(probabilities, [[face(0.99, 0.5)], [], [face(0.8, 0.05)]])

    def value(row: int, name: str) -> float:
        return float(scores[row, names.index(name)])

    assert names[-2:] == ["portrait", "no person"]
    assert value(0, "people") == pytest.approx(0.99) and value(0, "portrait") == pytest.approx(0.99)
    assert value(0, "no person") == pytest.approx(0.01, abs=1e-6)
    assert (value(1, "people"), value(1, "portrait"), value(1, "no person")) == (0.0, 0.0, 1.0)
    # A small face: people, but hardly a portrait; the person class alone said less.
    assert value(2, "people") == pytest.approx(0.8)
    assert value(2, "portrait") == pytest.approx(0.8 * 0.05 / 0.25)
    assert value(2, "dog") == pytest.approx(0.5)


def test_without_faces_nothing_is_said_about_portraits_or_no_person() -> None:
    vocabulary = general_vocabulary()

    assert {"portrait", "no person"}.isdisjoint(c.name for c in vocabulary.concepts)
    with pytest.raises(ValueError, match="faces for 0 of 1 images"):
        vocabulary.with_faces().scores(np.zeros((1, 1000), dtype=np.float32))
