"""Member CSV parsing: every bad field is reported with its physical line number; good rows round-trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.members_csv import HEADER, CsvHeaderError, parse_csv, split_list, to_csv

ROOT = Path(__file__).resolve().parent.parent.parent
HEAD = "member_id,organization,contact_name,phone,email,language,country,working_groups,channels,roles"
GOOD = "m1,Colectivo Valle Verde,Ana Pérez,+525512345678,ana@example.org,es,MX,land;indigenous,sms|email,member"


def row(**changes: str) -> str:
    """The GOOD row with some cells replaced."""
    cells = dict(zip(HEAD.split(","), GOOD.split(",")))
    cells.update(changes)
    return ",".join(cells.values())


BAD_ROWS = [
    # (row, field, words in the message)
    (row(phone="+52551234"), "phone", "valid phone"),
    (row(phone="5512345678"), "phone", "E.164"),
    (row(email="ana-at-example.org"), "email", "email"),
    (row(language="xx"), "language", "ISO 639-1"),
    (row(language="spanish"), "language", "ISO 639-1"),
    (row(country="ZZ"), "country", "ISO 3166-1"),
    (row(country=""), "country", "required"),
    (row(organization=""), "organization", "required"),
    (row(contact_name=""), "contact_name", "required"),
    (row(member_id="m 1"), "member_id", "pattern"),
    (row(channels="sms;pigeon"), "channels.1", "sms"),
    (row(roles="boss"), "roles.0", "member"),
    (GOOD + ",extra", "row", "11 cells"),
]


@pytest.mark.parametrize(("bad", "field", "words"), BAD_ROWS, ids=[f for _r, f, _w in BAD_ROWS])
def test_each_bad_field_is_reported_with_its_line_number(bad, field, words):
    text = "\n".join([HEAD, GOOD, row(member_id="m2", phone="+525512345679"), bad.replace("m1,", "m3,", 1)]) + "\n"
    good, rejected = parse_csv(text)
    assert [m.member_id for m in good] == ["m1", "m2"]
    assert len(rejected) == 1
    line, member_id, problems = rejected[0]
    assert line == 4
    assert member_id == (bad.split(",")[0].replace("m1", "m3") or None)
    assert field in [p.field for p in problems]
    assert words.lower() in " ".join(p.message for p in problems).lower()


def test_a_row_with_several_problems_lists_them_all():
    good, rejected = parse_csv(f"{HEAD}\n{row(phone='+1', email='x', country='ZZ')}\n")
    assert good == []
    assert {p.field for p in rejected[0].problems} == {"phone", "email", "country"}


def test_rejected_values_are_not_echoed():
    _good, rejected = parse_csv(f"{HEAD}\n{row(phone='+5255999')}\n")
    assert "+5255999" not in " ".join(p.message for p in rejected[0].problems)


def test_line_numbers_are_physical_lines_with_blank_and_multiline_rows():
    multiline = 'm2,"Red de\nPescadores",Luis Cruz,+525512345679,luis@example.org,es,MX,,sms,member'
    text = "\n".join([HEAD, "", GOOD, multiline, "", row(member_id="m3", phone="+52")]) + "\n"
    good, rejected = parse_csv(text)
    assert [m.member_id for m in good] == ["m1", "m2"]
    assert good[1].organization == "Red de\nPescadores"
    assert [(b.line, b.member_id) for b in rejected] == [(7, "m3")]


def test_duplicate_member_id_and_phone_in_one_file_are_rejected():
    text = "\n".join([HEAD, GOOD, row(phone="+525512345679"), row(member_id="m2")]) + "\n"
    good, rejected = parse_csv(text)
    assert [m.member_id for m in good] == ["m1"]
    assert [(b.line, b.problems[0].field) for b in rejected] == [(3, "member_id"), (4, "phone")]
    assert "line 2" in rejected[0].problems[0].message


def test_list_cells_split_on_semicolon_or_pipe_and_defaults_apply():
    assert split_list(" land ; fisherfolk|indigenous ;") == ["land", "fisherfolk", "indigenous"]
    text = f"{HEAD}\nm1,Org,Ana,,ana@example.org,,MX,,,\n"
    (member,), rejected = parse_csv(text)
    assert rejected == []
    assert member.phone is None and member.language == "en" and member.working_groups == []
    assert [c.value for c in member.channels] == ["sms", "email"] and [r.value for r in member.roles] == ["member"]


def test_values_are_normalised():
    (member,), _ = parse_csv(f"{HEAD}\n{row(country='mx', language='ES', phone=' +52 55 1234 5678 ')}\n")
    assert (member.country, member.language, member.phone) == ("MX", "es", "+525512345678")


def test_header_any_order_case_and_bom_with_optional_opted_out():
    head = "\ufeffCountry,member_id,organization,contact_name,phone,email,language,working_groups,channels,roles,OPTED_OUT"
    parsed = parse_csv(f"{head}\nMX,m1,Org,Ana,+525512345678,,es,,sms,member,sms\n")
    assert parsed.has_opted_out
    assert [c.value for c in parsed.members[0].opted_out] == ["sms"]
    assert not parse_csv(f"{HEAD}\n{GOOD}\n").has_opted_out


@pytest.mark.parametrize(("text", "words"), [
    ("", "empty file"),
    ("\n\n", "empty file"),
    ("member_id,organization\nm1,Org\n", "missing column(s): contact_name"),
    (HEAD + ",nickname\n", "unknown column(s): 'nickname'"),
    (HEAD + ",phone\n", "duplicate column(s): phone"),
])
def test_bad_header_is_refused(text, words):
    with pytest.raises(CsvHeaderError) as info:
        parse_csv(text)
    assert words in str(info.value)


def test_to_csv_round_trips():
    text = "\n".join([HEAD + ",opted_out", GOOD + ",sms",
                      'm2,"Comité ""Tierra"", Norte",Luis,,luis@example.org,ar,EG,,email,member;secretariat_oncall,']) + "\n"
    first, rejected = parse_csv(text)
    assert rejected == []
    out = to_csv(first)
    assert out.splitlines()[0] == ",".join(HEADER)
    again, rejected = parse_csv(out)
    assert rejected == []
    assert [m.model_dump(exclude={"updated_at"}) for m in again] == [m.model_dump(exclude={"updated_at"}) for m in first]
    assert to_csv(again) == out


def test_demo_file_is_valid_and_varied():
    good, rejected = parse_csv((ROOT / "deploy" / "demo" / "members.csv").read_text(encoding="utf-8"))
    assert rejected == [] and len(good) == 500
    assert {m.language for m in good} == {"en", "es", "fr", "ar", "pt"}
    assert len({m.country for m in good}) >= 30
    assert sum(1 for m in good if any(r.value == "secretariat_oncall" for r in m.roles)) == 3
    assert any(m.opted_out for m in good) and any(m.working_groups for m in good)
    assert all(m.email.endswith("@example.org") for m in good)
    assert not any(m.phone and m.phone.startswith("+1500555") for m in good)


def test_export_neutralises_formula_cells_and_import_reads_them_back():
    text = "\n".join([HEAD, row(organization="=1+1", phone="+50491236721", country="HN", working_groups="-land;sea"),
                      row(member_id="m2", organization="''@home", phone="+525512345679")]) + "\n"
    members, rejected = parse_csv(text)
    assert rejected == []
    out = to_csv(members)
    cells = [line.split(",") for line in out.splitlines()[1:]]
    assert [c[1] for c in cells] == ["'=1+1", "''@home"]
    assert cells[0][3] == "'+50491236721" and cells[0][7] == "'-land;sea"
    again, rejected = parse_csv(out)
    assert rejected == []
    assert [(m.organization, m.phone, m.working_groups) for m in again] == [
        ("=1+1", "+50491236721", ["-land", "sea"]), ("'@home", "+525512345679", ["land", "indigenous"])]
