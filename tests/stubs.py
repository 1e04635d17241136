"""In-memory stand-ins for unit tests of the deliverer and the plan sweep: tables as dicts, views fed directly,
recording topics, and a provider that keeps the messages it holds. Integration tests use the real sandbox instead."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from types import SimpleNamespace

from notifiers.base import Notifier, ProviderMessage, SendResult
from schemas.vocab import Channel
from streams.replicas import Views
from streams.runtime import Hooks
from streams.settings import Settings
from streams.tables import Ledger


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
    """A topic that keeps what was sent to it (and hands JSON records to `sink`, as a replica would read them)."""

    def __init__(self, sink=None) -> None:
        self.items, self.sink, self.offset = [], sink, 0

    async def send(self, key=None, value=None):
        self.send_soon(key, value)
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def send_soon(self, key=None, value=None):
        self.items.append(value)
        if self.sink is not None:
            self.offset += 1
            self.sink.apply(key.decode(), json.loads(value) if isinstance(value, bytes) else value, (0, self.offset))


def runtime(**settings) -> SimpleNamespace:
    """Settings, tables as dicts (the ledger wrapped as on a worker), replicated views without a broker, and
    recording topics: what the deliverer and the plan sweep need. Records sent to the replicated topics reach the
    views at once."""
    async def flush():
        return None
    views = Views()
    tables = SimpleNamespace(ledger=Ledger({}), sid_index={}, early_receipts={}, action_stats={}, cases={})
    topics = SimpleNamespace(notifications_retry=Topic(), notifications_dlq=Topic(), notifications_status=Topic(), notifications_receipts=Topic(),
                             notifications_bulk=Topic(), notifications_priority=Topic(), members=Topic(views.members),
                             actions_plans=Topic(views.plans), actions_progress=Topic(views.progress))
    return SimpleNamespace(settings=Settings(**settings), tables=tables, topics=topics, hooks=Hooks(), views=views,
                           app=SimpleNamespace(producer=SimpleNamespace(flush=flush)))


def put(view, key: str, value) -> None:
    """Put a record into a replicated view, as if read from its topic."""
    view.apply(key, value, (0, 0))
