"""What you send, as ``resources_pb2.Input``: local files as bytes, URLs as URLs, text as text.

Local files travel as their bytes (raw over gRPC; the JSON codec base64-encodes them), so the
server never needs to reach your disk. A ``.txt`` file is read as text; anything else as an
image.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from google.protobuf import struct_pb2

from clarion.client.types import Source, Text

_URL_PREFIXES = ("http://", "https://")
_TEXT_SUFFIXES = frozenset({".txt"})
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".ico"}
)


def is_url(source: Source) -> bool:
    return isinstance(source, str) and source.lower().startswith(_URL_PREFIXES)


def describe(source: Source) -> str:
    """How a report names ``source``: its path or URL, or a short description."""
    if isinstance(source, bytes):
        return f"<{len(source)} bytes>"
    if isinstance(source, Text):
        return f"<text: {source.raw[:40]}>"
    return os.fspath(source)


def source_data(source: Source) -> resources_pb2.Data:
    """The ``Data`` for ``source``; reading a local file may raise ``OSError``."""
    if isinstance(source, Text):
        return resources_pb2.Data(text=resources_pb2.Text(raw=source.raw))
    if isinstance(source, bytes):
        return resources_pb2.Data(image=resources_pb2.Image(base64=source))
    if isinstance(source, str) and is_url(source):
        return resources_pb2.Data(image=resources_pb2.Image(url=source))
    path = Path(source)
    if path.suffix.lower() in _TEXT_SUFFIXES:
        return resources_pb2.Data(text=resources_pb2.Text(raw=path.read_text("utf-8")))
    return resources_pb2.Data(image=resources_pb2.Image(base64=path.read_bytes()))


def new_input(
    source: Source,
    *,
    input_id: str = "",
    concepts: Iterable[str] = (),
    metadata: Mapping[str, Any] | None = None,
    allow_duplicate_url: bool = False,
) -> resources_pb2.Input:
    """An ``Input`` to upload: ``concepts`` are present (value 1), ``metadata`` is JSON."""
    data = source_data(source)
    if data.image.url and allow_duplicate_url:
        data.image.allow_duplicate_url = True
    data.concepts.extend(resources_pb2.Concept(id=name, value=1.0) for name in concepts)
    if metadata:
        data.metadata.CopyFrom(struct(metadata))
    return resources_pb2.Input(id=input_id, data=data)


def struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(dict(values))
    return message


def walk(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Files and URLs as given; folders replaced by the image and text files under them."""
    return [os.fspath(found) for found in expand(paths) if isinstance(found, str | os.PathLike)]


def expand(sources: Iterable[Source]) -> list[Source]:
    """``sources`` with each folder replaced by the image and text files under it, in order."""
    expanded: list[Source] = []
    for source in sources:
        if is_folder(source):
            assert not isinstance(source, bytes | Text)
            expanded += _folder_files(os.fspath(source))
        else:
            expanded.append(source)
    return expanded


def unreadable(source: Source) -> OSError | None:
    """Why the local file ``source`` cannot be uploaded, or None (bytes, text and URLs: None)."""
    if isinstance(source, bytes | Text) or is_url(source):
        return None
    path = os.fspath(source)
    if not os.path.exists(path):
        return FileNotFoundError(errno.ENOENT, "No such file or folder", path)
    if not os.path.isfile(path):
        return IsADirectoryError(errno.EINVAL, "Neither a file nor a folder", path)
    if not os.access(path, os.R_OK):
        return PermissionError(errno.EACCES, "Cannot be read", path)
    return None


def is_folder(source: Source) -> bool:
    if isinstance(source, bytes | Text):
        return False
    text = os.fspath(source)
    return not is_url(text) and Path(text).is_dir()


def _folder_files(folder: str) -> list[str]:
    return [
        str(path)
        for path in sorted(Path(folder).rglob("*"))
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES | _TEXT_SUFFIXES
    ]
