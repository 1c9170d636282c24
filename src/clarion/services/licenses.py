"""The open source licenses a model or workflow version may carry (``ListOpenSourceLicenses``
lists them; ``PatchModelVersions`` and ``PatchWorkflowVersions`` check against them)."""

from __future__ import annotations

from clarion.errors import InvalidArgument

# Common open source licenses a model may declare, by SPDX id.
OPEN_SOURCE_LICENSES = (
    "AFL-3.0",
    "Apache-2.0",
    "Artistic-2.0",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "BSL-1.0",
    "CC-BY-4.0",
    "CC-BY-SA-4.0",
    "CC-BY-NC-4.0",
    "CC0-1.0",
    "EPL-2.0",
    "GPL-2.0",
    "GPL-3.0",
    "ISC",
    "LGPL-2.1",
    "LGPL-3.0",
    "MIT",
    "MPL-2.0",
    "OpenRAIL",
    "Unlicense",
)


def checked_license(value: str) -> str:
    """``value`` if it is a license ``ListOpenSourceLicenses`` lists, else ``InvalidArgument``."""
    if value not in OPEN_SOURCE_LICENSES:
        raise InvalidArgument(
            f"Unknown license '{value}': use an SPDX id that ListOpenSourceLicenses lists"
        )
    return value
