"""Signed, expiring links for members, without a login: sign a letter, report back on an action, manage oneself.

A token is `itsdangerous`'s URL-safe serialisation of a compact JSON list, signed with HMAC-SHA256:

    [purpose code, member id, action id or null, expiry (unix seconds), jti]

It is signed, not encrypted: whoever holds the link can read the ids in it (never a name, phone or email: only
the opaque ids the schemas allow). The expiry is an explicit claim, since each link has its own lifetime (a sign
link lives until its action's deadline). `jti` is a random nonce; the caller enforces single use of sign links
with it. Key rotation: `LinkSigner([new, old])` signs with the first secret and verifies with all of them.

Errors form one family: `LinkTampered` (bad signature, malformed, truncated, another secret), `LinkWrongPurpose`
(a valid link made for something else) and `LinkExpired` (a valid link past its expiry), all `LinkError`s.
A link's purpose is checked before its expiry.
"""

from __future__ import annotations

import hashlib
import re
import secrets as _secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from itsdangerous import BadData, URLSafeSerializer
from itsdangerous.encoding import base64_decode, base64_encode


class Purpose(StrEnum):
    """What a link lets its member do."""

    sign = "sign"  # one-click signature of a sign-on letter or petition (single use, by jti)
    report = "report"  # report back on a decentralised action
    manage = "manage"  # the member's self-service page (multi-use until expiry)


DEFAULT_TTL: dict[Purpose, timedelta] = {
    Purpose.sign: timedelta(days=14), Purpose.report: timedelta(days=14), Purpose.manage: timedelta(days=30)}

_CODES = {Purpose.sign: "s", Purpose.report: "r", Purpose.manage: "m"}
_PURPOSES = {code: purpose for purpose, code in _CODES.items()}
_SALT = "solidarity.links.v1"
# The ids the schemas allow (schemas.members.Member.member_id): no "+" or "@", so no phone number or email.
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")
_MAX_TOKEN = 512
_MIN_SECRET = 16


class LinkError(Exception):
    """A link that cannot be honoured."""


class LinkTampered(LinkError):
    """Not a link we made: bad signature, malformed, truncated, or signed with a secret we do not hold."""


class LinkExpired(LinkError):
    """A genuine link past its expiry."""

    def __init__(self, expires_at: datetime) -> None:
        super().__init__(f"link expired at {expires_at.isoformat()}")
        self.expires_at = expires_at


class LinkWrongPurpose(LinkError):
    """A genuine link made for another purpose (a manage link presented to sign)."""

    def __init__(self, expected: Purpose, actual: Purpose) -> None:
        super().__init__(f"link is for {actual.value}, not {expected.value}")
        self.expected, self.actual = expected, actual


@dataclass(frozen=True, slots=True)
class LinkClaims:
    """What a verified link says."""

    purpose: Purpose
    member_id: str
    action_id: str | None
    jti: str
    expires_at: datetime


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _canonical(segment: str) -> bool:
    # base64 decoding ignores stray characters and the spare bits of the last one; one token, one spelling.
    try:
        return bool(_SEGMENT.match(segment)) and base64_encode(base64_decode(segment)).decode("ascii") == segment
    except Exception:  # noqa: BLE001 - any decoding failure means the segment is not ours
        return False


class LinkSigner:
    """Issues and verifies members' links with one secret, or a list of them (the first signs, all verify)."""

    def __init__(self, secret: str | Sequence[str], *, now: Callable[[], datetime] = _utcnow) -> None:
        keys = [secret] if isinstance(secret, str) else list(secret)
        if not keys:
            raise ValueError("LinkSigner needs at least one secret")
        for key in keys:
            if not isinstance(key, str) or len(key) < _MIN_SECRET:
                raise ValueError(f"each link secret must be a string of at least {_MIN_SECRET} characters")
        self._now = now
        # itsdangerous signs with the last key of its list and verifies with all.
        self._serializer = URLSafeSerializer(list(reversed(keys)), salt=_SALT,
                                             signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256})

    def _aware_now(self) -> datetime:
        now = self._now()
        return now if now.tzinfo is not None else now.replace(tzinfo=UTC)  # a naive clock is taken as UTC

    def issue(self, purpose: Purpose, member_id: str, action_id: str | None = None,
              ttl: timedelta | None = None) -> str:
        """A URL-safe token for `member_id` (and `action_id`), valid for `ttl` (the purpose's default if None).

        For sign and report links the caller passes the time left to the action's deadline as `ttl`."""
        purpose = Purpose(purpose)
        if not isinstance(member_id, str) or not _ID.match(member_id):
            raise ValueError("member_id must be an opaque id (letters, digits, _.:-; at most 64)")
        if action_id is not None and (not isinstance(action_id, str) or not _ID.match(action_id)):
            raise ValueError("action_id must be an opaque id (letters, digits, _.:-; at most 64)")
        ttl = DEFAULT_TTL[purpose] if ttl is None else ttl
        if ttl <= timedelta(0):
            raise ValueError("a link's ttl must be positive")
        expires = int((self._aware_now() + ttl).timestamp())
        jti = _secrets.token_urlsafe(12)
        return self._serializer.dumps([_CODES[purpose], member_id, action_id, expires, jti])

    def verify(self, token: str, purpose: Purpose) -> LinkClaims:
        """The claims of a genuine, unexpired link made for `purpose`; a LinkError otherwise."""
        purpose = Purpose(purpose)
        if not isinstance(token, str) or len(token) > _MAX_TOKEN or token.count(".") not in (1, 2):
            raise LinkTampered("malformed link")
        payload, _, signature = token.rpartition(".")
        if not _canonical(payload.removeprefix(".")) or not _canonical(signature):
            raise LinkTampered("malformed link")
        try:
            data = self._serializer.loads(token)
        except BadData as exc:
            raise LinkTampered("bad link signature") from exc
        except Exception as exc:  # noqa: BLE001 - a decoding error past the signature: still not a link we honour
            raise LinkTampered("malformed link") from exc
        claims = _claims(data)
        if claims.purpose is not purpose:
            raise LinkWrongPurpose(purpose, claims.purpose)
        if self._aware_now() >= claims.expires_at:
            raise LinkExpired(claims.expires_at)
        return claims


def _claims(data: object) -> LinkClaims:
    if not isinstance(data, list) or len(data) != 5:
        raise LinkTampered("malformed link")
    code, member_id, action_id, expires, jti = data
    if (not isinstance(code, str) or code not in _PURPOSES or not isinstance(member_id, str) or not _ID.match(member_id)
            or not (action_id is None or (isinstance(action_id, str) and _ID.match(action_id)))
            or not isinstance(expires, int) or isinstance(expires, bool) or not isinstance(jti, str) or not jti):
        raise LinkTampered("malformed link")
    try:
        expires_at = datetime.fromtimestamp(expires, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise LinkTampered("malformed link") from exc
    return LinkClaims(purpose=_PURPOSES[code], member_id=member_id, action_id=action_id, jti=jti,
                      expires_at=expires_at)
