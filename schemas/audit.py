"""Audit trail entries: who did what, when, to which subject."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from schemas.base import Message, utcnow


class AuditEntry(Message):
    """One secretariat or system action, on audit.log.v1; never carries personal data."""

    at: datetime = Field(default_factory=utcnow)
    actor: str = Field(description="Token name or 'system'.")
    action: str = Field(description="What was done, e.g. case.verify, token.create.")
    subject: str = Field(description="Id of what it was done to.")
    detail: dict[str, Any] = Field(default_factory=dict)


class TokenRecord(Message):
    """An API token, stored hashed on the compacted auth.tokens.v1 topic keyed by token id."""

    token_id: str
    name: str = Field(max_length=100)
    role: str
    token_hash: str = Field(description="SHA-256 of the token; the token itself is never stored.")
    created_at: datetime = Field(default_factory=utcnow)
    revoked: bool = False
