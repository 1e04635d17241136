"""A record that does not decode is reported by model, field and error type, never by its values."""

from __future__ import annotations

import json

import pytest
from faust.exceptions import ValueDecodeError
from faust.serializers.registry import Registry

from schemas.members import Member
from streams.codecs import PydanticCodec, RecordDecodeError, register

PHONE = "+50491236721"
BAD_RECORDS = [
    # (raw record, (field, error type) expected in the message)
    (json.dumps({"member_id": "m1", "organization": "Org", "contact_name": "Ana Pérez", "phone": PHONE,
                 "country": "ZZ"}).encode(), ("country", "value_error")),
    (json.dumps({"member_id": "m1", "organization": "Org", "contact_name": "Ana Pérez", "phone": PHONE,
                 "country": "HN", "email": f"{PHONE}@"}).encode(), ("email", "value_error")),
    (json.dumps({"member_id": "m1", "organization": "Org", "contact_name": "Ana Pérez", "phone": [PHONE],
                 "country": "HN"}).encode(), ("phone", "string_type")),
    (json.dumps({"phone": PHONE, PHONE: "Ana Pérez"}).encode(), ("<key>", "extra_forbidden")),
    (json.dumps({"member_id": "m1", "organization": "Org", "contact_name": "Ana Pérez", "country": "HN",
                 "Ana": PHONE}).encode(), ("<key>", "extra_forbidden")),
    (f'{{"phone": "{PHONE}", "contact_name": "Ana Pérez"'.encode(), ("record", "json_invalid")),
    (b"\xff" + PHONE.encode(), ("record", "json_invalid")),
]


@pytest.mark.parametrize(("raw", "expected"), BAD_RECORDS, ids=[e for _r, (_f, e) in BAD_RECORDS])
def test_decode_error_names_model_fields_and_types_only(raw, expected):
    with pytest.raises(RecordDecodeError) as info:
        PydanticCodec(Member).loads(raw)
    exc = info.value
    field, kind = expected
    assert f"{field}: {kind}" in str(exc) and "Member" in str(exc)
    for text in (str(exc), repr(exc), repr(exc.problems)):
        assert PHONE not in text and "Ana" not in text
    assert exc.__cause__ is None and exc.__context__ is None


@pytest.mark.parametrize(("raw", "_expected"), BAD_RECORDS[:2])
def test_faust_decode_error_carries_no_values(raw, _expected):
    with pytest.raises(ValueDecodeError) as info:
        Registry().loads_value(None, raw, serializer=register(Member))
    chain, exc = [], info.value
    while exc is not None:
        chain.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    assert len(chain) == 2
    assert all(PHONE not in str(e) and PHONE not in repr(e) for e in chain)


def test_a_good_record_still_decodes():
    member = Member(member_id="m1", organization="Org", contact_name="Ana", phone=PHONE, country="HN")
    codec = PydanticCodec(Member)
    assert codec.loads(codec.dumps(member)) == member
