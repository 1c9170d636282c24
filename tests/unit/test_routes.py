from __future__ import annotations

import pytest

from clarion.protocol.descriptor import AuthType, v2_methods
from clarion.protocol.routes import RouteTable, parse_template
from tests.api.test_completeness import sample_path

TABLE = RouteTable(v2_methods().values())
# The descriptor binds PatchRunners to PostRunners' very verb and path, so HTTP cannot tell
# them apart; PostRunners (whose name agrees with POST) keeps it.
UNREACHABLE_OVER_HTTP = {"PatchRunners"}


def test_descriptor_has_273_methods_with_auth_types() -> None:
    methods = v2_methods()
    assert len(methods) == 273
    assert methods["PostApps"].auth_type is AuthType.PAT_AUTH
    assert methods["GetApp"].auth_type is AuthType.KEY_AUTH
    assert methods["ListStatusCodes"].auth_type is AuthType.NO_AUTH
    assert methods["PostModelOutputs"].scopes >= {"Predict", "Models_Get"}


def test_every_binding_is_in_the_table() -> None:
    assert len(TABLE.routes) == sum(len(m.bindings) for m in v2_methods().values())


def test_every_method_but_descriptor_clashes_is_reachable_over_http() -> None:
    reachable = {
        route.method.name
        for route in TABLE.routes
        if TABLE.match(route.binding.verb, sample_path(route.binding.template)).method  # type: ignore[union-attr]
        is route.method
    }
    assert set(v2_methods()) - reachable == UNREACHABLE_OVER_HTTP


@pytest.mark.parametrize(
    ("verb", "path", "method", "params"),
    [
        pytest.param(
            "GET",
            "/v2/users/me/apps/main/inputs/status",
            "GetInputCount",
            {("user_app_id", "user_id"): "me", ("user_app_id", "app_id"): "main"},
            id="literal-beats-variable",
        ),
        pytest.param(
            "GET",
            "/v2/users/me/apps/main/inputs/abc",
            "GetInput",
            {
                ("user_app_id", "user_id"): "me",
                ("user_app_id", "app_id"): "main",
                ("input_id",): "abc",
            },
            id="variable",
        ),
        pytest.param("GET", "/v2/inputs/abc", "GetInput", {("input_id",): "abc"}, id="legacy"),
        pytest.param("GET", "/v2/users/me/apps/", "ListApps", None, id="trailing-slash"),
        pytest.param("GET", "/v2/pipelines", "ListPipelines", None, id="verb-agrees-with-name"),
        pytest.param(
            "POST",
            "/v2/users/clarifai/apps/main/models/general/versions/v1/outputs",
            "PostModelOutputs",
            None,
            id="model-version-outputs",
        ),
    ],
)
def test_match(
    verb: str, path: str, method: str, params: dict[tuple[str, ...], str] | None
) -> None:
    match = TABLE.match(verb, path)
    assert match is not None
    assert match.method.name == method
    if params is not None:
        assert match.path_params == params


def test_unknown_path_and_wrong_verb() -> None:
    assert TABLE.match("GET", "/v2/nothing/here") is None
    assert TABLE.verbs_for("/v2/nothing/here") == set()
    assert TABLE.match("PUT", "/v2/users/me/apps") is None
    assert TABLE.verbs_for("/v2/users/me/apps") == {"GET", "POST", "PATCH"}


def test_empty_segment_does_not_fill_a_variable() -> None:
    assert TABLE.match("GET", "/v2/users//apps/x") is None


def test_parse_template_splits_dotted_variables() -> None:
    assert parse_template("/v2/users/{user_app_id.user_id}/apps") == (
        "v2",
        "users",
        ("user_app_id", "user_id"),
        "apps",
    )


def _paths_near_every_template() -> list[str]:
    """Each template filled with a plain value, and with every literal some other template
    has at that place (so literal and variable edges both get walked), and with a blank."""
    literals_at: dict[tuple[int, int], set[str]] = {}
    for route in TABLE.routes:
        for place, segment in enumerate(route.segments):
            if isinstance(segment, str):
                literals_at.setdefault((len(route.segments), place), set()).add(segment)
    paths = set()
    for route in TABLE.routes:
        width = len(route.segments)
        plain = [s if isinstance(s, str) else "x" for s in route.segments]
        paths.add("/" + "/".join(plain))
        for place, segment in enumerate(route.segments):
            for other in [*literals_at.get((width, place), ()), ""]:
                if not isinstance(segment, str) or other == "":
                    paths.add("/" + "/".join([*plain[:place], other, *plain[place + 1 :]]))
    return sorted(paths)


def _best_by_scanning_every_template(verb: str, path: str) -> tuple[int, dict[str, str]] | None:
    """The route ``match`` should pick, found by trying every template in turn."""
    parts = path.strip("/").split("/")
    fitting = [
        (route, params)
        for route in TABLE.routes
        if route.binding.verb == verb and len(route.segments) == len(parts)
        if (params := route.bind(parts)) is not None
    ]
    if not fitting:
        return None
    route, params = max(fitting, key=lambda pair: pair[0].rank)
    return route.order, {".".join(k): v for k, v in params.items()}


def test_the_route_index_picks_what_a_scan_of_every_template_picks() -> None:
    paths = _paths_near_every_template()
    assert len(paths) > 1000
    for path in paths:
        for verb in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            match = TABLE.match(verb, path)
            found = None
            if match is not None:
                found = match.route.order, {".".join(k): v for k, v in match.path_params.items()}
            assert found == _best_by_scanning_every_template(verb, path), (verb, path)
