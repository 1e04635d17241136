"""The SMS sender pool: which From number (or Messaging Service) sends to a phone, and how fast the pool can go.

Every phone is sent from one sender, always the same while the pool is unchanged, so a member's replies go to the
number they know and a conversation stays on one number. A sender that lists the phone's country (a local number)
is preferred; otherwise the senders listing no country; otherwise any. Among those, the choice is weighted
rendezvous hashing on the phone: each sender gets a share of the phones proportional to its limit, so a short
code and a long code in one pool finish a fan-out together, and adding a sender moves only the phones it takes.

Stickiness may give way when a phone's own sender falls behind (`twilio.sticky_wait_seconds`, off by default: a
member who knows the network's number may take a text from another for phishing). Shares by hashing are
proportional to the limits only on average, and a phone's messages may be longer or shorter than others', so in a
fan-out one sender is always left with more seconds of sending than the rest. A message that would wait that much
longer behind its own sender than behind another it may be sent from (the same local-number rule) goes from the
other, and the pool finishes together at the sum of its limits. Replies are taken on every number of the pool, and
a provider lookup after a crash asks across all of them, so a message sent from another number loses nothing.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers


@dataclass(frozen=True)
class Sender:
    """One sender: its number or Messaging Service SID, its limit in segments per second and its countries."""

    sender_id: str
    rate: float
    from_number: str | None = None
    messaging_service_sid: str | None = None
    kind: str = "long_code"
    countries: frozenset[str] = frozenset()


@lru_cache(maxsize=200_000)
def phone_country(phone: str) -> str | None:
    """The ISO country of an E.164 number, or None (cached: a fan-out asks once per phone).

    A calling code of one country alone (+254 is Kenya) answers without parsing the number; a shared one (+1,
    +44, +7) needs the full parse, which tells Canada from the United States by the area code.
    """
    if phone.startswith("+"):
        for width in (1, 2, 3):
            code = phone[1:1 + width]
            regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(code)) if code.isdigit() else None
            if regions:
                if len(regions) == 1 and regions[0] != phonenumbers.UNKNOWN_REGION:
                    return regions[0]
                break
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(phone, None))
    except phonenumbers.NumberParseException:
        return None


def _weight(phone: str, sender: Sender) -> float:
    digest = hashlib.blake2b(f"{sender.sender_id}|{phone}".encode(), digest_size=8).digest()
    unit = (int.from_bytes(digest, "big") + 1) / (2 ** 64 + 1)  # in (0, 1)
    return sender.rate / -math.log(unit)


class SenderPool:
    """The senders of one account, and the choice of one per phone."""

    def __init__(self, senders: Iterable[Sender]) -> None:
        self.senders = tuple(senders)
        if not self.senders:
            raise ValueError("a sender pool needs at least one sender")
        self.pooled = len(self.senders) > 1
        # The phone's country matters only when some sender is a local number.
        self._local = any(s.countries for s in self.senders)
        self._by_country: dict[str | None, tuple[Sender, ...]] = {}
        self._chosen: dict[str, Sender] = {}

    @classmethod
    def from_settings(cls, twilio, sms_segments_per_second: float) -> SenderPool:
        """The pool in settings (`twilio.senders`), or the one `from_number` at the configured rate."""
        if not twilio.senders:
            return cls([Sender(twilio.from_number, sms_segments_per_second, from_number=twilio.from_number)])
        return cls(Sender(s.sender_id, s.rate, s.from_number, s.messaging_service_sid, s.type, frozenset(s.countries))
                   for s in twilio.senders)

    @property
    def rate(self) -> float:
        """The pool's throughput: the sum of its senders' limits."""
        return sum(s.rate for s in self.senders)

    def candidates(self, country: str | None) -> tuple[Sender, ...]:
        """The senders a phone of this country may be sent from."""
        hit = self._by_country.get(country)
        if hit is None:
            local = tuple(s for s in self.senders if country and country in s.countries)
            anywhere = tuple(s for s in self.senders if not s.countries)
            hit = self._by_country[country] = local or anywhere or self.senders
        return hit

    def choose(self, phone: str, wait=None, sticky_wait: float | None = None) -> Sender:
        """The sender of this phone: its own (the same one every time) or, given `wait` (a sender's backlog in
        seconds) and `sticky_wait`, the least busy it may be sent from when its own is more than `sticky_wait`
        seconds busier."""
        own = self.own(phone)
        if wait is None or sticky_wait is None or not self.pooled:
            return own
        behind = wait(own)
        if behind <= sticky_wait:
            return own
        options = self.candidates(phone_country(phone) if self._local else None)
        if len(options) == 1:
            return own
        best = min(options, key=wait)
        return best if wait(best) + sticky_wait < behind else own

    def own(self, phone: str) -> Sender:
        """The sender of this phone (the same one every time)."""
        hit = self._chosen.get(phone)
        if hit is None:
            options = self.candidates(phone_country(phone) if self._local else None)
            hit = options[0] if len(options) == 1 else max(options, key=lambda s: _weight(phone, s))
            if len(self._chosen) > 200_000:
                self._chosen.clear()
            self._chosen[phone] = hit
        return hit

    def seconds(self, segments_by_phone: Iterable[tuple[str, int]], sticky_wait: float | None = None) -> float:
        """How long sending these (phone, segments) takes at the senders' limits: the busiest sender's time.

        With `sticky_wait` the messages are shared as the deliverer shares them: each goes from its phone's own
        sender unless that one is more than `sticky_wait` seconds busier than another allowed sender."""
        load: dict[str, float] = {s.sender_id: 0.0 for s in self.senders}
        rates = {s.sender_id: s.rate for s in self.senders}
        wait = (lambda sender: load[sender.sender_id] / rates[sender.sender_id]) if sticky_wait is not None else None
        for phone, count in segments_by_phone:
            sender = self.choose(phone, wait, sticky_wait)
            load[sender.sender_id] += count
        return max((n / rates[sid] for sid, n in load.items()), default=0.0)
