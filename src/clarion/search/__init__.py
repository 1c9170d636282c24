"""Vector indexes: one per app and embedding space, searched by cosine similarity.

Public API:

- values and the protocol (``base``): ``VectorIndex``, ``Hit``, ``Manifest``, and the type
  aliases ``Keys``, ``KeyArray``, ``AllowedKeys``, ``Generation``;
- the indexes: ``ExactIndex`` (numpy, the reference), ``HnswIndex`` with ``HnswParams``
  (faiss HNSW), ``AdaptiveIndex`` (exact below ``DEFAULT_THRESHOLD`` vectors, HNSW above);
- persistence (``persist``): ``read_manifest`` to decide between loading and rebuilding,
  ``load_index`` to load whichever kind was saved;
- errors: ``SearchIndexError``, ``IndexFormatError`` (a saved index to rebuild).

Keys are integers (input primary keys); vectors are float32 and L2-normalised by the caller;
scores are cosine similarities clipped to [0, 1]. Importing this package does not import
faiss, which comes with the ``hnsw`` extra (``hnsw_available``, ``HNSW_INSTALL_HINT``):
``HnswIndex`` raises ``clarion.errors.Unavailable`` with the install command when it is
missing, and ``AdaptiveIndex`` then stays exact.
"""

from __future__ import annotations

from clarion.search._faiss import INSTALL_HINT as HNSW_INSTALL_HINT, available as hnsw_available
from clarion.search.adaptive import DEFAULT_THRESHOLD, AdaptiveIndex
from clarion.search.ann import HnswIndex, HnswParams
from clarion.search.base import (
    FORMAT_VERSION,
    AllowedKeys,
    Generation,
    Hit,
    KeyArray,
    Keys,
    Manifest,
    VectorIndex,
)
from clarion.search.errors import IndexFormatError, SearchIndexError
from clarion.search.exact import ExactIndex
from clarion.search.persist import load_index, read_manifest

__all__ = [
    "DEFAULT_THRESHOLD",
    "FORMAT_VERSION",
    "HNSW_INSTALL_HINT",
    "AdaptiveIndex",
    "AllowedKeys",
    "ExactIndex",
    "Generation",
    "Hit",
    "HnswIndex",
    "HnswParams",
    "IndexFormatError",
    "KeyArray",
    "Keys",
    "Manifest",
    "SearchIndexError",
    "VectorIndex",
    "hnsw_available",
    "load_index",
    "read_manifest",
]
