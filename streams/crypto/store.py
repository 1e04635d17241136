"""keys.data.v1 on the broker: a reading thread that folds it into DataKeys, and an acknowledged publish."""

from __future__ import annotations

import logging
import threading
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from streams import topics as catalogue
from streams.crypto.datakeys import DataKeys
from streams.settings import Settings

log = logging.getLogger("solidarity.crypto")
# kafka-python narrates every connection at INFO; the worker's log is for what matters.
for _name in ("kafka", "kafka.conn", "kafka.client", "kafka.producer", "kafka.consumer", "kafka.coordinator",
              "kafka.cluster", "kafka.metrics"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class KafkaKeyStore:
    """Reads keys.data.v1 from the beginning in a daemon thread and publishes with acks=all."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = catalogue.full_name(catalogue.DATA_KEYS, settings.topic_prefix)
        self.keys: DataKeys | None = None
        self._producer = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    def publish(self, records: list[tuple[str, bytes | None]]) -> None:
        if self._producer is None:
            from streams.admin import producer
            self._producer = producer(self.settings)
        futures = [self._producer.send(self.topic, key=key.encode(), value=value) for key, value in records]
        self._producer.flush(timeout=30)
        for fut in futures:
            fut.get(timeout=30)

    def start(self, keys: DataKeys, timeout: float = 60.0) -> None:
        """Start reading and wait until every key present at start is read."""
        self.keys = keys
        self._thread = threading.Thread(target=self._run, name="solidarity-data-keys", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"data keys ({self.topic}) not read within {timeout:.0f} s: {self.error or 'no answer'}")

    def stop(self) -> None:
        self._stop.set()
        if self._producer is not None:
            try:
                self._producer.close(timeout=5)
            except Exception:  # noqa: BLE001 - closing at exit
                pass

    def _run(self) -> None:
        servers = [hp.strip() for hp in self.settings.kafka.bootstrap_servers.split(",")]
        while not self._stop.is_set():
            try:
                consumer = KafkaConsumer(bootstrap_servers=servers, group_id=None, enable_auto_commit=False,
                                         client_id=f"{self.settings.app_id}-data-keys", fetch_max_wait_ms=500)
                try:
                    self._follow(consumer)
                finally:
                    consumer.close()
            except KafkaError as exc:
                self.error = type(exc).__name__
                log.warning("data keys: %s; reading again in 1 s", self.error)
                time.sleep(1.0)

    def _follow(self, consumer: KafkaConsumer) -> None:
        parts = None
        while parts is None and not self._stop.is_set():
            found = consumer.partitions_for_topic(self.topic)
            if found:
                parts = [TopicPartition(self.topic, p) for p in sorted(found)]
            else:
                self.error = f"topic {self.topic} missing"
                time.sleep(0.5)
        if parts is None:
            return
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        while not self._stop.is_set():
            for batch in consumer.poll(timeout_ms=1000, max_records=5000).values():
                for record in batch:
                    if record.key is not None:
                        self.keys.apply(record.key.decode(), record.value)
            if not self._ready.is_set() and all(consumer.position(tp) >= end[tp] for tp in parts):
                self._ready.set()
