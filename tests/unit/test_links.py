"""Members' signed, expiring links: round trip, expiry, tampering, purpose, key rotation, what a token carries."""

import json
import string
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous.encoding import base64_decode

from agents.links import (
    DEFAULT_TTL, LinkClaims, LinkError, LinkExpired, LinkSigner, LinkTampered, LinkWrongPurpose, Purpose,
)

SECRET = "s3cret-for-tests-only-0123456789"
OTHER = "another-secret-for-tests-987654"
MEMBER = "mem_0192f3a4b5c6d7e8f9a0b1c2"
ACTION = "act_0192f3a4b5c6d7e8f9a0b1c2"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ALPHABET = string.ascii_letters + string.digits + "-_"


class Clock:
    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def signer(secret=SECRET, clock=None) -> LinkSigner:
    return LinkSigner(secret, now=clock or Clock())


def payload_of(token: str) -> list:
    """The JSON a token carries, read without checking its signature (as anyone holding the link could)."""
    payload = token.rpartition(".")[0]
    raw = base64_decode(payload.removeprefix("."))
    return json.loads(zlib.decompress(raw) if payload.startswith(".") else raw)


@pytest.mark.parametrize("purpose", list(Purpose))
@pytest.mark.parametrize("action_id", [ACTION, None])
def test_round_trip(purpose, action_id):
    s = signer()
    token = s.issue(purpose, MEMBER, action_id)
    claims = s.verify(token, purpose)
    assert isinstance(claims, LinkClaims)
    assert (claims.purpose, claims.member_id, claims.action_id) == (purpose, MEMBER, action_id)
    assert claims.expires_at == T0 + DEFAULT_TTL[purpose]
    assert claims.jti and s.verify(token, purpose) == claims  # manage links are multi-use; sign ones by caller's jti


def test_tokens_are_url_safe_short_and_unique():
    s = signer()
    tokens = {s.issue(Purpose.sign, MEMBER, ACTION) for _ in range(50)}
    assert len(tokens) == 50
    assert len({s.verify(t, Purpose.sign).jti for t in tokens}) == 50
    for token in tokens:
        assert set(token) <= set(ALPHABET + ".")
        assert len(token) < 200


def test_default_ttls():
    assert DEFAULT_TTL == {Purpose.sign: timedelta(days=14), Purpose.report: timedelta(days=14),
                           Purpose.manage: timedelta(days=30)}


def test_expiry_follows_an_injected_clock():
    clock = Clock()
    s = signer(clock=clock)
    token = s.issue(Purpose.sign, MEMBER, ACTION, ttl=timedelta(hours=6))  # until the action's deadline
    clock.at = T0 + timedelta(hours=6) - timedelta(seconds=1)
    assert s.verify(token, Purpose.sign).expires_at == T0 + timedelta(hours=6)
    clock.at = T0 + timedelta(hours=6)
    with pytest.raises(LinkExpired) as raised:
        s.verify(token, Purpose.sign)
    assert raised.value.expires_at == T0 + timedelta(hours=6)
    clock.at = T0 + timedelta(days=400)
    with pytest.raises(LinkExpired):
        s.verify(token, Purpose.sign)


def test_default_manage_link_lasts_thirty_days():
    clock = Clock()
    s = signer(clock=clock)
    token = s.issue(Purpose.manage, MEMBER)
    clock.at = T0 + timedelta(days=29, hours=23)
    s.verify(token, Purpose.manage)
    clock.at = T0 + timedelta(days=30)
    with pytest.raises(LinkExpired):
        s.verify(token, Purpose.manage)


def test_a_naive_clock_is_taken_as_utc():
    clock = Clock(T0.replace(tzinfo=None))
    s = signer(clock=clock)
    assert s.verify(s.issue(Purpose.report, MEMBER, ACTION), Purpose.report).expires_at == T0 + timedelta(days=14)


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(seconds=-1)])
def test_ttl_must_be_positive(ttl):
    with pytest.raises(ValueError):
        signer().issue(Purpose.sign, MEMBER, ACTION, ttl=ttl)


def flips(token: str):
    """Every token that differs from `token` in exactly one character."""
    for i, c in enumerate(token):
        for other in (ALPHABET[(ALPHABET.index(c) + 1) % len(ALPHABET)] if c in ALPHABET else "A", "."):
            if other != c:
                yield token[:i] + other + token[i + 1:]


@pytest.mark.parametrize("action_id", [ACTION, None])  # with and without a compressed payload
def test_flipping_any_character_is_tampering(action_id):
    s = signer()
    token = s.issue(Purpose.sign, MEMBER, action_id)
    for forged in flips(token):
        with pytest.raises(LinkTampered):
            s.verify(forged, Purpose.sign)


def test_flipping_one_character_in_each_part():
    s = signer()
    token = s.issue(Purpose.report, MEMBER, ACTION)
    payload, _, signature = token.rpartition(".")
    for part in (payload, signature):
        i = len(part) // 2
        flipped = part[:i] + ("A" if part[i] != "A" else "B") + part[i + 1:]
        forged = token.replace(part, flipped)
        assert forged != token
        with pytest.raises(LinkTampered):
            s.verify(forged, Purpose.report)


