"""The audit log as the dashboard shows it: the chain's verdict and the newest entries, overall and per case.

Read on demand and incrementally: each refresh reads audit.log.v1 (one partition) from where the last one
stopped and feeds the new records to the same walker, so the verdict covers the whole log without reading it
all again; when the log's first offset has moved (records deleted from its start), everything is read again.
The command `solidarity audit verify` always reads the whole log.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from streams.audit import log as audit_log
from streams.audit.chain import Problem, Walker, parse
from streams.settings import Settings

KEEP = 500  # newest entries kept overall
KEEP_PER_CASE = 100


@dataclass(frozen=True)
class Snapshot:
    """The verdict over the whole log and the rows asked for, as of one refresh."""

    intact: bool
    entries: int
    head: dict[str, Any] | None
    first: Problem | None
    problems: dict[int, Problem]  # by offset
    rows: list[Row]


@dataclass(frozen=True)
class Row:
    """One record of the log as shown: its offset, its fields (None when it does not parse), whether it verifies."""

    offset: int
    data: dict[str, Any] | None
    genuine: bool


class AuditView:
    """The walker over the whole log and the newest rows, refreshed from the broker (blocking: use a thread)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._reset(b"")

    def _reset(self, key: bytes) -> None:
        self.walker = Walker(key)
        self.first: int | None = None
        self.position = 0
        self.recent: deque[Row] = deque(maxlen=KEEP)
        self.by_case: defaultdict[str, deque[Row]] = defaultdict(lambda: deque(maxlen=KEEP_PER_CASE))

    def snapshot(self, key: bytes, case_id: str | None = None, limit: int = 200) -> Snapshot:
        """Refresh, then the verdict and the newest rows first, of one case or of all (blocking)."""
        with self._lock:
            walker = self._refresh(key)
            source = self.by_case.get(case_id, ()) if case_id else self.recent
            return Snapshot(walker.intact, walker.entries, walker.head, walker.first,
                            {p.offset: p for p in walker.problems}, list(source)[::-1][:limit])

    def _refresh(self, key: bytes) -> Walker:
        """Read what was appended since the last refresh and check it."""
        first, end = audit_log.bounds(self.settings)
        if first != self.first or key != self.walker.key or end < self.position:
            self._reset(key)
            self.first = self.position = first
        for offset, raw in audit_log.read(self.settings, self.position, end):
            data = self.walker.feed(offset, raw)
            row = Row(offset, data if data is not None else parse(raw), data is not None)
            self.recent.append(row)
            case_id = (row.data or {}).get("case_id")
            if isinstance(case_id, str) and case_id:
                self.by_case[case_id].append(row)
            self.position = offset + 1
        self.position = max(self.position, end)
        return self.walker
