"""The interface every channel notifier implements."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from schemas.vocab import Channel


@dataclass(frozen=True)
class SendResult:
    """What the provider accepted: its id for the message and the billed segment count."""

    provider_id: str
    segments: int = 1


@dataclass(frozen=True)
class ProviderMessage:
    """A message the provider already holds, found by `Notifier.lookup`."""

    provider_id: str
    to: str
    from_: str | None
    body: str | None
    status: str | None
    sent_at: datetime | None


class Notifier(abc.ABC):
    """Sends to one channel; raises a `NotifierError` subclass on any failure, never returns False."""

    channel: ClassVar[Channel]

    @abc.abstractmethod
    async def send(self, to: str, body: str, subject: str | None = None, key: str | None = None) -> SendResult:
        """Send one message to one recipient; `key` (the idempotency key) lets a channel mark repeats as one."""

    async def lookup(self, to: str, since: datetime) -> list[ProviderMessage]:
        """Messages already sent to `to` since `since`, for exactly-once recovery; [] if unsupported."""
        return []

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections."""

    async def __aenter__(self) -> Notifier:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
