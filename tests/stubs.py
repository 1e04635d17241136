"""In-memory stand-ins for unit tests of the deliverer and the plan sweep: tables as dicts, recording topics, and
a provider that keeps the messages it holds. Integration tests use the real sandbox instead."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from notifiers.base import Notifier, ProviderMessage, SendResult
from schemas.vocab import Channel
from streams.runtime import Hooks
from streams.settings import Settings


class StubSms(Notifier):
    """Holds provider messages; `send` records a new one."""

    channel = Channel.sms

    def __init__(self, held: list[ProviderMessage]) -> None:
        self.held, self.sent = list(held), []

    async def send(self, to, body, subject=None, key=None) -> SendResult:
        self.sent.append((to, body))
        sid = f"SMnew{len(self.sent)}"
        self.held.append(ProviderMessage(sid, to, None, body, "queued", datetime.now(UTC)))
        return SendResult(provider_id=sid)

    async def lookup(self, to, since):
        return [m for m in self.held if m.to == to and m.sent_at >= since]

    async def close(self) -> None:
        pass


class Topic:
    """A topic that keeps what was sent to it."""

    def __init__(self) -> None:
        self.items = []

    async def send(self, key=None, value=None):
        self.items.append(value)

    def send_soon(self, key=None, value=None):
        self.items.append(value)


def runtime(**settings) -> SimpleNamespace:
    """Settings, tables as dicts and recording topics: what the deliverer and the plan sweep need."""
    async def flush():
        return None
    tables = SimpleNamespace(ledger={}, sid_index={}, early_receipts={}, members={}, actions={}, action_stats={},
                             action_plans={}, cases={})
    topics = SimpleNamespace(notifications_retry=Topic(), notifications_dlq=Topic(), notifications_status=Topic())
    return SimpleNamespace(settings=Settings(**settings), tables=tables, topics=topics, hooks=Hooks(),
                           app=SimpleNamespace(producer=SimpleNamespace(flush=flush)))
