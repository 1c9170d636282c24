"""A video's answers frame by frame: ``data.frames``, each placed by its index and time."""

from __future__ import annotations

from collections.abc import Sequence

from clarifai_grpc.grpc.api import resources_pb2

from clarion.codes import SUCCESS


def add_frame(data: resources_pb2.Data, index: int, time_ms: int) -> resources_pb2.Frame:
    """A new frame in ``data.frames``, placed by its index and time (ms)."""
    added = data.frames.add()
    added.frame_info.index = index
    added.frame_info.time = time_ms
    return added


def frames_result(
    positions: Sequence[tuple[int, int]], per_frame: Sequence[resources_pb2.WorkflowResult]
) -> resources_pb2.WorkflowResult:
    """One workflow result for a video from the results of its frames (each frame's
    ``(index, time_ms)`` in ``positions``).

    Each node's output holds that node's data for every frame in ``data.frames``; an output
    fails when the node failed on some frame (its first failure is said).
    """
    result = resources_pb2.WorkflowResult()
    result.CopyFrom(per_frame[0])
    for position, output in enumerate(result.outputs):
        output.data.Clear()
        for (index, time_ms), ran in zip(positions, per_frame, strict=True):
            node_output = ran.outputs[position]
            add_frame(output.data, index, time_ms).data.CopyFrom(node_output.data)
            if node_output.status.code != SUCCESS and output.status.code == SUCCESS:
                output.status.CopyFrom(node_output.status)
    return result
