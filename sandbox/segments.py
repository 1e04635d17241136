"""SMS segment counting, as Twilio bills and queues it: GSM-7 160/153 per part, else UCS-2 70/67.

A copy of notifiers/segments.py's rule: importing that module loads the notifiers package and pydantic, and the
sandbox runs on the standard library plus aiohttp/aiosmtpd. tests/integration/test_sandbox_provider_limits.py
checks the two agree.
"""

from __future__ import annotations

from math import ceil

# GSM 03.38 default alphabet (ESC excluded) and its extension table, whose characters take two septets.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
# (single-message limit, per-part limit of a concatenated message); the UDH eats the difference.
LIMITS = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


def count_segments(text: str) -> int:
    """How many segments `text` takes as one SMS (GSM-7 when possible, else UCS-2)."""
    gsm = all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)
    single, per_part = LIMITS["GSM-7" if gsm else "UCS-2"]
    # An escape pair (GSM-7) or surrogate pair (UTF-16) costs two units and is never split across parts.
    costs = [2 if c in GSM7_EXTENSION else 1 for c in text] if gsm else [2 if ord(c) > 0xFFFF else 1 for c in text]
    if sum(costs) <= single:
        return 1
    parts, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            parts, used = parts + 1, 0
        used += cost
    return max(parts, ceil(sum(costs) / per_part))
