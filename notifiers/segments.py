"""SMS segment counting: Twilio bills segments, not messages."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import ceil

# GSM 03.38 default alphabet (ESC, 0x1B, excluded) and its extension table, whose characters
# take two septets (ESC + char).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

# (single-message limit, per-part limit in a concatenated message); the UDH eats the difference.
LIMITS = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


@dataclass(frozen=True)
class SegmentInfo:
    """How a text is encoded, how many segments it takes, and its length in encoding units."""

    encoding: str
    segments: int
    chars: int


def is_gsm7(text: str) -> bool:
    """True if every character is in the GSM-7 alphabet or its extension table."""
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def _unit_costs(text: str, gsm: bool) -> list[int]:
    if gsm:
        return [2 if c in GSM7_EXTENSION else 1 for c in text]
    # UCS-2 on the wire is UTF-16: characters outside the BMP take a surrogate pair.
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def _parts(costs: list[int], per_part: int) -> int:
    # An escape pair or surrogate pair is never split across parts, so a part may end short.
    parts, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            parts, used = parts + 1, 0
        used += cost
    return parts


@lru_cache(maxsize=4096)
def segments(text: str) -> SegmentInfo:
    """Count the segments `text` takes as one SMS (GSM-7 when possible, else UCS-2)."""
    gsm = is_gsm7(text)
    encoding = "GSM-7" if gsm else "UCS-2"
    single, per_part = LIMITS[encoding]
    costs = _unit_costs(text, gsm)
    units = sum(costs)
    count = 1 if units <= single else max(_parts(costs, per_part), ceil(units / per_part))
    return SegmentInfo(encoding=encoding, segments=count, chars=units)
