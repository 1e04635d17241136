"""CSV cells a spreadsheet will not run as formulas (OWASP "CSV injection"), and their exact inverse.

A cell that starts with one of TRIGGERS is written with a leading apostrophe, which spreadsheets read as
"this is text". So that import can undo it without guessing, a cell that is already apostrophes followed by a
trigger (``'=x``, ``''+1``) gets one more apostrophe too; `restore` then strips one apostrophe exactly when
what follows would itself have needed one. A cell like ``'hello`` is left alone both ways.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

# OWASP's list: a spreadsheet evaluates a cell starting with any of these as a formula.
TRIGGERS: frozenset[str] = frozenset({"=", "+", "-", "@", "\t", "\r"})
QUOTE = "'"


def _needs_prefix(cell: str) -> bool:
    rest = cell.lstrip(QUOTE)
    return bool(rest) and rest[0] in TRIGGERS


def neutralise(cell: str) -> str:
    """The cell as a spreadsheet shows it as text: prefixed with ' when it could start a formula."""
    return QUOTE + cell if _needs_prefix(cell) else cell


def restore(cell: str) -> str:
    """The inverse of neutralise: the cell as it was before export (restore(neutralise(x)) == x)."""
    if cell.startswith(QUOTE) and _needs_prefix(cell[1:]):
        return cell[1:]
    return cell


def neutralise_row(cells: Iterable[object]) -> list[str]:
    """Every cell of a row as text (None as empty, like csv.writer), neutralised."""
    return [neutralise("" if cell is None else str(cell)) for cell in cells]


def restore_row(cells: Iterable[str]) -> list[str]:
    """Every cell of a row restored."""
    return [restore(cell) for cell in cells]


def rows_to_csv(header: Iterable[str], rows: Iterable[Iterable[object]], *, lineterminator: str = "\r\n") -> str:
    """A CSV text of the header and rows with every cell neutralised (RFC 4180 line ends by default)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=lineterminator)
    writer.writerow(neutralise_row(header))
    for row in rows:
        writer.writerow(neutralise_row(row))
    return out.getvalue()


def read_rows(text: str) -> list[list[str]]:
    """The rows of a CSV text written by rows_to_csv (header first), every cell restored."""
    return [restore_row(cells) for cells in csv.reader(io.StringIO(text, newline=""))]
