"""Retention and crypto-shredding in the worker: destroy a shredded case's data keys, and expire what is due.

A case is shredded by a `shredded` event on cases.events.v1 (from `solidarity cases shred`, the API, or the
expiry timer below). The case agent folds it into a tombstone first (streams/stages/cases.py), then calls
`shred_case_keys`: the data keys of `case:<id>` and of every case id merged into it are destroyed, and every
copy of what they sealed, in any topic, changelog, store or backup, can no longer be opened.

The `expire_retention` timer looks at the cases this worker owns (actively) every retention.check_every_seconds
and emits a `shredded` event for each dismissed or closed case whose retention is over (agents/retention.py); the
worker that owns partition 0 of the cases table also shreds the keys of months whose retention is over.
"""

from __future__ import annotations

import asyncio
import logging
import time

from agents.casefile import merged_ids
from agents.retention import RetentionPolicy, case_expiry, expired_periods
from schemas.base import utcnow
from schemas.cases import Case, CaseEvent, CaseEventKind
from streams import crypto
from streams.audit import SYSTEM, record
from streams.ownership import Ownership
from streams.runtime import Runtime

log = logging.getLogger("solidarity.retention")


def case_subjects(case: Case) -> list[str]:
    """The key subjects of a case: its own and those of every case id merged into it."""
    return [f"case:{case_id}" for case_id in merged_ids(case)]


async def shred_case_keys(rt: Runtime, case: Case, event: CaseEvent | None = None) -> int:
    """Destroy the data keys of a shredded case not destroyed yet (a repeat is harmless); how many subjects."""
    keys = crypto.sealer().keys
    todo = [s for s in case_subjects(case) if not keys.is_shredded(s)]
    if not todo:
        return 0
    reason = case.shred_reason or (event.reason if event else None) or "shredded"
    try:
        # Blocks on the brokers' acknowledgement: off the event loop.
        destroyed = await asyncio.to_thread(keys.shred, todo, reason)
    except Exception as exc:  # noqa: BLE001 - the tombstone stands; the retention check tries the keys again
        log.error("case %s: data keys not destroyed yet (%s); retried at the next retention check", case.case_id,
                  type(exc).__name__)
        return 0
    log.info("case %s shredded: %d subject(s), %d data key(s) destroyed", case.case_id, len(todo), destroyed)
    # Who asked is audited where it was asked (API, dashboard, command line, the expiry below); this is the keys.
    await audited(rt, "keys.shred", case.case_id, case.case_id, subjects=len(todo), keys=destroyed)
    return len(todo)


async def audited(rt: Runtime, action: str, subject: str, case_id: str | None = None, **detail) -> None:
    """Record a system action in the audit trail; a failure is logged, never raised (the shred is done)."""
    try:
        await record(rt, SYSTEM, action, subject, case_id, **detail)
    except Exception as exc:  # noqa: BLE001 - the keys are gone either way; the case agent must go on
        log.error("audit of %s %s failed: %s", action, subject, type(exc).__name__)


def policy_of(rt: Runtime) -> RetentionPolicy:
    r = rt.settings.retention
    return RetentionPolicy(dismissed_days=r.dismissed_days, closed_days=r.closed_days, period_days=r.period_days)


def expiry_event(case_id: str, reason: str) -> CaseEvent:
    """The shredded event retention emits for a case (one id per case: emitting it twice folds once)."""
    return CaseEvent(event_id=f"{case_id}:retention", case_id=case_id, kind=CaseEventKind.shredded, actor=SYSTEM,
                     reason=reason, data={"by": "retention"})


class Retention:
    """The expire_retention timer of one worker."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.owner = Ownership(rt, rt.tables.cases)
        self.emitted: dict[str, float] = {}  # case_id -> when its expiry was emitted (time.monotonic())

    def register(self) -> None:
        every = self.rt.settings.retention.check_every_seconds
        self.rt.app.timer(interval=every, name="expire_retention")(self.expire)

    async def expire(self) -> None:
        """Emit a shredded event for every owned case whose retention is over; shred expired months' keys."""
        if not self.rt.views.ready:
            return
        active = self.owner.active()
        if not active:
            return
        now, policy = utcnow(), policy_of(self.rt)
        await self.finish_shredding(active)
        cases = await self.expire_cases(active, now, policy)
        periods = await self.expire_periods(active, now, policy)
        if cases or periods:
            log.info("retention: %d case(s) expired, %d month key subject(s) shredded", cases, periods)

    async def finish_shredding(self, active: set[int]) -> int:
        """Destroy the keys of owned tombstones whose keys are still there (the broker failed at shred time)."""
        keys, done = crypto.sealer().keys, 0
        for key, raw in list(self.rt.tables.cases.table.items()):
            if (isinstance(raw, dict) and raw.get("shredded_at") and not keys.is_shredded(f"case:{key}")
                    and self.owner.owns(key, active)):
                case = self.rt.tables.cases.get(key)
                if case is not None:
                    done += await shred_case_keys(self.rt, case)
        return done

    def due(self, active: set[int], now, policy: RetentionPolicy) -> list[tuple[str, str]]:
        """(case_id, reason) of every case owned now whose retention is over (read without opening a case)."""
        out = []
        # The stored JSON: a case's status and dates are never sealed, so nothing needs decrypting here.
        for key, raw in list(self.rt.tables.cases.table.items()):
            if isinstance(raw, dict) and self.owner.owns(key, active):
                reason = case_expiry(raw, now, policy)
                if reason is not None:
                    out.append((key, reason))
        return out

    async def expire_cases(self, active: set[int], now, policy: RetentionPolicy) -> int:
        """Emit the shredded events; a case's event is emitted again only if it has not folded for a while."""
        again_after = max(60.0, 3 * self.rt.settings.retention.check_every_seconds)
        clock = time.monotonic()
        due = self.due(active, now, policy)
        still = {case_id for case_id, _ in due}
        self.emitted = {k: at for k, at in self.emitted.items() if k in still}
        sent = 0
        for case_id, reason in due:
            if clock - self.emitted.get(case_id, -again_after) < again_after:
                continue
            ev = expiry_event(case_id, reason)
            await audited(self.rt, "case.shred", case_id, case_id, event_id=ev.event_id, by="retention")
            await self.rt.topics.cases_events.send(key=case_id.encode(), value=ev)
            self.emitted[case_id] = clock
            sent += 1
        return sent

    async def expire_periods(self, active: set[int], now, policy: RetentionPolicy) -> int:
        """Shred the month subjects whose retention is over (one worker does it: the owner of partition 0)."""
        if 0 not in active:
            return 0
        keys = crypto.sealer().keys
        todo = [s for s in expired_periods(keys.subjects(), now, policy) if not keys.is_shredded(s)]
        if not todo:
            return 0
        destroyed = await asyncio.to_thread(keys.shred, todo, f"retention: {policy.period_days:g} days after the month")
        await audited(self.rt, "keys.shred", "periods", months=todo[:20], subjects=len(todo), keys=destroyed)
        return len(todo)
