"""What members did with a call to action: signatures and reports back, tallied per country and region."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime

from agents.csvsafe import rows_to_csv
from agents.regions import load_region_table
from schemas.actions import ActionResponse, CallToAction
from schemas.base import utcnow
from schemas.members import Member
from streams.audit import record
from streams.runtime import Runtime


async def record_response(rt: Runtime, member: Member, action: CallToAction, *, what: str | None = None,
                          where: str | None = None, link: str | None = None, via: str,
                          at: datetime | None = None) -> ActionResponse:
    """Publish a member's report that they carried out the action (a later report of theirs replaces it)."""
    response = ActionResponse(action_id=action.action_id, case_id=action.case_id, member_id=member.member_id,
                              organization=member.organization, country=member.country, what=what or None,
                              where=where or None, link=link or None, via=via, at=at or utcnow())
    fut = await rt.topics.actions_reports.send(key=f"{action.action_id}|{member.member_id}".encode(), value=response)
    await fut
    return response


async def record_signature(rt: Runtime, member: Member, action: CallToAction, *, via: str,
                           at: datetime | None = None) -> bool:
    """Publish a signature unless the member already signed; whether it is new. Compacted and keyed by action and
    member: a repeated SIGN (here or after a rebalance) counts once."""
    key = f"{action.action_id}|{member.member_id}"
    if key in rt.views.signatures:
        return False
    row = {"member_id": member.member_id, "organization": member.organization, "country": member.country,
           "signed_at": (at or utcnow()).isoformat(), "via": via}
    fut = await rt.topics.actions_signatures.send(key=key.encode(), value=json.dumps(row).encode())
    await fut
    return True


def tally(rt: Runtime, action_id: str) -> dict:
    """Signatures and reports back per country and per network region, and their times (for the charts)."""
    region_of = load_region_table().network_region
    signatures = rt.views.signatures.of(action_id)
    reports = rt.views.responses.of(action_id)
    by_country: dict[str, Counter] = defaultdict(Counter)
    by_region: dict[str, Counter] = defaultdict(Counter)
    for row in signatures:
        by_country[row["country"]]["signatures"] += 1
        by_region[region_of(row["country"]).value]["signatures"] += 1
    for rep in reports:
        by_country[rep.country]["reports"] += 1
        by_region[region_of(rep.country).value]["reports"] += 1
    return {
        "signatures": len(signatures), "reports": len(reports),
        "by_country": {c: dict(n) for c, n in sorted(by_country.items())},
        "by_region": {r: dict(n) for r, n in sorted(by_region.items())},
        "times": {"signatures": [datetime.fromisoformat(r["signed_at"]) for r in signatures],
                  "reports": [r.at for r in reports]},
        "report_rows": reports,
    }


REPORT_COLUMNS = ["member_id", "organization", "country", "what", "where", "link", "via", "at"]


def reports_csv(rt: Runtime, action_id: str) -> str:
    """CSV of members' reports back; every cell neutralised (what and where are typed by people)."""
    return rows_to_csv(REPORT_COLUMNS, ([r.member_id, r.organization, r.country, r.what or "", r.where or "",
                                         r.link or "", r.via, r.at.isoformat()] for r in rt.views.responses.of(action_id)))


async def export_reports(rt: Runtime, action: CallToAction, token_id: str) -> str:
    """The reports-back CSV of an action, the export audited first (as `token_id`)."""
    text = reports_csv(rt, action.action_id)
    await record(rt, token_id, "export.action_reports", action.action_id, action.case_id,
                 rows=len(rt.views.responses.of(action.action_id)))
    return text
