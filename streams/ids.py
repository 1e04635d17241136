"""Identifiers: time-ordered ids and short, readable, unambiguous references."""

from __future__ import annotations

import hashlib
import secrets
import time

# Crockford base32 without I, L, O, U: nothing to misread over a bad phone line.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(prefix: str) -> str:
    """A time-ordered unique id such as rep_0192f3a4b5c6d7e8f9a0b1c2."""
    return f"{prefix}_{int(time.time() * 1000):012x}{secrets.token_hex(6)}"


def new_reference() -> str:
    """A short reference for a reporter to note down, e.g. SOL-7K3Q9X."""
    return "SOL-" + "".join(secrets.choice(ALPHABET) for _ in range(6))


def hash_token(token: str) -> str:
    """SHA-256 hex of a token: tokens are long random strings, so a fast hash is enough."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
