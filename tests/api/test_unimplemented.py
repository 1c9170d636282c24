"""The methods Clarion leaves out: one table names exactly those without a handler, each answers
NOT_IMPLEMENTED saying why and what to use instead, and the README's Methods section says so."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from clarifai_grpc.grpc.api import service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf.message import Message

from clarion.protocol.descriptor import v2_methods
from clarion.protocol.unimplemented import (
    GENERIC_DESCRIPTION,
    README_END,
    README_START,
    RESOURCE_GROUPS,
    UNBUILT,
    description_for,
    methods_section,
    resource_group,
    unbuilt_by_method,
)
from clarion.server.app import implemented_methods
from tests.api.conftest import Api, key_metadata
from tests.api.test_apps_keys import create_app

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def implemented(tmp_path_factory: pytest.TempPathFactory) -> frozenset[str]:
    return implemented_methods(tmp_path_factory.mktemp("registry"))


def test_the_table_names_exactly_the_methods_without_a_handler(
    implemented: frozenset[str],
) -> None:
    tabled = set(unbuilt_by_method())
    without_handler = set(v2_methods()) - implemented

    assert not tabled - set(v2_methods()), "rows naming no V2 method"
    assert not tabled & implemented, "methods with a handler: remove their rows from UNBUILT"
    assert not without_handler - tabled, "methods with no handler and no row in UNBUILT"


def test_each_description_says_why_and_names_an_alternative_or_that_there_is_none() -> None:
    method_names = set(v2_methods())
    for row in UNBUILT:
        assert row.why and row.methods, row.group
        if row.instead is not None:
            named = set(re.findall(r"[A-Z][A-Za-z]+", row.instead)) & method_names
            assert named or "GET /metrics" in row.instead, row.group
        for method in row.methods:
            description = description_for(method)
            assert description != GENERIC_DESCRIPTION.format(method=method)
            assert description.startswith(f"{method} is not implemented by Clarion: {row.why}")
            assert "Instead, " in description or "no alternative" in description, description
    assert len({row.group for row in UNBUILT}) == len(UNBUILT)


def test_a_method_in_no_row_answers_the_generic_sentence() -> None:
    assert description_for("PostNoSuchThing") == GENERIC_DESCRIPTION.format(
        method="PostNoSuchThing"
    )


def test_every_method_has_one_resource_group_and_no_group_is_empty() -> None:
    groups = {resource_group(method) for method in v2_methods()}
    assert groups == {group for group, _ in RESOURCE_GROUPS}
    with pytest.raises(ValueError, match="none of RESOURCE_GROUPS"):
        resource_group("Frobnicate")


def test_the_readme_methods_section_is_what_the_tool_generates(
    implemented: frozenset[str],
) -> None:
    readme = README.read_text("utf-8")
    start, end = readme.index(README_START), readme.index(README_END) + len(README_END) + 1
    expected = methods_section(v2_methods(), implemented)
    assert readme[start:end] == expected, "run: PYTHONPATH=src python tools/methods_section.py"


def test_the_readme_section_counts_and_lists_what_is_left_out() -> None:
    section = methods_section(["GetApp", "ListSecrets", "PostSecrets"], ["GetApp"])
    assert "answers 1 of the 3 methods" in section
    assert "| Apps, duplications, collaborators | 1 of 1 |" in section
    assert "| Secrets | 0 of 2 |" in section
    assert "- **Secrets**: `PostSecrets`, `ListSecrets`. Why: secrets are" in section
    assert "Pipelines" not in section  # nor a group without methods, nor a row without any


def test_the_readme_section_names_methods_left_out_without_a_row() -> None:
    section = methods_section(["GetApp", "ListApps"], ["GetApp"])
    assert "- **Not built yet**: `ListApps`. These answer the generic sentence." in section


@pytest.mark.parametrize(
    "call",
    [
        ("ListSecrets", service_pb2.ListSecretsRequest),
        ("ListPipelines", service_pb2.ListPipelinesRequest),
        ("ListLabelOrders", service_pb2.ListLabelOrdersRequest),
    ],
    ids=lambda call: call[0],
)
def test_a_left_out_method_answers_not_implemented_with_its_reason(
    api: Api, call: tuple[str, type[Message]]
) -> None:
    name, request_type = call
    app = create_app(api).id
    request = request_type()
    request.user_app_id.app_id = app  # type: ignore[attr-defined]

    response = getattr(api.stub, name)(request, metadata=api.pat)

    assert response.status.code == status_code_pb2.NOT_IMPLEMENTED, response.status
    assert response.status.description == description_for(name)
    assert response.status.req_id


def test_a_left_out_method_still_refuses_a_bad_key_first(api: Api) -> None:
    response = api.stub.ListSecrets(
        service_pb2.ListSecretsRequest(), metadata=key_metadata("not-a-real-key")
    )
    assert response.status.code == status_code_pb2.CONN_KEY_INVALID, response.status