def test_spare_bits_and_stray_characters_do_not_make_a_second_valid_spelling():
    s = signer()
    token = s.issue(Purpose.sign, MEMBER, ACTION)
    payload, _, signature = token.rpartition(".")
    # 32 bytes of HMAC-SHA256 in 43 base64 characters: the last one has 2 spare bits the decoder ignores.
    last = ALPHABET.index(signature[-1]) if signature[-1] in string.ascii_uppercase else None
    variants = [f"{payload}.{signature[:-1]}{chr(ord(signature[-1]) ^ 1)}",
                f"{payload}.{signature}=", f"{payload}.{signature[:10]}!{signature[10:]}",
                f"{payload}.{signature[:10]}\u00e9{signature[10:]}", f" {token}", f"{token}\n"]
    if last is not None:
        variants.append(f"{payload}.{signature[:-1]}{ALPHABET[last ^ 1]}")
    for forged in variants:
        with pytest.raises(LinkTampered):
            s.verify(forged, Purpose.sign)


def test_truncated_tokens_are_tampering():
    s = signer()
    token = s.issue(Purpose.sign, MEMBER, ACTION)
    for n in range(len(token)):
        with pytest.raises(LinkTampered):
            s.verify(token[:n], Purpose.sign)


def test_a_token_from_another_secret_is_tampering():
    token = signer(OTHER).issue(Purpose.sign, MEMBER, ACTION)
    with pytest.raises(LinkTampered):
        signer().verify(token, Purpose.sign)


def test_a_validly_signed_but_malformed_payload_is_tampering():
    s = signer()
    for payload in ({"m": MEMBER}, ["s", MEMBER], ["x", MEMBER, None, 2_000_000_000, "j"],
                    ["s", "+447700900123", None, 2_000_000_000, "j"], ["s", MEMBER, None, "2000000000", "j"],
                    ["s", MEMBER, None, True, "j"], ["s", MEMBER, None, 10**20, "j"], ["s", MEMBER, None, 1, ""],
                    [["s"], MEMBER, None, 2_000_000_000, "j"]):
        with pytest.raises(LinkTampered):
            s.verify(s._serializer.dumps(payload), Purpose.sign)


@pytest.mark.parametrize("issued,presented", [(a, b) for a in Purpose for b in Purpose if a != b])
def test_wrong_purpose(issued, presented):
    s = signer()
    token = s.issue(issued, MEMBER, ACTION)
    with pytest.raises(LinkWrongPurpose) as raised:
        s.verify(token, presented)
    assert (raised.value.expected, raised.value.actual) == (presented, issued)


def test_wrong_purpose_is_reported_before_expiry():
    clock = Clock()
    s = signer(clock=clock)
    token = s.issue(Purpose.manage, MEMBER)
    clock.at = T0 + timedelta(days=365)
    with pytest.raises(LinkWrongPurpose):
        s.verify(token, Purpose.sign)


def test_errors_are_one_family():
    for error in (LinkTampered, LinkExpired, LinkWrongPurpose):
        assert issubclass(error, LinkError)
    assert len({LinkTampered, LinkExpired, LinkWrongPurpose}) == 3
    assert not issubclass(LinkExpired, LinkTampered) and not issubclass(LinkWrongPurpose, LinkTampered)


def test_key_rotation_signs_with_the_first_and_verifies_with_all():
    old = signer(OTHER).issue(Purpose.manage, MEMBER)
    rotated = signer([SECRET, OTHER])
    assert rotated.verify(old, Purpose.manage).member_id == MEMBER
    new = rotated.issue(Purpose.manage, MEMBER)
    assert signer(SECRET).verify(new, Purpose.manage).member_id == MEMBER  # signed with the first secret
    with pytest.raises(LinkTampered):
        signer(OTHER).verify(new, Purpose.manage)
    with pytest.raises(LinkTampered):  # once the old secret is retired, its links stop working
        signer([SECRET]).verify(old, Purpose.manage)


@pytest.mark.parametrize("secret", ["", "short", [], ["x" * 32, "short"], [None]])
def test_secrets_must_be_long_enough(secret):
    with pytest.raises(ValueError):
        LinkSigner(secret)


def test_the_token_carries_only_ids():
    token = signer().issue(Purpose.sign, MEMBER, ACTION)
    code, member_id, action_id, expires, jti = payload_of(token)
    assert (code, member_id, action_id) == ("s", MEMBER, ACTION)
    assert expires == int((T0 + timedelta(days=14)).timestamp()) and isinstance(jti, str)
    for personal in ("Amina", "+447700900123", "447700900123", "@"):
        assert personal not in token and personal not in json.dumps(payload_of(token))


@pytest.mark.parametrize("member_id", ["+447700900123", "amina@example.org", "Amina Diallo", "", "x" * 65, None])
def test_only_opaque_ids_are_accepted(member_id):
    with pytest.raises(ValueError):
        signer().issue(Purpose.manage, member_id)
    with pytest.raises(ValueError):
        signer().issue(Purpose.sign, MEMBER, action_id=member_id or "bad id")


def _never_verifies(s: LinkSigner, text: str) -> None:
    for purpose in Purpose:
        try:
            s.verify(text, purpose)
        except LinkError:
            continue
        raise AssertionError(f"{text!r} verified")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_random_strings_never_verify(text):
    _never_verifies(signer(), text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=ALPHABET, max_size=120), min_size=1, max_size=4))
def test_random_token_shaped_strings_never_verify(parts):
    _never_verifies(signer(), ".".join(parts))


REAL = signer().issue(Purpose.sign, MEMBER, ACTION)  # one token for every example: its length must not vary


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_random_edits_of_a_real_token_never_verify(data):
    s, token = signer(), REAL
    i = data.draw(st.integers(0, len(token)))
    j = data.draw(st.integers(i, min(len(token), i + 5)))
    forged = token[:i] + data.draw(st.text(max_size=5)) + token[j:]
    if forged != token:
        _never_verifies(s, forged)
