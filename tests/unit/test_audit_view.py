"""The dashboard's view of the audit log: read incrementally, the verdict still covers the whole log."""

from __future__ import annotations

import json
import secrets

from streams.audit import Kind
from streams.audit import log as audit_log
from streams.audit.view import AuditView
from tests.unit.test_audit_chain import KEY, entries, log_of


def test_new_entries_are_read_on_the_next_look_and_the_verdict_covers_them(monkeypatch):
    records = log_of(entries(3))
    log = {"first": 0}
    monkeypatch.setattr(audit_log, "bounds", lambda s: (log["first"], log["first"] + len(records)))
    monkeypatch.setattr(audit_log, "read", lambda s, start, stop, **kw: iter(records[start - log["first"]:stop]))
    view = AuditView(None)
    seen = view.snapshot(KEY)
    assert seen.intact and seen.entries == 3 and [r.offset for r in seen.rows] == [2, 1, 0]

    forged = json.loads(records[2][1]) | {"seq": 4, "prev": json.loads(records[2][1])["mac"], "mac": secrets.token_hex(32)}
    records.append((3, json.dumps(forged).encode()))
    seen = view.snapshot(KEY, case_id="case_2")
    assert not seen.intact and (seen.first.offset, seen.first.kind) == (3, Kind.inserted)
    assert [r.offset for r in seen.rows] == [3, 2] and not seen.rows[0].genuine

    # Records deleted from the log's start: everything is read again, and the gap is seen.
    del records[0]
    for i, (_, raw) in enumerate(records):
        records[i] = (i + 1, raw)
    log["first"] = 1
    seen = view.snapshot(KEY)
    assert [(p.offset, p.kind) for p in seen.problems.values()] == [(1, Kind.removed), (3, Kind.inserted)]
