"""A reader of WordNet 3.0's noun database files (``data.noun``, ``index.noun``), stdlib only.

Used by ``derive_general_concepts.py`` at build time; Clarion never reads WordNet at run time.
The file format is WordNet's ``wndb(5WN)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Pointer symbols that lead to a more general synset: hypernym and instance hypernym.
_HYPERNYM_POINTERS = frozenset({"@", "@i"})


@dataclass(frozen=True, slots=True)
class Synset:
    """One noun synset: its offset (``n`` + 8 digits, as ImageNet names it), lemmas, parents."""

    wnid: str
    lemmas: tuple[str, ...]
    hypernyms: tuple[str, ...]
    gloss: str


class WordNet:
    """The noun synsets and the lemma index of a WordNet 3.0 database directory."""

    def __init__(self, directory: Path) -> None:
        self.synsets = _read_synsets(directory / "data.noun")
        self._senses = _read_index(directory / "index.noun")

    def sense(self, lemma: str, number: int) -> Synset:
        """The ``number``-th (from 1) noun sense of ``lemma``, as ``lemma.n.NN`` names it."""
        offsets = self._senses[lemma.lower().replace(" ", "_")]
        return self.synsets[offsets[number - 1]]

    def ancestors(self, wnid: str) -> set[str]:
        """``wnid`` and every synset above it through hypernym links."""
        seen: set[str] = set()
        pending = [wnid]
        while pending:
            current = pending.pop()
            if current not in seen:
                seen.add(current)
                pending.extend(self.synsets[current].hypernyms)
        return seen


def _read_synsets(path: Path) -> dict[str, Synset]:
    synsets: dict[str, Synset] = {}
    for line in path.read_text("utf-8").splitlines():
        if line.startswith("  "):
            continue  # the licence header
        fields, _, gloss = line.partition(" | ")
        parts = fields.split()
        offset, word_count = parts[0], int(parts[3], 16)
        lemmas = tuple(parts[4 + 2 * i].replace("_", " ") for i in range(word_count))
        cursor = 4 + 2 * word_count
        pointer_count = int(parts[cursor])
        pointers = [parts[cursor + 1 + 4 * i : cursor + 5 + 4 * i] for i in range(pointer_count)]
        hypernyms = tuple(
            f"n{target}"
            for symbol, target, pos, _ in pointers
            if symbol in _HYPERNYM_POINTERS and pos == "n"
        )
        synsets[f"n{offset}"] = Synset(f"n{offset}", lemmas, hypernyms, gloss.strip())
    return synsets


def _read_index(path: Path) -> dict[str, list[str]]:
    senses: dict[str, list[str]] = {}
    for line in path.read_text("utf-8").splitlines():
        if line.startswith("  "):
            continue
        parts = line.split()
        lemma, synset_count, pointer_count = parts[0], int(parts[2]), int(parts[3])
        first = 4 + pointer_count + 2  # past the pointer symbols, sense_cnt and tagsense_cnt
        senses[lemma] = [f"n{offset}" for offset in parts[first : first + synset_count]]
    return senses
