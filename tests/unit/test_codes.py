"""Clarion's status codes are Clarifai's: each name in ``clarion.codes`` has its value in the
pinned ``status_code_pb2``."""

from __future__ import annotations

import pytest
from clarifai_grpc.grpc.api.status import status_code_pb2

from clarion import codes

DECLARED = {
    name: value
    for name, value in vars(codes).items()
    if name.isupper() and not name.startswith("_")
}


def test_a_code_is_named_as_clarifai_names_it() -> None:
    assert codes.name_of(21111) == "MODEL_TRAINING_NO_POSITIVES"
    assert codes.name_of(12345) == "12345"


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_each_code_is_clarifais_under_the_same_name(name: str) -> None:
    assert status_code_pb2.StatusCode.Value(name) == DECLARED[name]
