"""Member organisations and how to reach their contact person."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from schemas.base import PERSONAL, Message, personal, utcnow
from schemas.fields import CountryCode, Email, LanguageCode, NonBlank, Phone
from schemas.vocab import Channel, Role


class Member(Message):
    """A member organisation's contact; carried on the compacted members.v1 topic keyed by member_id."""

    member_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$", description="Stable id.")
    organization: NonBlank = Field(max_length=200, description="Organisation name.")
    contact_name: Annotated[NonBlank, PERSONAL] = personal(max_length=200, description="Contact person.")
    phone: Phone | None = personal(None, description="E.164 phone number of the contact.")
    email: Email | None = personal(None, description="Email of the contact.")
    language: LanguageCode = Field("en", description="Preferred language (ISO 639-1).")
    country: CountryCode = Field(description="Country of the organisation.")
    working_groups: list[str] = Field(default_factory=list, description="Working groups the member belongs to.")
    channels: list[Channel] = Field(default_factory=lambda: [Channel.sms, Channel.email], description="Channels.")
    roles: list[Role] = Field(default_factory=lambda: [Role.member], description="Roles.")
    opted_out: list[Channel] = Field(default_factory=list, description="Channels the member opted out of.")
    updated_at: datetime = Field(default_factory=utcnow, description="Last change.")

    def model_post_init(self, context: Any, /) -> None:
        """Share what 100,000 members repeat: a worker keeps every member in memory (issue 16: 300 MB with
        100,000 members). Members read with the same fields set share one set of their names instead of
        several hundred bytes each; language, country and organisation are interned."""
        fields = self.__pydantic_fields_set__
        shared = _FIELD_SETS.get(frozenset(fields))
        if shared is None:
            shared = _FIELD_SETS[frozenset(fields)] = set(fields)
        object.__setattr__(self, "__pydantic_fields_set__", shared)
        values = self.__dict__
        for name in ("language", "country", "organization"):
            value = values.get(name)
            if isinstance(value, str):
                values[name] = sys.intern(value)


# The shared sets of set fields, by their names (a handful: members come from the same CSV columns or API). Plain
# sets, as pydantic adds a field's name when it is assigned; nothing dumps a member with exclude_unset.
_FIELD_SETS: dict[frozenset[str], set[str]] = {}


class MemberPatch(Message):
    """Body of PATCH /api/v1/members/{member_id}: any subset of the editable fields."""

    organization: NonBlank | None = Field(None, max_length=200)
    contact_name: Annotated[NonBlank | None, PERSONAL] = personal(None, max_length=200)
    phone: Phone | None = personal(None)
    email: Email | None = personal(None)
    language: LanguageCode | None = None
    country: CountryCode | None = None
    working_groups: list[str] | None = None
    channels: list[Channel] | None = None
    roles: list[Role] | None = None
    opted_out: list[Channel] | None = None
