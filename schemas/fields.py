"""Reusable validated field types: country, language, E.164 phone, UTC datetime."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

import phonenumbers
import pycountry
import pydantic
from pydantic import AfterValidator, BeforeValidator, EmailStr, PlainSerializer

from schemas.base import PERSONAL


def _country(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 2 or not code.isalpha() or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code, e.g. MX")
    return code


def _language(value: str) -> str:
    code = value.strip().lower()
    if len(code) != 2 or not code.isalpha() or pycountry.languages.get(alpha_2=code) is None:
        raise ValueError("must be an ISO 639-1 language code, e.g. es")
    return code


def _phone(value: str) -> str:
    raw = value.strip()
    if not raw.startswith("+"):
        raise ValueError("must be an E.164 phone number starting with +, e.g. +525512345678")
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        raise ValueError("is not a phone number in E.164 form") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must include a time zone, e.g. 2026-05-01T14:30:00+02:00")
    return value.astimezone(timezone.utc)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


CountryCode = Annotated[str, AfterValidator(_country)]
LanguageCode = Annotated[str, AfterValidator(_language)]
Phone = Annotated[str, AfterValidator(_phone), PERSONAL]
Email = Annotated[EmailStr, PERSONAL]
AwareDatetime = Annotated[datetime, AfterValidator(_aware)]
# JSON as `datetime.isoformat()` ('+00:00' where pydantic writes 'Z'): times stored as that text before they were
# typed read back and are written again unchanged, and they still sort as text. Checked in pydantic's core (no
# conversion to UTC): the delivery ledger parses several per entry.
IsoDatetime = Annotated[pydantic.AwareDatetime, PlainSerializer(datetime.isoformat, when_used="json")]
NonBlank = Annotated[str, AfterValidator(_not_blank)]
Lower = Annotated[str, BeforeValidator(lambda v: v.lower() if isinstance(v, str) else v)]
