"""The most items a call takes in its batch field (``inputs``), per method.

The services check them on every transport. The HTTP gateway checks them too, on the decoded
JSON before it becomes a message: building a message of a million empty inputs took 32 s of
CPU before the service could count them (issue 22).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from clarion.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class BatchLimit:
    """At most ``most`` items in the request's repeated field ``field``."""

    field: str
    most: int

    def check(self, count: int) -> None:
        """Refuse ``count`` items if they are over the limit (an empty batch is the caller's)."""
        if count > self.most:
            raise InvalidArgument(
                f"{count} {self.field} in one request: at most {self.most} are accepted; "
                "split the batch"
            )


POST_INPUTS = BatchLimit("inputs", 128)
PREDICT = BatchLimit("inputs", 128)
WORKFLOW_RESULTS = BatchLimit("inputs", 32)

BATCH_LIMITS: Mapping[str, BatchLimit] = {
    "PostInputs": POST_INPUTS,
    "PostModelOutputs": PREDICT,
    "PostWorkflowResults": WORKFLOW_RESULTS,
}
