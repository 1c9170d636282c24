"""The HTTP route table, built from every ``google.api.http`` binding of every V2 method.

A path matches a template segment by segment. When several templates match (``/inputs/status``
and ``/inputs/{input_id}``), the one with a literal segment at the first place they differ wins,
so fixed paths beat variables. The descriptor also gives a few methods the very same verb and
template (``ListPipelines`` and ``PostPipelines`` both bind ``GET /v2/pipelines``); there a unary
method beats a streaming one, then a method whose name agrees with the verb (List/Get for GET,
Post for POST, ...), then the earlier binding.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from clarion.protocol.descriptor import HttpBinding, MethodSpec

_NAME_PREFIXES = {
    "GET": ("Get", "List", "Stream"),
    "POST": ("Post",),
    "PATCH": ("Patch",),
    "PUT": ("Put",),
    "DELETE": ("Delete",),
}


@dataclass(frozen=True, slots=True)
class Route:
    """One binding of one method, with its template split into segments."""

    method: MethodSpec
    binding: HttpBinding
    # A literal segment is a str; a variable is the tuple of its dotted field path.
    segments: tuple[str | tuple[str, ...], ...]
    order: int

    @property
    def rank(self) -> tuple[object, ...]:
        """Higher wins among the routes matching one verb and path."""
        specificity = tuple(1 if isinstance(segment, str) else 0 for segment in self.segments)
        unary = not self.method.streaming
        verb_agrees = self.method.name.startswith(_NAME_PREFIXES[self.binding.verb])
        return (specificity, unary, verb_agrees, -self.order)

    def bind(self, parts: Sequence[str]) -> dict[tuple[str, ...], str] | None:
        """The path variables if ``parts`` fits this template, else None."""
        values: dict[tuple[str, ...], str] = {}
        for segment, part in zip(self.segments, parts, strict=True):
            if isinstance(segment, str):
                if segment != part:
                    return None
            elif part == "":
                return None
            else:
                values[segment] = part
        return values


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: Route
    path_params: dict[tuple[str, ...], str]

    @property
    def method(self) -> MethodSpec:
        return self.route.method


class RouteTable:
    """Finds the V2 method and path parameters for an HTTP verb and path."""

    def __init__(self, methods: Iterable[MethodSpec]) -> None:
        self._root = _Node()
        self.routes: list[Route] = []
        for method in methods:
            for binding in method.bindings:
                route = Route(method, binding, parse_template(binding.template), len(self.routes))
                self.routes.append(route)
                self._root.add(route)

    def match(self, verb: str, path: str) -> RouteMatch | None:
        """The best route for ``verb`` and ``path``, or None when no route has this verb."""
        matches = [m for m in self._matches(path) if m.route.binding.verb == verb]
        if not matches:
            return None
        return max(matches, key=lambda m: m.route.rank)

    def verbs_for(self, path: str) -> set[str]:
        """The verbs some route accepts at ``path`` (empty when the path is unknown)."""
        return {m.route.binding.verb for m in self._matches(path)}

    def _matches(self, path: str) -> list[RouteMatch]:
        parts = split_path(path)
        found = []
        for route in self._root.fitting(parts, 0):
            params = route.bind(parts)
            if params is not None:
                found.append(RouteMatch(route, params))
        return found


class _Node:
    """The routes by their segments: a tree whose edges are literals and "any variable".

    A path walks down only the edges it fits, so a match looks at a handful of templates:
    trying all 60 templates of a path's length, one by one, took 90 µs a request.
    """

    __slots__ = ("literals", "routes", "variable")

    def __init__(self) -> None:
        self.literals: dict[str, _Node] = {}
        self.variable: _Node | None = None
        self.routes: list[Route] = []  # those whose template ends here

    def add(self, route: Route) -> None:
        node = self
        for segment in route.segments:
            if isinstance(segment, str):
                node = node.literals.setdefault(segment, _Node())
            else:
                node.variable = node.variable or _Node()
                node = node.variable
        node.routes.append(route)

    def fitting(self, parts: Sequence[str], index: int) -> Iterator[Route]:
        """The routes below this node whose templates fit ``parts[index:]``."""
        if index == len(parts):
            yield from self.routes
            return
        literal = self.literals.get(parts[index])
        if literal is not None:
            yield from literal.fitting(parts, index + 1)
        if self.variable is not None and parts[index] != "":
            yield from self.variable.fitting(parts, index + 1)


def split_path(path: str) -> list[str]:
    """``/v2/apps/`` and ``/v2/apps`` are the same path."""
    return path.strip("/").split("/")


def parse_template(template: str) -> tuple[str | tuple[str, ...], ...]:
    """``/v2/users/{user_app_id.user_id}/apps`` -> v2, users, (user_app_id, user_id), apps."""
    segments: list[str | tuple[str, ...]] = []
    for part in split_path(template):
        if part.startswith("{") and part.endswith("}"):
            segments.append(tuple(part[1:-1].split(".")))
        else:
            segments.append(part)
    return tuple(segments)
