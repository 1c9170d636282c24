"""Reading the inputs of a prediction: bytes, a URL, or the id of an ingested input.

``PostModelOutputs`` and ``PostWorkflowResults`` share it. An input that cannot be read (an
unreachable URL, bytes that are no image, no data at all) comes back as a ``Read`` with an
error, so it fails alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from clarifai_grpc.grpc.api import resources_pb2
from PIL import Image

from clarion.blobs.base import BlobStore
from clarion.codes import INPUT_DOES_NOT_EXIST, INPUT_INVALID_ARGUMENT
from clarion.errors import InputRejected
from clarion.inference.base import InputKind
from clarion.services.base import app_pk
from clarion.services.context import CallContext
from clarion.storage.inputs import InputRecord, InputStore


class InputReader(Protocol):
    """Turns untrusted bytes and URLs into images or text; raises ``InputRejected``."""

    def image_from_bytes(self, data: bytes) -> Image.Image: ...
    def image_from_url(self, url: str) -> Image.Image: ...
    def text_from_url(self, url: str) -> str: ...


@dataclass(frozen=True, slots=True)
class Read:
    """One input, read: the image or text to predict on, or why it cannot be."""

    image: Image.Image | None = None
    text: str | None = None
    error: InputRejected | None = None

    @property
    def item(self) -> Image.Image | str | None:
        """What a model takes: the image, else the text (None when reading failed)."""
        return self.image if self.image is not None else self.text


class InputLoader:
    """Reads prediction inputs through the guarded reader, or from the app's stored inputs."""

    def __init__(self, reader: InputReader, data: InputStore, blobs: BlobStore) -> None:
        self._reader = reader
        self._data = data
        self._blobs = blobs

    def read(self, ctx: CallContext, message: resources_pb2.Input, kind: InputKind) -> Read:
        """The input as the ``kind`` a model takes."""
        try:
            if kind == "text":
                return Read(text=self._text_of(ctx, message))
            return Read(image=self._image_of(ctx, message))
        except InputRejected as rejected:
            return Read(error=rejected)

    def read_any(self, ctx: CallContext, message: resources_pb2.Input) -> Read:
        """The input as whatever it is: an image or a text (a workflow takes both)."""
        return self.read(ctx, message, self._kind_of(ctx, message))

    def _kind_of(self, ctx: CallContext, message: resources_pb2.Input) -> InputKind:
        data = message.data
        if data.HasField("text") and (data.text.raw or data.text.url):
            return "text"
        if message.id and not message.HasField("data") and ctx.app is not None:
            stored = self._data.get_input(app_pk(ctx.app), message.id)
            if stored is not None and stored.kind == "text":
                return "text"
        return "image"

    def _image_of(self, ctx: CallContext, message: resources_pb2.Input) -> Image.Image:
        image = message.data.image
        if image.base64:
            return self._reader.image_from_bytes(image.base64)
        if image.url:
            return self._reader.image_from_url(image.url)
        if message.id and not message.HasField("data"):
            return self._reader.image_from_bytes(self._stored_bytes(ctx, message.id))
        raise InputRejected(
            INPUT_INVALID_ARGUMENT,
            "The input has no image: set data.image.url, data.image.base64, or an input id",
        )

    def _text_of(self, ctx: CallContext, message: resources_pb2.Input) -> str:
        text = message.data.text
        if text.raw:
            return text.raw
        if text.url:
            return self._reader.text_from_url(text.url)
        if message.id and not message.HasField("data"):
            stored = self._stored_input(ctx, message.id)
            if stored.text:
                return stored.text
        raise InputRejected(
            INPUT_INVALID_ARGUMENT, "The input has no text: set data.text.raw or data.text.url"
        )

    def _stored_bytes(self, ctx: CallContext, input_id: str) -> bytes:
        stored = self._stored_input(ctx, input_id)
        if not stored.blob or stored.kind != "image":
            raise InputRejected(
                INPUT_INVALID_ARGUMENT, f"Input '{input_id}' has no ingested image to predict on"
            )
        return self._blobs.get(stored.blob)

    def _stored_input(self, ctx: CallContext, input_id: str) -> InputRecord:
        record = self._data.get_input(app_pk(ctx.app), input_id) if ctx.app else None
        if record is None:
            raise InputRejected(INPUT_DOES_NOT_EXIST, f"Input '{input_id}' does not exist")
        return record
