from __future__ import annotations

import uuid


def unique_id(prefix: str) -> str:
    """Ids the way the official clients' tests make them."""
    return f"{prefix}-{uuid.uuid4().hex[:15]}"
