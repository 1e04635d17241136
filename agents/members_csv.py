"""Member lists as CSV: parse and validate rows into Member models, and write them back out."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from pydantic import ValidationError

from agents.csvsafe import restore, rows_to_csv
from schemas.base import FieldProblem, problems_from
from schemas.members import Member

COLUMNS: tuple[str, ...] = (
    "member_id", "organization", "contact_name", "phone", "email", "language", "country",
    "working_groups", "channels", "roles",
)
OPTIONAL_COLUMNS: tuple[str, ...] = ("opted_out",)
LIST_COLUMNS = frozenset({"working_groups", "channels", "roles", "opted_out"})
HEADER: tuple[str, ...] = COLUMNS + OPTIONAL_COLUMNS
_SPLIT = re.compile(r"[;|]")


class CsvHeaderError(ValueError):
    """The file has no header, or a header with missing, duplicate or unknown columns."""


class BadRow(NamedTuple):
    """A rejected row: its physical line number in the file, its member_id if any, and what is wrong."""

    line: int
    member_id: str | None
    problems: list[FieldProblem]


@dataclass
class ParsedCsv:
    """The outcome of parsing a member CSV."""

    members: list[Member]
    bad_rows: list[BadRow]
    columns: tuple[str, ...]

    @property
    def has_opted_out(self) -> bool:
        """Whether the file carries the opted_out column (so its state is authoritative)."""
        return "opted_out" in self.columns

    def __iter__(self):
        # Lets callers write `good, bad = parse_csv(text)`.
        return iter((self.members, self.bad_rows))


def split_list(cell: str) -> list[str]:
    """A list cell split on ';' or '|', trimmed, without empty items."""
    return [item.strip() for item in _SPLIT.split(cell) if item.strip()]


def _check_header(row: list[str]) -> tuple[str, ...]:
    names = tuple(cell.strip().lower() for cell in row)
    problems = []
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    unknown = [n for n in names if n not in HEADER]
    if unknown:
        problems.append(f"unknown column(s): {', '.join(repr(n) for n in unknown)}")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        problems.append(f"duplicate column(s): {', '.join(dupes)}")
    if problems:
        raise CsvHeaderError("bad header: " + "; ".join(problems) + f" (expected: {','.join(HEADER)})")
    return names


def row_to_data(columns: tuple[str, ...], cells: list[str]) -> dict:
    """The Member fields of one row; an empty cell leaves the field's default (or its absence) in place.

    A cell our export neutralised against formula injection (`'+50491236721`) reads back as written before.
    """
    data: dict = {}
    for name, cell in zip(columns, cells):
        cell = restore(cell.strip()).strip()
        if not cell:
            continue
        data[name] = split_list(cell) if name in LIST_COLUMNS else cell
    return data


def _validate(columns: tuple[str, ...], cells: list[str]) -> tuple[Member | None, list[FieldProblem]]:
    if len(cells) != len(columns):
        return None, [FieldProblem(field="row", message=f"has {len(cells)} cells, the header has {len(columns)}")]
    try:
        return Member.model_validate(row_to_data(columns, cells)), []
    except ValidationError as exc:
        return None, problems_from(exc)


def parse_csv(text: str) -> ParsedCsv:
    """Validate every row of a member CSV; unpacks as (good members, bad rows). Raises CsvHeaderError."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    columns: tuple[str, ...] | None = None
    members: list[Member] = []
    bad: list[BadRow] = []
    seen_ids: dict[str, int] = {}
    seen_phones: dict[str, int] = {}
    end_of_previous = 0
    try:
        for cells in reader:
            # A quoted cell may span lines: a record starts on the line after the previous one ended.
            line, end_of_previous = end_of_previous + 1, reader.line_num
            if not cells or all(not c.strip() for c in cells):
                continue
            if columns is None:
                columns = _check_header(cells)
                continue
            member, problems = _validate(columns, cells)
            id_at = columns.index("member_id")
            raw_id = cells[id_at].strip() if id_at < len(cells) else ""
            if member is not None:
                if member.member_id in seen_ids:
                    problems.append(FieldProblem(field="member_id", message=f"same member_id as line {seen_ids[member.member_id]}"))
                if member.phone and member.phone in seen_phones:
                    problems.append(FieldProblem(field="phone", message=f"same phone as line {seen_phones[member.phone]}"))
            if problems:
                bad.append(BadRow(line=line, member_id=raw_id or None, problems=problems))
                continue
            seen_ids[member.member_id] = line
            if member.phone:
                seen_phones[member.phone] = line
            members.append(member)
    except csv.Error as exc:
        raise CsvHeaderError(f"line {reader.line_num}: not a readable CSV file: {exc}") from None
    if columns is None:
        raise CsvHeaderError(f"empty file: expected a header line ({','.join(HEADER)})")
    return ParsedCsv(members=members, bad_rows=bad, columns=columns)


def member_to_row(member: Member) -> list[str]:
    """One member as CSV cells in HEADER order (list fields joined with ';')."""
    data = member.model_dump(mode="json")
    return [";".join(data[c]) if c in LIST_COLUMNS else (data[c] or "") for c in HEADER]


def to_csv(members: Iterable[Member]) -> str:
    """A CSV (with header, including opted_out) safe to open in a spreadsheet, that parse_csv reads back."""
    return rows_to_csv(HEADER, (member_to_row(m) for m in members), lineterminator="\n")
