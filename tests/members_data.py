"""The demo members as tests see them (read from deploy/demo/members.csv)."""

from __future__ import annotations

import csv

from testing.stack import ROOT

MEMBERS_CSV = ROOT / "deploy" / "demo" / "members.csv"
SIGN_WORDS = {"en": "SIGN", "es": "FIRMO", "fr": "SIGNE", "pt": "ASSINO", "ar": "أوقع"}
TEMPLATE_MARKERS = {"en": "Reply SIGN", "es": "Responde FIRMO", "fr": "Répondez SIGNE", "pt": "Responda ASSINO",
                    "ar": "أرسل أوقع"}


def demo_members() -> list[dict]:
    """Rows of the demo CSV with list fields split."""
    rows = []
    with MEMBERS_CSV.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            for field in ("channels", "roles", "opted_out", "working_groups"):
                row[field] = [v for v in row[field].replace("|", ";").split(";") if v]
            rows.append(row)
    return rows


def eligible(rows: list[dict], channel: str) -> list[dict]:
    """Members a call to action to everyone reaches on a channel."""
    address = "phone" if channel == "sms" else "email"
    return [r for r in rows if "member" in r["roles"] and channel in r["channels"] and channel not in r["opted_out"]
            and r[address]]
