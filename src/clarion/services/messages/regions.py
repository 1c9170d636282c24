"""Detected regions: a box, its score, and what was found in it."""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2

from clarion.inference.base import Region
from clarion.services.messages.concepts import add_concepts
from clarion.services.messages.values import response_id


def region_to_proto(region: Region, region_id: str = "") -> resources_pb2.Region:
    """A detected region: its box, score, concepts and text (the id is new unless given)."""
    message = resources_pb2.Region(
        id=region_id or response_id(),
        value=region.value,
        region_info=resources_pb2.RegionInfo(
            bounding_box=resources_pb2.BoundingBox(
                top_row=region.top_row,
                left_col=region.left_col,
                bottom_row=region.bottom_row,
                right_col=region.right_col,
            )
        ),
    )
    add_concepts(message.data, region.concepts)
    if region.text:
        message.data.text.raw = region.text
    return message
