"""Credentials: random tokens, stored only as their sha256."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token() -> str:
    """A 32-character hex token (128 random bits), the shape of Clarifai's keys and PATs."""
    return secrets.token_hex(16)


def new_ref() -> str:
    """A non-secret identifier for a stored key."""
    return secrets.token_hex(8)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_hash(a: str, b: str) -> bool:
    """Constant-time comparison, so timing tells nothing about a stored hash."""
    return hmac.compare_digest(a.encode(), b.encode())
