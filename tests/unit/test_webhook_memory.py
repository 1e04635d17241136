"""Webhook de-duplication memory: a MessageSid is remembered as long as its reply can still be on the topic."""

from datetime import datetime, timedelta, timezone

from streams import topics
from streams.settings import Settings
from streams.web.webhooks import expired_webhook_keys, webhook_memory_seconds

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def at(**ago) -> str:
    return (NOW - timedelta(**ago)).isoformat()


def test_sids_are_remembered_as_long_as_the_replies_topic_keeps_replies():
    assert webhook_memory_seconds(Settings()) == topics.REPLIES.retention_ms / 1000 == 30 * 24 * 3600


def test_a_topic_kept_forever_means_sids_are_kept_forever(monkeypatch):
    monkeypatch.setattr(topics, "REPLIES", topics.TopicSpec("replies.received.v1", "x", key="k",
                                                            retention_ms=topics.FOREVER))
    assert webhook_memory_seconds(Settings()) is None
    monkeypatch.setattr(topics, "REPLIES", topics.TopicSpec("replies.received.v1", "x", compacted=True, key="k",
                                                            retention_ms=topics.FOREVER))
    assert webhook_memory_seconds(Settings()) is None


CASES = [
    # (handled, kept for, forgotten?)
    (at(days=3), 30 * 24 * 3600, False),  # the old 2-day timer would have forgotten this one
    (at(days=29, hours=23), 30 * 24 * 3600, False),
    (at(days=30, seconds=1), 30 * 24 * 3600, True),
    (at(days=400), None, False),  # kept forever
    (at(seconds=10), 5, True),
    ((NOW - timedelta(days=31)).replace(tzinfo=None).isoformat(), 30 * 24 * 3600, True),  # naive: taken as UTC
    ("not a time", 30 * 24 * 3600, True),  # cannot be dated: would otherwise stay for ever
]


def test_expired_keys_table():
    for handled, keep, forgotten in CASES:
        assert expired_webhook_keys({"sms:SM1": handled}, NOW, keep) == (["sms:SM1"] if forgotten else []), handled


def test_only_expired_keys_are_listed():
    seen = {"sms:old": at(days=31), "status:SM2:delivered": at(days=1), "sms:new": at(minutes=1)}
    assert expired_webhook_keys(seen, NOW, webhook_memory_seconds(Settings())) == ["sms:old"]
