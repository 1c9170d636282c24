from __future__ import annotations

import pytest

from clarion.errors import InvalidArgument
from clarion.services.base import check_id, is_valid_id


@pytest.mark.parametrize("value", ["a", "my-app_2", "x" * 64])
def test_valid_ids(value: str) -> None:
    assert is_valid_id(value)
    assert check_id("app", value) == value


@pytest.mark.parametrize("value", ["", "x" * 65, "a b", "a/b", "abc\n", "é"])
def test_invalid_ids(value: str) -> None:
    assert not is_valid_id(value)
    with pytest.raises(InvalidArgument, match="Invalid app id"):
        check_id("app", value)
