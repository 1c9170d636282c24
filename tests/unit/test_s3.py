"""s3:// URLs to S3's anonymous HTTPS API, and its listings to object keys."""

from __future__ import annotations

import pytest

from clarion.fetch.s3 import (
    S3Location,
    S3UrlInvalid,
    listing_url,
    object_url,
    parse_listing,
    s3_location,
)

LISTING = b"""<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>pets</Name><Prefix>cats/</Prefix><KeyCount>3</KeyCount>
  <IsTruncated>true</IsTruncated><NextContinuationToken>tok+1/=</NextContinuationToken>
  <Contents><Key>cats/</Key><Size>0</Size></Contents>
  <Contents><Key>cats/a b.jpg</Key><Size>10</Size></Contents>
  <Contents><Key>cats/notes.txt</Key><Size>5</Size></Contents>
</ListBucketResult>"""


def test_s3_urls_map_to_https() -> None:
    location = s3_location("s3://pets/cats/")
    assert location == S3Location("pets", "cats/")
    assert listing_url(location) == "https://pets.s3.amazonaws.com/?list-type=2&prefix=cats%2F"
    assert (
        listing_url(location, "http://127.0.0.1:9000/", "tok+1/=")
        == "http://127.0.0.1:9000/pets/?list-type=2&prefix=cats%2F&continuation-token=tok%2B1%2F%3D"
    )
    assert object_url(location, "cats/a b.jpg") == "https://pets.s3.amazonaws.com/cats/a%20b.jpg"


@pytest.mark.parametrize("url", ["s3://", "s3://UPPER/x", "s3://a/x", "s3://a..b/x", "s3://x_y/"])
def test_invalid_buckets_are_refused(url: str) -> None:
    with pytest.raises(S3UrlInvalid, match="bucket"):
        s3_location(url)


def test_listing_keys_and_next_page() -> None:
    listing = parse_listing(LISTING)
    assert listing.keys == ("cats/a b.jpg", "cats/notes.txt")
    assert listing.next_token == "tok+1/="
    last = parse_listing(LISTING.replace(b"<IsTruncated>true", b"<IsTruncated>false"))
    assert last.next_token is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"not xml", "not XML"), (b"<Error><Code>AccessDenied</Code></Error>", "answered Error")],
)
def test_what_is_not_a_listing_is_refused(body: bytes, reason: str) -> None:
    with pytest.raises(S3UrlInvalid, match=reason):
        parse_listing(body)
