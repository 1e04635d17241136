"""Faust tables: state folded from topics, backed by changelog topics so a restarted worker recovers it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from schemas.cases import Case
from schemas.escalation import Escalation
from schemas.replies import SmsDraft
from schemas.notifications import FINAL_STATES, LedgerEntry
from streams import codecs, crypto, stores
from streams.runtime import Runtime

M = TypeVar("M", bound=BaseModel)


class ModelTable(Generic[M]):
    """A faust table holding pydantic models, kept as JSON in the store and the changelog, personal fields sealed.

    With `cache=True` the parsed models are kept beside the store and reused while the stored JSON is
    unchanged: validating 100,000 members for every audience selection or member list blocked the worker's
    event loop for seconds. Callers never change a model in place (they copy), so sharing one is safe.
    With `exclude_none=True` a field that is None is left out of the stored JSON.
    """

    def __init__(self, table, model: type[M], cache: bool = False, exclude_none: bool = False) -> None:
        self.table, self.model, self.exclude_none = table, model, exclude_none
        self._cache: dict[str, tuple[dict, M]] | None = {} if cache else None

    def _validate(self, raw) -> M:
        try:
            return self.model.model_validate(crypto.sealer().open(self.model, raw))
        except ValueError as exc:
            error = codecs.describe(self.model, exc)
        # Raised outside the handler: pydantic's message (the cause) quotes the stored value, personal data too.
        raise error from None

    def _parse(self, key: str, raw) -> M:
        if self._cache is None:
            return self._validate(raw)
        hit = self._cache.get(key)
        if hit is not None and (hit[0] is raw or hit[0] == raw):
            return hit[1]
        model = self._validate(raw)
        self._cache[key] = (raw, model)
        return model

    def get(self, key: str) -> M | None:
        """The model at key, or None."""
        raw = self.table.get(key)
        if raw is None:
            if self._cache is not None:
                self._cache.pop(key, None)
            return None
        return self._parse(key, raw)

    def __setitem__(self, key: str, value: M) -> None:
        raw = crypto.sealer().seal(self.model, value.model_dump(mode="json", exclude_none=self.exclude_none))
        self.table[key] = raw
        if self._cache is not None:
            self._cache[key] = (raw, value)

    def __contains__(self, key: str) -> bool:
        return key in self.table

    def pop(self, key: str, default=None):
        """Delete the key (a tombstone on the changelog); its model, or `default`."""
        if key not in self.table:
            return default
        model = self.get(key)
        del self.table[key]
        if self._cache is not None:
            self._cache.pop(key, None)
        return model

    def items(self, where: Callable[[str], bool] | None = None) -> Iterator[tuple[str, M]]:
        """Every (key, model) in the locally held partitions; with `where`, only keys it accepts (others are
        not parsed)."""
        for key, raw in list(self.table.items()):
            if where is None or where(key):
                yield key, self._parse(key, raw)

    def values(self) -> Iterator[M]:
        """Every model in the locally held partitions."""
        for _, model in self.items():
            yield model

    @property
    def name(self) -> str:
        """The underlying faust table name (for table_route)."""
        return self.table.name

    @property
    def changelog_topic(self):
        """The underlying faust table's changelog topic: what Ownership reads the assignment of."""
        return self.table.changelog_topic


class Ledger(ModelTable[LedgerEntry]):
    """The delivery ledger: idempotency key -> LedgerEntry, the exactly-once record.

    Stored without its empty fields, as entries were when they were dicts. Parsed entries are cached: a send reads
    its entry several times while it is unsettled.
    """

    def __init__(self, table) -> None:
        super().__init__(table, LedgerEntry, cache=True, exclude_none=True)

    # Each entry is held as its JSON bytes, the same bytes the changelog carries (a third of the dict they were),
    # and only unsettled entries stay parsed: a settled one is read again only if its notification turns up
    # again. A fan-out to 100,000 members writes 200,000 entries.
    def __setitem__(self, key: str, value: LedgerEntry) -> None:
        data = crypto.sealer().seal(LedgerEntry, value.model_dump(mode="json", exclude_none=True))
        raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        self.table[key] = raw
        if value.state in FINAL_STATES:
            self._cache.pop(key, None)
        else:
            self._cache[key] = (raw, value)

    def _validate(self, raw) -> LedgerEntry:
        # Bytes as written here (or dicts, in stand-in tables and entries written before this layout).
        return super()._validate(json.loads(raw) if isinstance(raw, (bytes, str)) else raw)

    def _parse(self, key: str, raw) -> LedgerEntry:
        model = super()._parse(key, raw)
        if model.state in FINAL_STATES:
            self._cache.pop(key, None)
        return model

    def unsettled_items(self) -> Iterator[tuple[str, LedgerEntry]]:
        """Every (key, entry) held that is not final; final ones are recognised from their bytes, not parsed."""
        for key, raw in list(self.table.items()):
            if isinstance(raw, bytes) and any(marker in raw for marker in _FINAL_MARKERS):
                continue
            entry = self._parse(key, raw)
            if entry.state not in FINAL_STATES:
                yield key, entry


