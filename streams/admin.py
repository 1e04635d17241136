"""Synchronous Kafka tooling with kafka-python: create topics, publish records, read compacted topics."""

from __future__ import annotations

import time
from collections.abc import Iterator

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streams import topics as catalogue
from streams.settings import Settings


class KafkaUnavailable(Exception):
    """The Kafka cluster could not be reached."""


def _servers(settings: Settings) -> list[str]:
    return [s.strip() for s in settings.kafka.bootstrap_servers.split(",") if s.strip()]


def ensure_topics(settings: Settings) -> list[str]:
    """Create every catalogue topic that is missing, with its partitions and config; return those created."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=_servers(settings), client_id="solidarity-admin",
                                 request_timeout_ms=15000)
    except KafkaError:
        raise KafkaUnavailable(f"no Kafka broker answers at {settings.kafka.bootstrap_servers}") from None
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(name=catalogue.full_name(spec, settings.topic_prefix),
                     num_partitions=spec.partition_count(settings.kafka.partitions),
                     replication_factor=settings.kafka.replication_factor,
                     topic_configs=spec.config())
            for spec in catalogue.CATALOGUE
            if catalogue.full_name(spec, settings.topic_prefix) not in existing
        ]
        created = []
        for topic in wanted:
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
        align_configs(admin, settings, existing)
        wait_for_leaders(admin, [catalogue.full_name(spec, settings.topic_prefix) for spec in catalogue.CATALOGUE],
                         settings.kafka.topics_ready_seconds)
        return created
    finally:
        admin.close()


def leaderless(admin: KafkaAdminClient, names: list[str]) -> list[str]:
    """The topics among `names` that are missing or have a partition without a leader."""
    described = {t["name"]: t for t in admin.describe_topics(names)}
    return [name for name in names
            if name not in described or described[name].get("error_code")
            or not described[name].get("partitions")
            or any(p.get("error_code") or p.get("leader_id", -1) < 0 for p in described[name]["partitions"])]


def wait_for_leaders(admin: KafkaAdminClient, names: list[str], timeout: float) -> None:
    """Wait until every topic in `names` has a leader on each partition.

    A consumer group whose leader assigns partitions before a new topic is visible leaves that topic unowned: on a
    busy broker, topics just created can take seconds to get leaders, and a worker started at that moment would
    process nothing from them (seen with three workers starting at once on fresh topics).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            missing = leaderless(admin, names)
        except KafkaError:
            missing = names
        if not missing:
            return
        if time.monotonic() > deadline:
            raise KafkaUnavailable(f"{len(missing)} topics have no leader after {timeout:.0f} s "
                                   f"(first: {missing[0]})")
        time.sleep(0.25)


def align_configs(admin: KafkaAdminClient, settings: Settings, existing: set[str]) -> list[str]:
    """Bring existing catalogue topics to the catalogue's cleanup policy and retention; return those changed.

    Topics are only created once: without this, a deployment made before a retention change (the case history
    kept forever instead of the broker's 7 days) would keep the old setting silently.
    """
    specs = {catalogue.full_name(spec, settings.topic_prefix): spec for spec in catalogue.CATALOGUE}
    names = [name for name in specs if name in existing]
    if not names:
        return []
    found = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name) for name in names])
    current = found.get("topic", {}) if isinstance(found, dict) else {}
    changed = []
    for name in names:
        want = specs[name].config()
        have = {key: (current.get(name, {}).get(key) or {}).get("value") for key in want}
        if have != want:
            admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs=want)])
            changed.append(name)
    return changed


def producer(settings: Settings) -> KafkaProducer:
    """A producer that waits for all in-sync replicas: what it reports sent is durable."""
    try:
        return KafkaProducer(bootstrap_servers=_servers(settings), acks="all", linger_ms=5,
                             client_id="solidarity-cli", retries=5)
    except KafkaError:
        raise KafkaUnavailable(f"no Kafka broker answers at {settings.kafka.bootstrap_servers}") from None


def read_all(settings: Settings, spec: catalogue.TopicSpec, timeout: float = 10.0) -> Iterator[tuple[bytes | None, bytes]]:
    """Every record of a topic from the beginning to its current end (no consumer group)."""
    name = catalogue.full_name(spec, settings.topic_prefix)
    try:
        consumer = KafkaConsumer(bootstrap_servers=_servers(settings), enable_auto_commit=False, group_id=None,
                                 consumer_timeout_ms=1000)
    except KafkaError:
        raise KafkaUnavailable(f"no Kafka broker answers at {settings.kafka.bootstrap_servers}") from None
    try:
        parts = [TopicPartition(name, p) for p in (consumer.partitions_for_topic(name) or ())]
        if not parts:
            return
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < end[tp] for tp in parts) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                for record in batch:
                    yield record.key, record.value
    finally:
        consumer.close()
