"""Search index errors. Shape and value mistakes are ``ValueError``s, as numpy raises them."""

from __future__ import annotations


class SearchIndexError(Exception):
    """A vector index operation failed."""


class IndexFormatError(SearchIndexError):
    """A saved index is missing, unreadable, or written by an incompatible version.

    The caller's remedy is to rebuild the index from the vectors in the database.
    """
