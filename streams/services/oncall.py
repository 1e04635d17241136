"""Who is on call now (GET /api/v1/oncall and the dashboard): each schedule's members and until when."""

from __future__ import annotations

from datetime import datetime

from agents.paging import display
from streams.runtime import Runtime


def on_call_now(rt: Runtime, at: datetime | None = None) -> dict:
    """Every schedule with who is on call at `at` (now), the next hand-off, and the policies that page them."""
    escalator = rt.hooks.escalator
    if escalator is None:
        return {"schedules": [], "policies": []}
    members = rt.views.members
    at = at or escalator.clock()
    schedules = []
    for now in escalator.on_call_now(at):
        schedule = escalator.schedules[now.schedule_id]
        schedules.append({
            "id": schedule.id, "name": schedule.name, "timezone": schedule.timezone,
            "on_call": [{"member_id": m, "name": display(members.get(m))} for m in now.member_ids],
            "since": now.since.isoformat() if now.since else None,
            "until": now.until.isoformat() if now.until else None, "override": now.override,
        })
    policies = [{"id": p.id, "name": p.name, "urgency": [u.value for u in p.match.urgency],
                 "regions": [r.value for r in p.match.regions], "repeat": p.repeat,
                 "steps": [{"targets": [t.model_dump(exclude_none=True, exclude_defaults=True) for t in s.targets],
                            "channels": [c.value for c in s.channels], "delay_seconds": s.delay.total_seconds()}
                           for s in p.steps]} for p in escalator.policies]
    return {"at": at.isoformat(), "schedules": schedules, "policies": policies}