# How a final state reads in an entry's bytes (json.dumps with compact separators, as __setitem__ writes them).
_FINAL_MARKERS = tuple(f'"state":"{s.value}"'.encode() for s in FINAL_STATES)


@dataclass
class Tables:
    """The partitioned state: each worker holds the partitions it owns (and standby copies of others).

    Only the agent that owns a key reads or writes it (or a timer, for keys of partitions this worker owns
    actively: see streams/ownership.py). State any worker must read is in streams/replicas.py instead.
    """

    cases: ModelTable[Case]  # case_id -> case, folded by the case agent
    case_notices: Any  # case_id -> when the on-call was last paged or updated about it
    dedup_index: Any  # country|incident_type|case_id -> open case summary, kept by the intake agents
    ledger: Ledger  # idempotency key -> delivery state: the exactly-once record
    action_stats: Any  # action_id -> the fan-out's own record of its plan (counts, started, planned, failed)
    early_receipts: Any  # idempotency key -> a receipt that came before the send was recorded
    sid_index: Any  # provider message id -> idempotency key, for this worker's recovery claims
    replies_seen: Any  # MessageSid -> when it was handled (Twilio retries a webhook): in the replies agent
    auto_replies: Any  # blind index of a phone -> times of recent automatic replies (3 an hour at most)
    escalations: ModelTable[Escalation]  # case_id -> its escalation: the durable timer of its next page
    sms_reports: ModelTable[SmsDraft]  # blind index of a reporter's phone -> the guided SMS report under way, and recent report times


def declare_tables(rt: Runtime) -> Tables:
    """Declare every table on the app."""
    app, parts = rt.app, rt.settings.kafka.partitions

    def table(name: str, help: str, **kw):
        return app.Table(name, key_type=str, value_type=None, partitions=parts, help=help, **kw)

    def keyed(name: str, help: str, value_serializer: str | None = None):
        # Written from batches and timers as well as single events: the changelog partition follows the table
        # key, hashed from the same bytes as the topic keyed alike (see codecs.TableKeyCodec), so the worker
        # that consumes a key's topic partition owns its table row. The store is memory (rebuilt from the
        # compacted changelog at start-up), because the RocksDB store can only be written inside a
        # single-event context.
        made = app.Table(name, key_type=str, value_type=None, partitions=parts, help=help, use_partitioner=True,
                         store=f"{stores.SCHEME}://local")
        made.key_serializer = codecs.TABLE_KEY
        if value_serializer:
            made.value_serializer = value_serializer  # "raw": the table holds bytes it encoded itself
        made.changelog_topic = made._new_changelog_topic()  # faust made one with the JSON key serializer
        return made

    rt.tables = Tables(
        cases=ModelTable(keyed("cases", "Case state by case_id."), Case),
        case_notices=keyed("case_notices", "case_id -> when the on-call was last paged or updated about it."),
        dedup_index=table("dedup_index", "Open cases by country|incident_type|case_id, for duplicate detection."),
        ledger=Ledger(keyed("delivery_ledger", "Delivery state by idempotency key: the exactly-once record.",
                            value_serializer="raw")),
        action_stats=keyed("action_stats", "Per-action plan record: targeted, queued, slices, planned, failed."),
        early_receipts=keyed("early_receipts", "Receipts that arrived before the send was recorded, by key."),
        sid_index=keyed("sid_index", "Provider message id -> idempotency key."),
        replies_seen=keyed("replies_seen", "MessageSid already handled: a repeated webhook is ignored."),
        auto_replies=keyed("auto_replies", "blind index of a phone -> times of recent automatic replies (max 3 an hour)."),
        escalations=ModelTable(keyed("escalations", "case_id -> escalation in progress: next step and when."),
                               Escalation, cache=True),
        sms_reports=ModelTable(keyed("sms_reports", "blind index of a reporter's phone -> guided SMS report under way."),
                               SmsDraft),
    )
    return rt.tables
