"""Dashboard sessions end when idle too long, at their absolute limit, and when their token is revoked."""

from __future__ import annotations

import time


from streams.web.ui.session import Sessions


async def test_a_session_used_within_the_idle_timeout_stays_until_the_absolute_limit():
    sessions = Sessions(idle_seconds=30 * 60, max_seconds=8 * 3600)
    raw, session = await sessions.create("desk", "tok_1", "hash1")
    start = session.last_seen
    for minutes in range(20, 8 * 60, 20):  # used every 20 minutes all day
        assert await sessions.get(raw, now=start + minutes * 60) is not None, minutes
    assert await sessions.get(raw, now=start + 8 * 3600 + 1) is None, "past 8 hours the session ends however busy"


async def test_a_session_left_idle_for_31_minutes_ends():
    sessions = Sessions(idle_seconds=30 * 60)
    raw, session = await sessions.create("desk", "tok_1", "hash1")
    assert await sessions.get(raw, now=session.last_seen + 31 * 60) is None
    assert await sessions.get(raw, now=time.time()) is None, "an ended session does not come back"


async def test_revoking_a_token_ends_every_session_it_opened_and_no_other():
    sessions = Sessions()
    a, _ = await sessions.create("desk", "tok_1", "hash1")
    b, _ = await sessions.create("desk (laptop)", "tok_1", "hash1")
    c, _ = await sessions.create("other", "tok_2", "hash2")
    assert await sessions.end_for_token("hash1") == 2
    assert await sessions.get(a) is None and await sessions.get(b) is None
    assert await sessions.get(c) is not None
