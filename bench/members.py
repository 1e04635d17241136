"""Generate large member CSVs with valid phone numbers (phonenumbers example mobiles, trailing digits varied)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import phonenumbers

from agents.members_csv import HEADER

LANGUAGES = {
    "es": ["MX", "CO", "GT", "HN", "PE", "AR", "CL", "ES", "BO", "EC", "PY", "SV", "NI"],
    "pt": ["BR", "PT", "MZ", "AO", "CV"],
    "fr": ["FR", "SN", "CM", "CD", "CI", "HT", "ML", "BF", "BE", "MG", "CA"],
    "ar": ["EG", "MA", "TN", "JO", "LB", "IQ", "SD", "DZ", "YE"],
    "en": ["GB", "US", "KE", "NG", "PH", "IN", "ZA", "UG", "GH", "BD", "PK", "ID", "NP", "LK", "ZW", "MY"],
}
TAIL_GROUP = "bench-tail"


def phones(country: str):
    """Valid mobile numbers for a country, in a fixed order: the example number with its last 5 digits varied."""
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    national = phonenumbers.national_significant_number(example)
    for tail in range(100_000):
        number = phonenumbers.parse(f"+{example.country_code}{national[:-5]}{tail:05d}", None)
        if phonenumbers.is_valid_number(number):
            yield phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def member_rows(total: int, tail_share: float = 0.01, oncall: int = 0) -> list[dict]:
    """`total` members (role member, SMS and email) plus `oncall` secretariat contacts; the last rows carry
    the working group TAIL_GROUP, so a filtered member count tells when the worker has read them all."""
    pairs = [(lang, c) for lang, cs in LANGUAGES.items() for c in cs]
    sources = {c: phones(c) for _, c in pairs}
    tail_from = total - max(1, int(total * tail_share))
    rows = []
    for n in range(total + oncall):
        lang, country = pairs[n % len(pairs)]
        is_oncall = n >= total
        rows.append({
            "member_id": f"b{n:06d}", "organization": f"Bench Organisation {n}", "contact_name": f"Contact {n}",
            "phone": next(sources[country]), "email": f"contact.{n:06d}@example.org", "language": lang,
            "country": country, "working_groups": TAIL_GROUP if tail_from <= n < total else "",
            "channels": "sms;email", "roles": "secretariat_oncall" if is_oncall else "member", "opted_out": "",
        })
    return rows


def write_csv(rows: list[dict], path: Path) -> Path:
    """Write rows with the member CSV header."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(HEADER))
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def tail_count(rows: list[dict]) -> int:
    """How many rows carry the tail marker."""
    return sum(1 for r in rows if r["working_groups"] == TAIL_GROUP)
