"""The audit chain: how an entry is sealed onto the one before it, and the walk that checks a whole log.

Each entry's `mac` is HMAC-SHA256, with the audit key, of the canonical JSON of every other field (sorted keys,
no spaces, UTF-8), `prev` included; `prev` is the `mac` of the entry before (zeros for the first), `seq` counts
from 1. Without the key nobody can make an entry that verifies, so on a log that only grows (a Kafka topic):

* a forged entry does not verify, and no genuine entry chains onto it: **inserted**;
* a copy of a genuine entry verifies but repeats a seq already seen: **inserted**;
* an entry changed where it lies does not verify, but the genuine entry after it still names its mac: **altered**;
* entries taken out leave a gap in seq before the next genuine entry: **removed**.

The newest entry changed in place looks like an inserted one (nothing after it tells the two apart), and the
newest entries taken out leave no trace in the log itself: compare the head `audit verify` prints with one
noted earlier (SECURITY.md).

Pure functions and one small state machine (`Walker`): no Kafka here, so it is checked by unit tests alone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Iterable

from schemas.audit import GENESIS, AuditEntry, AuditRequest

# A log flooded with forgeries must not grow the walker's memory without end.
MAX_SUSPECTS = 10_000


def canonical(data: dict[str, Any]) -> bytes:
    """The bytes an entry's mac covers: its JSON without `mac`, keys sorted, no spaces."""
    body = {k: v for k, v in data.items() if k != "mac"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def mac_of(data: dict[str, Any], key: bytes) -> str:
    """The mac an entry (as JSON data) must carry."""
    return hmac.new(key, canonical(data), hashlib.sha256).hexdigest()


def chain_entry(head: AuditEntry | None, request: AuditRequest, key: bytes) -> AuditEntry:
    """The entry that records `request` after `head` (None: the first entry of the log)."""
    data = request.model_dump(mode="json")
    data.update(seq=head.seq + 1 if head is not None else 1, prev=head.mac if head is not None else GENESIS)
    # Validated before it is sealed: the mac covers exactly what will be on the topic.
    data = AuditEntry.model_validate({**data, "mac": GENESIS}).model_dump(mode="json")
    return AuditEntry.model_validate({**data, "mac": mac_of(data, key)})


def genuine(data: Any, key: bytes) -> bool:
    """Whether JSON data is an entry whose mac was made with this key."""
    return (isinstance(data, dict) and isinstance(data.get("mac"), str)
            and hmac.compare_digest(data["mac"], mac_of(data, key)))


class Kind(StrEnum):
    """What is wrong with an entry."""

    altered = "altered"
    removed = "removed"
    inserted = "inserted"


@dataclass(frozen=True)
class Problem:
    """The first entry where the chain breaks, and why."""

    offset: int
    seq: int | None
    kind: Kind
    reason: str

    def line(self) -> str:
        """One line naming the entry: offset, seq and what is wrong."""
        seq = self.seq if self.seq is not None else "?"
        return f"offset {self.offset} (seq {seq}): {self.kind.value}: {self.reason}"


def parse(raw: bytes | None) -> dict[str, Any] | None:
    """A record's JSON as an entry's fields, or None when it cannot be one."""
    try:
        data = json.loads(raw) if raw is not None else None
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("seq"), int) or not isinstance(data.get("prev"), str):
        return None
    return data


@dataclass
class Walker:
    """Checks a log record by record, in offset order; `problems` names every break found so far."""

    key: bytes
    next_seq: int = 1
    prev: str = GENESIS
    entries: int = 0  # genuine entries in the chain
    problems: list[Problem] = field(default_factory=list)
    head: dict[str, Any] | None = None  # the last genuine entry
    _suspects: dict[str, int] = field(default_factory=dict)  # mac of an entry that did not verify -> its problem

    @property
    def intact(self) -> bool:
        """Whether no record so far breaks the chain."""
        return not self.problems

    @property
    def first(self) -> Problem | None:
        """The first problem in log order."""
        return min(self.problems, key=lambda p: p.offset) if self.problems else None

    def feed(self, offset: int, raw: bytes | None) -> dict[str, Any] | None:
        """Check one record; return its fields when it is a genuine link of the chain (else None)."""
        data = parse(raw)
        if data is None:
            self._flag(offset, None, Kind.inserted, "not an audit entry")
            return None
        seq = data["seq"]
        if not genuine(data, self.key):
            index = self._flag(offset, seq, Kind.inserted, "its MAC does not match: not written with the audit key "
                                                       "(no later entry chains onto it)")
            if isinstance(data.get("mac"), str) and len(self._suspects) < MAX_SUSPECTS:
                self._suspects[data["mac"]] = index
            return None
        if data["prev"] == self.prev and seq == self.next_seq:
            return self._advance(data)
        if data["prev"] in self._suspects:
            # A genuine entry chains onto one that no longer verifies: that one was written by the audit writer
            # and changed afterwards.
            index = self._suspects.pop(data["prev"])
            was = self.problems[index]
            self.problems[index] = Problem(was.offset, was.seq, Kind.altered,
                                           "its content was changed after it was chained (its MAC no longer "
                                           "matches; the next entry still names it)")
            self.next_seq += 1
            if seq != self.next_seq:
                self._gap(offset, seq)
            return self._advance(data)
        if seq < self.next_seq:
            self._flag(offset, seq, Kind.inserted, f"seq {seq} was already in the chain (a copy of an earlier "
                                                   "entry, or a second writer)")
            return None
        if seq > self.next_seq:
            self._gap(offset, seq)
            return self._advance(data)
        self._flag(offset, seq, Kind.inserted, "it does not chain onto the entry before it (prev is not that "
                                               "entry's MAC)")
        return None

    def feed_all(self, records: Iterable[tuple[int, bytes | None]]) -> "Walker":
        """Check every record of an iterable of (offset, value)."""
        for offset, raw in records:
            self.feed(offset, raw)
        return self

    def _gap(self, offset: int, seq: int) -> None:
        missing = f"seq {self.next_seq}" if seq == self.next_seq + 1 else f"seq {self.next_seq} to {seq - 1}"
        self._flag(offset, seq, Kind.removed, f"the entries before it are missing ({missing})")

    def _advance(self, data: dict[str, Any]) -> dict[str, Any]:
        self.next_seq, self.prev, self.head = data["seq"] + 1, data["mac"], data
        self.entries += 1
        return data

    def _flag(self, offset: int, seq: int | None, kind: Kind, reason: str) -> int:
        self.problems.append(Problem(offset, seq, kind, reason))
        return len(self.problems) - 1


def verify(records: Iterable[tuple[int, bytes | None]], key: bytes) -> Walker:
    """Walk a whole log (offset, value) from its first record; the walker holds the verdict."""
    return Walker(key).feed_all(records)
