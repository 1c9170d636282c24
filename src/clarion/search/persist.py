"""Reading saved indexes: the manifest first, to decide between loading and rebuilding."""

from __future__ import annotations

from pathlib import Path

from clarion.search._snapshot import read_manifest
from clarion.search.ann import HnswIndex, HnswParams
from clarion.search.errors import IndexFormatError
from clarion.search.exact import ExactIndex

__all__ = ["load_index", "read_manifest"]


def load_index(
    directory: str | Path, *, params: HnswParams | None = None
) -> ExactIndex | HnswIndex:
    """The index saved in ``directory``, of whichever kind its manifest names.

    ``params`` replaces an HNSW index's saved search settings. Raises ``IndexFormatError`` if
    nothing was saved there or the files are unreadable; the remedy is to rebuild.
    """
    manifest = read_manifest(directory)
    if manifest is None:
        raise IndexFormatError(f"no saved index in {directory}")
    if manifest.kind == ExactIndex.kind:
        return ExactIndex.load(directory)
    if manifest.kind == HnswIndex.kind:
        return HnswIndex.load(directory, params)
    raise IndexFormatError(f"{directory} holds an index of unknown kind {manifest.kind!r}")
