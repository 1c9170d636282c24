"""From a request message to an HTTP verb, URL and body, as the official JSON channel does it.

Each method's ``google.api.http`` bindings (primary rule first, then ``additional_bindings``)
are candidate URL templates. A template is usable when every placeholder gets a non-empty
value; the one filling the most placeholders wins, ties going to the earlier binding
(PROTOCOL.md §2.1). Placeholders ending in ``app_id``/``user_id`` come from the first
``user_app_id`` in the request (or a lone entry of ``apps``), ``user_id`` defaulting to
``me``. Other placeholders take the field at their dotted path, falling back to the top-level
field named like their last segment, which is all the official channel looks at.

A placeholder's top-level field leaves the body; ``user_app_id`` stays in it (or in the query
string for GET), as the official channel leaves it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from clarion.protocol.descriptor import MethodSpec

_PLACEHOLDER = re.compile(r"\{([^}]*)\}")


@dataclass(frozen=True, slots=True)
class HttpCall:
    """One HTTP request for one RPC: GET carries ``params``, other verbs ``body``."""

    verb: str
    url: str
    params: tuple[tuple[str, str], ...]
    body: dict[str, Any] | None


class RoutingError(ValueError):
    """No binding of the method can be filled from the request."""


def http_call(base_url: str, method: MethodSpec, data: Mapping[str, Any]) -> HttpCall:
    """The HTTP request for ``method`` with the request's JSON object ``data``."""
    verb, path, used = pick_binding(method, data)
    remaining = {key: value for key, value in data.items() if key not in used}
    url = base_url.rstrip("/") + path
    if verb == "GET":
        return HttpCall(verb, url, tuple(get_params(remaining)), None)
    # DELETE carries a JSON body too, as the official channel sends it.
    return HttpCall(verb, url, (), remaining)


def pick_binding(method: MethodSpec, data: Mapping[str, Any]) -> tuple[str, str, list[str]]:
    """(verb, filled path, placeholder names) of the binding that fills the most placeholders."""
    app_id, user_id = read_app_info(data) or ("", "")
    best: tuple[str, str, list[str]] | None = None
    best_count = -1
    for binding in method.bindings:
        names = _PLACEHOLDER.findall(binding.template)
        values = [_placeholder_value(name, data, app_id, user_id) for name in names]
        if not all(values):
            continue
        if len(names) > best_count:
            path = binding.template
            for name, value in zip(names, values, strict=True):
                path = path.replace("{" + name + "}", quote(value, safe=""))
            best, best_count = (binding.verb, path, names), len(names)
    if best is None:
        wanted = sorted({n for b in method.bindings for n in _PLACEHOLDER.findall(b.template)})
        raise RoutingError(f"{method.name} needs one of these fields set: {', '.join(wanted)}")
    return best


def read_app_info(data: object) -> tuple[str, str] | None:
    """(app_id, user_id) from the first ``user_app_id`` or lone ``apps`` entry, depth first."""
    if isinstance(data, list):
        for item in data:
            found = read_app_info(item)
            if found:
                return found
    elif isinstance(data, dict):
        for key, value in data.items():
            if key == "user_app_id" and isinstance(value, dict):
                return str(value.get("app_id", "")), str(value.get("user_id", "") or "me")
            if key == "apps" and isinstance(value, list):
                if len(value) != 1 or not isinstance(value[0], dict):
                    return None
                return str(value[0].get("id", "")), str(value[0].get("user_id", "") or "me")
            if key == "metadata":
                continue  # user data: a key called user_app_id there means nothing
            found = read_app_info(value)
            if found:
                return found
    return None


def _placeholder_value(name: str, data: Mapping[str, Any], app_id: str, user_id: str) -> str:
    last = name.split(".")[-1]
    if last == "app_id":
        return app_id
    if last == "user_id":
        return user_id or "me"
    value = _at_path(data, name.split("."))
    if value in (None, ""):
        value = data.get(last)
    return "" if value is None or isinstance(value, dict | list) else _text(value)


def _at_path(data: Mapping[str, Any], path: Sequence[str]) -> object:
    current: object = data
    for name in path:
        if not isinstance(current, dict):
            return None
        current = current.get(name)
    return current


def get_params(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Query parameters: nested objects as dotted keys, repeated fields as repeated keys."""
    params: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            params += get_params(value, f"{name}.")
        elif isinstance(value, list):
            if any(isinstance(item, dict | list) for item in value):
                raise RoutingError(f"'{name}' holds messages, which a GET query cannot carry")
            params += [(name, _text(item)) for item in value]
        else:
            params.append((name, _text(value)))
    return params


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
