"""Faust tables: state folded from topics, backed by changelog topics so a restarted worker recovers it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from pydantic import BaseModel

from schemas.actions import CallToAction
from schemas.audit import TokenRecord
from schemas.cases import Case
from streams.runtime import Runtime

M = TypeVar("M", bound=BaseModel)


class ModelTable(Generic[M]):
    """A faust table holding pydantic models, kept as JSON in the store and the changelog.

    With `cache=True` the parsed models are kept beside the store and reused while the stored JSON is
    unchanged: validating 100,000 members for every audience selection or member list blocked the worker's
    event loop for seconds. Callers never change a model in place (they copy), so sharing one is safe.
    """

    def __init__(self, table, model: type[M], cache: bool = False) -> None:
        self.table, self.model = table, model
        self._cache: dict[str, tuple[dict, M]] | None = {} if cache else None

    def _parse(self, key: str, raw) -> M:
        if self._cache is None:
            return self.model.model_validate(raw)
        hit = self._cache.get(key)
        if hit is not None and hit[0] == raw:
            return hit[1]
        model = self.model.model_validate(raw)
        self._cache[key] = (raw, model)
        return model

    def get(self, key: str) -> M | None:
        """The model at key, or None."""
        raw = self.table.get(key)
        return None if raw is None else self._parse(key, raw)

    def __setitem__(self, key: str, value: M) -> None:
        raw = value.model_dump(mode="json")
        self.table[key] = raw
        if self._cache is not None:
            self._cache[key] = (raw, value)

    def __contains__(self, key: str) -> bool:
        return key in self.table

    def values(self) -> Iterator[M]:
        """Every model in the locally held partitions."""
        for key, raw in self.table.items():
            yield self._parse(key, raw)

    @property
    def name(self) -> str:
        """The underlying faust table name (for table_route)."""
        return self.table.name


def declare_tables(rt: Runtime) -> None:
    """Declare every table on the app."""
    app, parts = rt.app, rt.settings.kafka.partitions

    def table(name: str, help: str, **kw):
        return app.Table(name, key_type=str, value_type=None, partitions=parts, help=help, **kw)

    tb = rt.tables
    # Read by agents of other topics (fan-out reads cases): lookups must search every local partition.
    tb.cases_raw = table("cases", "Case state by case_id.", use_partitioner=True)
    tb.cases = ModelTable(tb.cases_raw, Case)
    tb.case_aliases = table("case_aliases", "Case id given at intake -> case the report was merged into.",
                            use_partitioner=True)
    tb.dedup_index = table("dedup_index", "Open cases by country|incident_type|case_id, for duplicate detection.")
    tb.tokens = ModelTable(table("tokens", "API tokens by SHA-256 hash.", use_partitioner=True), TokenRecord)

    def keyed(name: str, help: str):
        # Written from batches and from streams keyed otherwise: the changelog partition follows the table
        # key, and the store is memory (rebuilt from the compacted changelog at start-up), because the
        # RocksDB store can only be written inside a single-event context.
        return app.Table(name, key_type=str, value_type=None, partitions=parts, help=help, use_partitioner=True,
                         store="memory://local")

    tb.ledger = keyed("delivery_ledger", "Delivery state by idempotency key: the exactly-once record.")
    tb.actions = ModelTable(keyed("actions", "Approved calls to action by action_id."), CallToAction)
    tb.action_plans = keyed("action_plans", "action_id:slice -> {member_id: [channel, ...]}: the audience as planned.")
    tb.action_stats = keyed("action_stats", "Per-action counts: targeted, queued, sent, delivered, failed, ...")
    tb.early_receipts = keyed("early_receipts", "Receipts that arrived before the sid was recorded.")
    tb.sid_index = keyed("sid_index", "Provider message id -> idempotency key, for status callbacks.")
    tb.signatures = keyed("signatures", "action_id|member_id -> signature.")
    tb.latest_action = keyed("latest_action", "member_id -> the latest call to action sent to them.")
    tb.case_notices = keyed("case_notices", "case_id -> when the on-call was last paged or updated about it.")
    tb.intake_keys = keyed("intake_keys", "sha256(token id, Idempotency-Key) -> the ids given to that report.")
    tb.webhook_seen = keyed("webhook_seen", "MessageSid (+status) already handled: repeats are ignored.")
    tb.auto_replies = keyed("auto_replies", "phone -> times of recent automatic replies (max 3 an hour).")
