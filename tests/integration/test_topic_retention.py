"""Retention as intended on a real broker: the case history is kept forever, also on a deployment whose topics
were created before that rule (with the broker's default of 7 days)."""

from __future__ import annotations

import uuid

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

from streams import topics
from streams.admin import ensure_topics
from streams.settings import Settings

WEEK_MS = str(7 * 24 * 3600 * 1000)


def retention(admin: KafkaAdminClient, name: str, keys=("cleanup.policy", "retention.ms")) -> dict:
    found = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])["topic"][name]
    return {key: found[key]["value"] for key in keys}


def test_ensure_topics_keeps_case_history_and_approved_actions_forever_even_on_old_topics(kafka):
    settings = Settings(topic_prefix=f"test-ret-{uuid.uuid4().hex[:8]}.", kafka={"bootstrap_servers": kafka})
    events = topics.full_name(topics.CASE_EVENTS, settings.topic_prefix)
    approved = topics.full_name(topics.ACTIONS, settings.topic_prefix)
    admin = KafkaAdminClient(bootstrap_servers=[kafka])
    try:
        # As an earlier version left it: the case history on the broker's default retention.
        admin.create_topics([NewTopic(events, 1, 1, topic_configs={"retention.ms": WEEK_MS})])
        ensure_topics(settings)
        assert retention(admin, events) == {"cleanup.policy": "delete", "retention.ms": "-1"}
        assert retention(admin, approved) == {"cleanup.policy": "delete", "retention.ms": "-1"}
        for spec in topics.CATALOGUE:
            # Every key of the catalogue's configuration, e.g. the data keys' hourly segments (a shredded key's
            # old record must not linger on the broker).
            name = topics.full_name(spec, settings.topic_prefix)
            assert retention(admin, name, keys=tuple(spec.config())) == spec.config(), spec.name
    finally:
        admin.delete_topics([topics.full_name(s, settings.topic_prefix) for s in topics.CATALOGUE])
        admin.close()
