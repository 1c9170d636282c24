from __future__ import annotations

import random
import subprocess
import sys
import textwrap

import pytest

from clarion.errors import InvalidArgument
from clarion.services.base import check_id, is_valid_id
from clarion.services.messages.values import response_id


@pytest.mark.parametrize("value", ["a", "my-app_2", "x" * 64])
def test_valid_ids(value: str) -> None:
    assert is_valid_id(value)
    assert check_id("app", value) == value


@pytest.mark.parametrize("value", ["", "x" * 65, "a b", "a/b", "abc\n", "é"])
def test_invalid_ids(value: str) -> None:
    assert not is_valid_id(value)
    with pytest.raises(InvalidArgument, match="Invalid app id"):
        check_id("app", value)


def test_response_ids_are_32_hex_digits_and_do_not_repeat_when_random_is_seeded() -> None:
    random.seed(1)
    first = response_id()
    random.seed(1)
    second = response_id()
    assert first != second
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in (first, second))


def test_a_forked_child_makes_other_response_ids_than_its_parent() -> None:
    script = textwrap.dedent(
        """
        import os
        from clarion.services.messages.values import response_id
        read, write = os.pipe()
        if os.fork() == 0:
            os.write(write, response_id().encode())
            os._exit(0)
        os.wait()
        print(os.read(read, 64).decode(), response_id())
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    child, parent = out.stdout.split()
    assert child != parent
