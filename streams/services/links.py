"""Signed member links: who gets one, where it points, and spending a single-use one exactly once."""

from __future__ import annotations

import json
from datetime import timedelta
from functools import lru_cache

from agents.links import LinkClaims, LinkSigner, Purpose
from schemas.actions import CallToAction
from schemas.base import utcnow
from streams import crypto
from streams.runtime import Runtime
from streams.settings import Settings

# Where each kind of link opens (public routes: the signed token is the credential).
PATHS = {Purpose.sign: "/act/sign/", Purpose.report: "/act/report/", Purpose.manage: "/member/"}


@lru_cache(maxsize=4)
def _signer(secrets: tuple[str, ...]) -> LinkSigner:
    return LinkSigner(list(secrets))


def signer(settings: Settings) -> LinkSigner:
    """The link signer: the configured secrets, else one derived from the key ring's blind-index key."""
    configured = settings.links.secret.get_secret_value() if settings.links.secret else ""
    secrets = tuple(s.strip() for s in configured.split(",") if s.strip())
    return _signer(secrets or (crypto.sealer().blind("links", "member-links-v1"),))


def link(settings: Settings, purpose: Purpose, member_id: str, action: CallToAction | None = None) -> str:
    """An absolute link of `purpose` for a member (and an action); it expires at the action's deadline, or after
    the configured days."""
    cfg = settings.links
    if purpose is Purpose.manage:
        ttl = timedelta(days=cfg.manage_days)
    elif action is not None and action.deadline is not None:
        ttl = max(action.deadline - utcnow(), timedelta(hours=1))
    else:
        ttl = timedelta(days=cfg.action_days)
    token = signer(settings).issue(purpose, member_id, action.action_id if action else None, ttl=ttl)
    return f"{settings.web.public_url.rstrip('/')}{PATHS[purpose]}{token}"


def verify(settings: Settings, token: str, purpose: Purpose) -> LinkClaims:
    """The claims of a link's token; LinkError (tampered, expired, wrong purpose) otherwise."""
    return signer(settings).verify(token, purpose)


def used(rt: Runtime, claims: LinkClaims) -> bool:
    """Whether a single-use link was already used (on any worker: call after views.sync())."""
    return claims.jti in rt.views.links_used


async def spend(rt: Runtime, claims: LinkClaims) -> None:
    """Record a single-use link as used (only ids and the purpose: never who clicked)."""
    record = {"purpose": claims.purpose.value, "action_id": claims.action_id, "used_at": utcnow().isoformat()}
    fut = await rt.topics.links_used.send(key=claims.jti.encode(), value=json.dumps(record).encode())
    await fut
