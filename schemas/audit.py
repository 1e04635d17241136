"""Audit trail: requests to record a secretariat or system action, and the chained entries on audit.log.v1.

An entry says who (a token id, `system` or `cli`: never a person's name), what, to which record, when, and
carries the hash of the entry before it (a chain: see streams/audit/chain.py). No field holds personal data:
`detail` takes ids, states and counts only, never text a person typed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Union

from pydantic import Field, StringConstraints

from schemas.base import Message, utcnow

# Who acted: a token id (tok_ + 24 hex), the worker itself, or the command line.
# A member acting through their own signed link is `member:<member_id>` (an opaque id, never a name).
ACTOR = r"^(tok_[0-9a-f]{24}|system|cli(:[a-z0-9._-]{1,40})?|member:[A-Za-z0-9_.:-]{1,64})$"
ACTION = r"^[a-z]+(_[a-z]+)*\.[a-z]+(_[a-z]+)*$"
GENESIS = "0" * 64  # the `prev` of the first entry

# A detail value is an id, a state, a count or a short list of them: a place for free text would end up
# holding a defender's name.
Scalar = Union[Annotated[str, StringConstraints(max_length=120)], bool, int, Annotated[float, Field(allow_inf_nan=False)],
               None]
Detail = dict[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")],
              Union[Scalar, Annotated[list[Scalar], Field(max_length=50)]]]


class AuditRequest(Message):
    """An action to be recorded, on audit.submitted.v1 (the audit writer chains it onto audit.log.v1)."""

    request_id: str = Field(min_length=8, max_length=64, description="Unique id: a request is chained once.")
    at: datetime = Field(default_factory=utcnow, description="When the action was done.")
    actor: str = Field(pattern=ACTOR, description="Token id, 'system', 'cli' or member:<id>: never a name.")
    action: str = Field(pattern=ACTION, max_length=40, description="What was done, e.g. case.verify.")
    subject: str = Field(min_length=1, max_length=80, description="Id of the record it was done to.")
    case_id: str | None = Field(None, max_length=80, description="The case concerned, if any.")
    detail: Detail = Field(default_factory=dict, description="Ids, states and counts; never personal data.")


class AuditEntry(AuditRequest):
    """One link of the audit chain on audit.log.v1."""

    seq: int = Field(ge=1, description="Position in the chain, from 1.")
    prev: str = Field(pattern=r"^[0-9a-f]{64}$", description="The `mac` of the entry before (zeros for the first).")
    mac: str = Field(pattern=r"^[0-9a-f]{64}$", description="HMAC-SHA256 with the audit key of every other field.")


class TokenRecord(Message):
    """An API token, stored hashed on the compacted auth.tokens.v1 topic keyed by token id."""

    token_id: str
    name: str = Field(max_length=100)
    role: str
    token_hash: str = Field(description="SHA-256 of the token; the token itself is never stored.")
    created_at: datetime = Field(default_factory=utcnow)
    revoked: bool = False
    # A reporter's registered phones, by blind index (never the number): they may text reports and STATUS.
    phones: list[str] = Field(default_factory=list, description="Blind indexes of the reporter's registered phones.")
    language: str = Field("en", description="Language of SMS replies to the reporter's phones (ISO 639-1).")
