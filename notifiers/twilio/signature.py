"""Twilio webhook signatures (X-Twilio-Signature), checked with the twilio library's own RequestValidator."""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator

SIGNATURE_HEADER = "X-Twilio-Signature"


def public_url(base_url: str, path_qs: str) -> str:
    """The URL Twilio signed: our public base URL (not the one a proxy forwarded to) plus path and raw query."""
    return base_url.rstrip("/") + path_qs


def valid_signature(url: str, form: Mapping[str, str], signature: str | None, auth_token: str) -> bool:
    """True if `signature` is Twilio's for a POST of `form` to the full `url` (query included)."""
    if not signature:
        return False
    return RequestValidator(auth_token).validate(url, dict(form), signature)


def sign(url: str, form: Mapping[str, str], auth_token: str) -> str:
    """The X-Twilio-Signature Twilio sends when it POSTs `form` to `url` (for tests and fakes)."""
    return RequestValidator(auth_token).compute_signature(url, dict(form))
