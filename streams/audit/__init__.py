"""The tamper-evident audit trail (SECURITY.md, "Audit trail").

    chain.py   sealing an entry onto the one before it, and the walk that names the first broken entry
    record.py  `record` (worker) and `record_sync` (command line): an action onto audit.submitted.v1
    log.py     reading audit.log.v1 (one partition) with its offsets
    view.py    the recent entries and the chain's verdict, kept up to date for the dashboard

The writer that chains requests onto audit.log.v1 is the stage streams/stages/audit.py.
"""

from __future__ import annotations

from streams.audit.chain import Kind, Problem, Walker, chain_entry, verify
from streams.audit.record import CLI, SYSTEM, audit_key, record, record_sync

__all__ = ["CLI", "Kind", "Problem", "SYSTEM", "Walker", "audit_key", "chain_entry", "record", "record_sync",
           "verify"]
