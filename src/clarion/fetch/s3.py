"""Public S3 buckets through S3's anonymous HTTPS API: ``s3://bucket/prefix`` to the URLs that
list the bucket and fetch its objects, and the listing's XML to object keys.

The URLs are fetched like any other (``UrlFetcher``, under the fetch policy), so a bucket
endpoint on a private address is refused before any connection. With no endpoint configured,
a bucket is addressed virtual-hosted style (``https://BUCKET.s3.amazonaws.com/``), which
reaches a bucket in any region; a configured endpoint (an S3-compatible store) is addressed
path style (``ENDPOINT/BUCKET``).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from urllib.parse import quote, urlencode

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


class S3UrlInvalid(ValueError):
    """The ``s3://`` URL names no valid bucket, or the listing is not S3's."""


@dataclass(frozen=True, slots=True)
class S3Location:
    bucket: str
    prefix: str  # "" for the whole bucket


@dataclass(frozen=True, slots=True)
class S3Listing:
    """One page of a listing: the keys of its objects (folders' markers left out), and the
    token for the next page (``None`` on the last)."""

    keys: tuple[str, ...]
    next_token: str | None


def is_s3_url(url: str) -> bool:
    return url.lower().startswith("s3://")


def s3_location(url: str) -> S3Location:
    """The bucket and prefix of ``s3://bucket/prefix``."""
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise S3UrlInvalid(
            f"'{url}' names no valid S3 bucket: use s3://bucket/prefix, the bucket 3 to 63 "
            "lowercase letters, digits, dots or hyphens"
        )
    return S3Location(bucket, prefix)


def bucket_url(location: S3Location, endpoint: str = "") -> str:
    if endpoint:
        return f"{endpoint.rstrip('/')}/{location.bucket}"
    return f"https://{location.bucket}.s3.amazonaws.com"


def listing_url(location: S3Location, endpoint: str = "", token: str | None = None) -> str:
    """The ListObjectsV2 request for one page of the objects under the prefix."""
    query = {"list-type": "2", "prefix": location.prefix}
    if token:
        query["continuation-token"] = token
    return f"{bucket_url(location, endpoint)}/?{urlencode(query)}"


def object_url(location: S3Location, key: str, endpoint: str = "") -> str:
    return f"{bucket_url(location, endpoint)}/{quote(key, safe='/')}"


def parse_listing(body: bytes) -> S3Listing:
    """The keys in a ListObjectsV2 answer (``ListBucketResult``)."""
    try:
        root = ElementTree.fromstring(body)  # expat refuses entity expansion bombs
    except ElementTree.ParseError as exc:
        raise S3UrlInvalid(f"the bucket's listing is not XML: {exc}") from exc
    if root.tag.removeprefix(_NS) != "ListBucketResult":
        raise S3UrlInvalid(f"the bucket answered {root.tag.removeprefix(_NS)}, not a listing")
    keys = tuple(
        key
        for item in root.iter(f"{_NS}Contents")
        if (key := item.findtext(f"{_NS}Key") or "") and not key.endswith("/")
    )
    truncated = (root.findtext(f"{_NS}IsTruncated") or "").lower() == "true"
    token = root.findtext(f"{_NS}NextContinuationToken") if truncated else None
    return S3Listing(keys, token or None)
