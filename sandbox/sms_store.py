"""In-memory Message resources, shaped like Twilio's 2010-04-01 Message JSON."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email.utils import format_datetime

from sandbox.segments import count_segments

API_VERSION = "2010-04-01"


def new_sid(prefix: str = "SM") -> str:
    """A Twilio-style sid: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def rfc2822(moment: datetime | None) -> str | None:
    """Twilio's date format, e.g. 'Thu, 30 Jul 2015 20:12:31 +0000'."""
    return format_datetime(moment) if moment else None


@dataclass
class SmsRecord:
    """One message, outbound (sent by the API) or inbound (sent by a member)."""

    account_sid: str
    to: str
    from_: str
    body: str
    direction: str = "outbound-api"
    status: str = "queued"
    messaging_service_sid: str | None = None
    status_callback: str | None = None
    sid: str = field(default_factory=new_sid)
    date_created: datetime = field(default_factory=lambda: datetime.now(UTC))
    date_updated: datetime | None = None
    date_sent: datetime | None = None
    error_code: int | None = None
    error_message: str | None = None

    def __post_init__(self) -> None:
        self.date_updated = self.date_updated or self.date_created
        self.num_segments = count_segments(self.body)

    @property
    def uri(self) -> str:
        """The resource's path, as Twilio reports it."""
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"

    @property
    def sent_or_created(self) -> datetime:
        """DateSent filters use this: the sandbox falls back to creation for not-yet-sent messages."""
        return self.date_sent or self.date_created

    def set_status(self, status: str, error_code: int | None = None, error_message: str | None = None) -> None:
        """Move to `status` and stamp the dates Twilio stamps."""
        now = datetime.now(UTC)
        self.status, self.date_updated = status, now
        if status == "sent" and self.date_sent is None:
            self.date_sent = now
        if error_code is not None:
            self.error_code, self.error_message = error_code, error_message

    def to_json(self) -> dict[str, object]:
        """The Message resource as Twilio serialises it."""
        media = self.uri.removesuffix(".json") + "/Media.json"
        return {
            "account_sid": self.account_sid, "api_version": API_VERSION, "body": self.body,
            "date_created": rfc2822(self.date_created), "date_sent": rfc2822(self.date_sent),
            "date_updated": rfc2822(self.date_updated), "direction": self.direction,
            "error_code": self.error_code, "error_message": self.error_message, "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid, "num_media": "0",
            "num_segments": str(self.num_segments), "price": None, "price_unit": "USD", "sid": self.sid,
            "status": self.status, "subresource_uris": {"media": media}, "to": self.to, "uri": self.uri,
        }


def parse_date_filter(value: str) -> datetime | date:
    """Parse a DateSent filter value: 'YYYY-MM-DD' or 'YYYY-MM-DDTHH:MM:SSZ' (what the client sends)."""
    # The twilio client formats a date as midnight; Twilio's filters are whole days, so treat it as one.
    if value.endswith("T00:00:00Z"):
        value = value[:10]
    if "T" in value:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    return date.fromisoformat(value)


def _bounds(value: datetime | date) -> tuple[datetime, datetime]:
    if isinstance(value, datetime):
        return value, value
    start = datetime.combine(value, time(), UTC)
    return start, start + timedelta(days=1) - timedelta(microseconds=1)


class SmsStore:
    """All messages the sandbox has seen, newest last."""

    def __init__(self) -> None:
        self.records: list[SmsRecord] = []
        self._by_sid: dict[str, SmsRecord] = {}

    def add(self, record: SmsRecord) -> SmsRecord:
        """Keep `record`."""
        self.records.append(record)
        self._by_sid[record.sid] = record
        return record

    def get(self, sid: str) -> SmsRecord | None:
        """The message with this sid, if any."""
        return self._by_sid.get(sid)

    def clear(self) -> None:
        """Forget every message."""
        self.records.clear()
        self._by_sid.clear()

    def search(
        self, *, to: str | None = None, from_: str | None = None, on: datetime | date | None = None,
        before: datetime | date | None = None, after: datetime | date | None = None,
    ) -> list[SmsRecord]:
        """Messages matching every given filter, newest first; DateSent bounds are inclusive, like Twilio's."""
        found = []
        for record in reversed(self.records):
            when = record.sent_or_created
            if to is not None and record.to != to or from_ is not None and record.from_ != from_:
                continue
            if on is not None and not _bounds(on)[0] <= when <= _bounds(on)[1]:
                continue
            if before is not None and when > _bounds(before)[1]:
                continue
            if after is not None and when < _bounds(after)[0]:
                continue
            found.append(record)
        return found

    def phones(self) -> dict[str, list[SmsRecord]]:
        """Each member phone (the far end) with its conversation, oldest first."""
        result: dict[str, list[SmsRecord]] = {}
        for record in self.records:
            phone = record.from_ if record.direction == "inbound" else record.to
            result.setdefault(phone, []).append(record)
        return result
