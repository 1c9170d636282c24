"""Which request bodies the HTTP gateway turns into messages on the event loop."""

from __future__ import annotations

from clarion.server.http import _PARSE_ON_LOOP_VALUES, _has_few_values


def test_a_one_image_predict_body_has_few_values() -> None:
    body = {"inputs": [{"data": {"image": {"base64": "A" * 200_000}}}]}
    assert _has_few_values(body)


def test_values_are_counted_at_every_depth_up_to_the_limit() -> None:
    limit = _PARSE_ON_LOOP_VALUES
    assert _has_few_values({"ids": list(range(limit - 1))})  # the list counts as one value
    assert not _has_few_values({"ids": list(range(limit))})
    apps = [{"id": str(n), "user_id": "u"} for n in range(limit // 3)]
    assert _has_few_values({"apps": apps})  # limit // 3 apps, two fields each
    assert not _has_few_values({"apps": [*apps, *apps]})
