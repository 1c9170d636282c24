from __future__ import annotations

from clarion import errors


def test_codes_map_to_the_most_general_class() -> None:
    assert errors.error_class_for_code(11101) is errors.NotFound
    assert errors.error_class_for_code(11008) is errors.Unauthenticated
    assert errors.error_class_for_code(12345) is errors.ApiError


def test_http_statuses() -> None:
    assert errors.http_status_for_code(10000) == 200
    assert errors.http_status_for_code(11008) == 401
    assert errors.http_status_for_code(11101) == 404
    assert errors.http_status_for_code(40033) == 413
    assert errors.http_status_for_code(98004) == 500
    assert errors.http_status_for_code(30104) == 400


def test_not_found_builds_its_message() -> None:
    error = errors.NotFound("app", "pets")
    assert error.description == "app 'pets' does not exist"
    assert (error.resource, error.resource_id) == ("app", "pets")
