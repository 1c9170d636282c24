"""Clarifai's patch actions in one place: which ones a method takes, and what each does.

Every ``Patch*`` request carries an ``action``. ``overwrite`` replaces what it names;
``merge`` merges objects key by key (nested objects too) and adds or replaces list items by
id; ``remove`` takes out the keys (nested keys, where the patch nests them) or the list items
by id that the patch names. Methods differ only in which actions they take and which one an
empty ``action`` means.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal, TypeVar, cast

from clarion.errors import InvalidArgument

Action = Literal["merge", "overwrite", "remove"]
EVERY_ACTION: Final[tuple[Action, ...]] = ("merge", "overwrite", "remove")

T = TypeVar("T")


def patch_action(
    given: str, *, default: Action, allowed: Sequence[Action] = EVERY_ACTION
) -> Action:
    """The request's action (``default`` when empty), or ``InvalidArgument`` naming the choices."""
    action = given or default
    if action not in allowed:
        choices = " or ".join(", ".join(allowed).rsplit(", ", 1))
        raise InvalidArgument(f"Unknown action '{given}': use {choices}")
    return cast(Action, action)


def patched_metadata(
    current: Mapping[str, Any], patch: Mapping[str, Any], action: Action
) -> dict[str, Any]:
    """JSON metadata after ``action`` with ``patch``."""
    if action == "overwrite":
        return dict(patch)
    if action == "remove":
        return without(current, patch)
    return deep_merge(current, patch)


def patched_by_id(
    current: Sequence[T], given: Sequence[T], action: Action, id_of: Callable[[T], str]
) -> list[T]:
    """A list of items with ids (concepts, regions) after ``action`` with ``given``."""
    if action == "overwrite":
        return list(given)
    given_ids = {id_of(item) for item in given}
    kept = [item for item in current if id_of(item) not in given_ids]
    return kept if action == "remove" else kept + list(given)


def deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Objects merge key by key; anything else in ``patch`` replaces what ``base`` had."""
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def without(current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``current`` without the keys ``patch`` names; nested objects name nested keys."""
    kept = {}
    for key, value in current.items():
        if key not in patch:
            kept[key] = value
        elif isinstance(value, Mapping) and isinstance(patch[key], Mapping) and patch[key]:
            kept[key] = without(value, patch[key])
    return kept
