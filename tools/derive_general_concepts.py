"""Derive ``general-image-recognition``'s vocabulary from WordNet 3.0 and ImageNet's classes.

Run once when the tables change; the result is checked in as package data, so Clarion never
reads WordNet (or anything else) at run time::

    apt-get install wordnet-base          # WordNet 3.0, /usr/share/wordnet
    pip download --no-deps timm==1.0.31   # its imagenet_synsets.txt: the 1,000 class wnids
    python tools/derive_general_concepts.py --timm-wheel timm-1.0.31-py3-none-any.whl

Each ImageNet-1k class is a WordNet noun synset (its id ``nXXXXXXXX`` is the synset's
offset). A general concept covers the classes at or under its synsets
(``general_concepts_spec.HYPERNYM_CONCEPTS``) and the classes a curated rule says imply it
(``CONTEXT_CONCEPTS``); at run time its value is the summed probability of those classes.
A concept, or a class, whose name Clarifai's general model has
(``clarifai_general_concepts.tsv``) gets Clarifai's id; another concept gets
``clarion-<name>``, a class keeps ``imagenet-NNNN``. A class named as a general concept is
not listed on its own: the concept covers it.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import zipfile
from collections import defaultdict
from pathlib import Path

from general_concepts_spec import CONTEXT_CONCEPTS, HYPERNYM_CONCEPTS
from wordnet import Synset, WordNet

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "src/clarion/inference/data"
_SYNSETS_IN_WHEEL = "timm/data/_info/imagenet_synsets.txt"
# Clarifai names that match an ImageNet class's name but mean something else there.
_HOMONYMS = frozenset({"iron", "fly", "wing"})
# Concepts about people that faces decide; "people" itself is a general concept (person.n.01).
_FACE_CONCEPTS = ("portrait", "no person")


def main() -> None:
    arguments = _arguments()
    wordnet = WordNet(arguments.wordnet)
    wnids = _imagenet_wnids(arguments.timm_wheel)
    names = json.loads((DATA / "imagenet_labels.json").read_text("utf-8"))
    clarifai = _clarifai_ids(arguments.clarifai)
    table = derive(wordnet, wnids, names, clarifai)
    arguments.output.write_text(_dumps(table), "utf-8")
    print(f"{len(table['concepts'])} general concepts, {len(table['classes'])} classes")


def derive(
    wordnet: WordNet, wnids: list[str], names: list[str], clarifai: dict[str, str]
) -> dict[str, object]:
    """The table: each class (wnid, id, name, listed) and each general concept's classes."""
    ancestors = [wordnet.ancestors(wnid) for wnid in wnids]
    covered: dict[str, set[int]] = defaultdict(set)
    for name, senses in HYPERNYM_CONCEPTS.items():
        for sense in senses:
            covered[name] |= _classes_under(_synset(wordnet, sense), ancestors)
    for sense, implied in CONTEXT_CONCEPTS.items():
        classes = _classes_under(_synset(wordnet, sense), ancestors)
        for name in implied:
            covered[name] |= classes
    concepts = [
        {"id": clarifai.get(name) or _own_id(name), "name": name, "classes": sorted(classes)}
        for name, classes in sorted(covered.items())
    ]
    return {
        "sources": {
            "wordnet": "WordNet 3.0, Debian wordnet-base (LICENSE-WordNet beside this file)",
            "classes": "ImageNet-1k wnids in model output order, timm's imagenet_synsets.txt",
            "clarifai_ids": "Clarifai's general model responses, clarifai_general_concepts.tsv",
        },
        "classes": [_class_entry(i, wnids[i], names[i], covered, clarifai) for i in range(1000)],
        "concepts": concepts,
        # Decided by the face detector where Clarion runs it beside the general model.
        "face_concepts": [{"id": clarifai[name], "name": name} for name in _FACE_CONCEPTS],
    }


def _dumps(table: dict[str, object]) -> str:
    """JSON with one class or concept a line: small, and a change reads well in a diff."""
    lines = ["{"]
    for position, (key, value) in enumerate(table.items()):
        comma = "," if position < len(table) - 1 else ""
        if isinstance(value, list):
            rows = ",\n".join("  " + json.dumps(row, ensure_ascii=False) for row in value)
            lines.append(f" {json.dumps(key)}: [\n{rows}\n ]{comma}")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{comma}")
    return "\n".join(lines) + "\n}\n"


def _class_entry(
    index: int, wnid: str, name: str, covered: dict[str, set[int]], clarifai: dict[str, str]
) -> dict[str, object]:
    key = name.lower()
    if key in covered:
        if index not in covered[key]:
            raise SystemExit(f"class {name!r} is named as a concept that does not cover it")
        return {"wnid": wnid, "id": "", "name": name, "listed": False}
    if key in clarifai and key not in _HOMONYMS:
        return {"wnid": wnid, "id": clarifai[key], "name": key, "listed": True}
    return {"wnid": wnid, "id": f"imagenet-{index:04d}", "name": name, "listed": True}


def _classes_under(synset: Synset, ancestors: list[set[str]]) -> set[int]:
    found = {index for index, above in enumerate(ancestors) if synset.wnid in above}
    if not found:
        raise SystemExit(f"no ImageNet class is at or under {synset.lemmas}")
    return found


def _synset(wordnet: WordNet, sense: str) -> Synset:
    lemma, _, number = sense.rpartition(".")
    return wordnet.sense(lemma, int(number))


def _own_id(name: str) -> str:
    return "clarion-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _clarifai_ids(path: Path) -> dict[str, str]:
    """Name (lower case) to Clarifai id; a name seen with two ids takes the more common one."""
    best: dict[str, tuple[int, str]] = {}
    with path.open(encoding="utf-8") as stream:
        for row in csv.DictReader(stream, delimiter="\t"):
            name, count = row["name"].lower(), int(row["source_count"])
            if name not in best or count > best[name][0]:
                best[name] = (count, row["id"])
    return {name: concept_id for name, (_, concept_id) in best.items()}


def _imagenet_wnids(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        wnids = archive.read(_SYNSETS_IN_WHEEL).decode().split()
    if len(wnids) != 1000 or wnids != sorted(wnids):
        raise SystemExit("expected ImageNet-1k's 1,000 wnids in sorted (output) order")
    return wnids


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timm-wheel", type=Path, required=True)
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    parser.add_argument(
        "--clarifai", type=Path, default=ROOT / "tools/clarifai_general_concepts.tsv"
    )
    parser.add_argument("--output", type=Path, default=DATA / "general_concepts.json")
    return parser.parse_args()


if __name__ == "__main__":
    main()
