"""SMS segment counting: GSM-7 vs UCS-2 and their boundaries."""

from __future__ import annotations

import pytest

from notifiers.segments import segments

CASES = [
    # (name, text, encoding, segments, units)
    ("empty", "", "GSM-7", 1, 0),
    ("gsm 160 fits one", "a" * 160, "GSM-7", 1, 160),
    ("gsm 161 needs two", "a" * 161, "GSM-7", 2, 161),
    ("gsm 306 is two parts of 153", "a" * 306, "GSM-7", 2, 306),
    ("gsm 307 needs three", "a" * 307, "GSM-7", 3, 307),
    ("gsm accents in basic table", "¡Firme hoy! à é ñ Ü ß Ç", "GSM-7", 1, 23),
    ("spanish ó is not gsm", "Acción urgente", "UCS-2", 1, 14),
    ("extension chars count two", "€" * 80, "GSM-7", 1, 160),
    ("one more extension char", "€" * 80 + "a", "GSM-7", 2, 161),
    ("all extension chars", "^{}\\[~]|€\f", "GSM-7", 1, 20),
    ("escape pair not split across parts", "a" * 152 + "€" + "a" * 152, "GSM-7", 3, 306),
    ("ucs2 70 fits one", "Ж" * 70, "UCS-2", 1, 70),
    ("ucs2 71 needs two", "Ж" * 71, "UCS-2", 2, 71),
    ("ucs2 134 is two parts of 67", "Ж" * 134, "UCS-2", 2, 134),
    ("ucs2 135 needs three", "Ж" * 135, "UCS-2", 3, 135),
    ("one non-gsm char switches all", "a" * 69 + "ç", "UCS-2", 1, 70),
    ("portuguese ç/õ are not gsm", "Ação solidária", "UCS-2", 1, 14),
    ("arabic short", "تضامن", "UCS-2", 1, 5),
    ("arabic 71 letters", "ب" * 71, "UCS-2", 2, 71),
    ("emoji is two utf-16 units", "✊🏾" * 10, "UCS-2", 1, 30),
    ("emoji pushes over 70", "a" * 69 + "😀", "UCS-2", 2, 71),
    ("surrogate pair not split across parts", "a" * 66 + "😀" + "a" * 66, "UCS-2", 3, 134),
]


@pytest.mark.parametrize(("name", "text", "encoding", "count", "units"), CASES, ids=[c[0] for c in CASES])
def test_segments(name, text, encoding, count, units):
    info = segments(text)
    assert (info.encoding, info.segments, info.chars) == (encoding, count, units)
