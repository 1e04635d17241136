"""Reading audit.log.v1 (one partition) with kafka-python: its bounds, a range of records, the whole log."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from streams import topics as catalogue
from streams.admin import KafkaUnavailable
from streams.settings import Settings


class LogIncomplete(KafkaUnavailable):
    """The log could not be read to its end in time: a verdict on part of it would say nothing."""


def _partition(settings: Settings) -> TopicPartition:
    return TopicPartition(catalogue.full_name(catalogue.AUDIT, settings.topic_prefix), 0)


def _consumer(settings: Settings) -> KafkaConsumer:
    servers = [s.strip() for s in settings.kafka.bootstrap_servers.split(",") if s.strip()]
    try:
        return KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False, group_id=None,
                             consumer_timeout_ms=1000, client_id=f"{settings.app_id}-audit-reader")
    except KafkaError:
        raise KafkaUnavailable(f"no Kafka broker answers at {settings.kafka.bootstrap_servers}") from None


def bounds(settings: Settings) -> tuple[int, int]:
    """The log's first offset and its end (the offset the next entry will get)."""
    consumer = _consumer(settings)
    try:
        tp = _partition(settings)
        return consumer.beginning_offsets([tp])[tp], consumer.end_offsets([tp])[tp]
    finally:
        consumer.close()


def read(settings: Settings, start: int | None = None, stop: int | None = None, timeout: float = 60.0,
         progress: Callable[[int, int], None] | None = None) -> Iterator[tuple[int, bytes | None]]:
    """(offset, value) of every record from `start` (default: the first) up to `stop` (default: the end now).

    Raises LogIncomplete when the end is not reached within `timeout` seconds without progress: a check that
    silently stopped half-way would call a broken chain intact.
    """
    consumer = _consumer(settings)
    try:
        tp = _partition(settings)
        if not consumer.partitions_for_topic(tp.topic):
            return
        first, end = consumer.beginning_offsets([tp])[tp], consumer.end_offsets([tp])[tp]
        start = first if start is None else max(start, first)
        stop = end if stop is None else min(stop, end)
        if start >= stop:
            return
        consumer.assign([tp])
        consumer.seek(tp, start)
        position, deadline = start, time.monotonic() + timeout
        while position < stop:
            if time.monotonic() > deadline:
                raise LogIncomplete(f"{tp.topic}: read stopped at offset {position} of {stop}")
            for batch in consumer.poll(timeout_ms=500, max_records=5000).values():
                for record in batch:
                    if record.offset >= stop:
                        break
                    yield record.offset, record.value
                    position = record.offset + 1
                deadline = time.monotonic() + timeout
            position = max(position, min(consumer.position(tp), stop))
            if progress is not None:
                progress(position - start, stop - start)
    finally:
        consumer.close()
