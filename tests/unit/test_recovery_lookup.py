"""The recovery lookup after a crash: a provider message counts as a notification's only if it can be no other's.

Table-driven over what the provider holds for one phone when the worker comes back with notifications still
marked 'sending'. The deliverer runs on in-memory tables (no faust app, no network); the provider is a stub that
records what would have been sent. The drills (tests/integration/test_drills_small.py) count the real sandbox.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notifiers.base import ProviderMessage
from schemas.notifications import DeliveryState, Lane, LedgerEntry, Notification
from schemas.vocab import Channel
from streams.stages.delivery.engine import Deliverer
from tests.stubs import StubSms, runtime

PHONE, TEXT = "+50491236721", "Solidarity with SOL-AB12CD: add your organisation's voice. Reply SIGN."
T0 = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)


def notification(action: str, body: str = TEXT) -> Notification:
    return Notification(idempotency_key=f"act:{action}:m1:sms", member_id="m1", channel=Channel.sms, to=PHONE,
                        language="en", body=body, lane=Lane.bulk, action_id=action)


def crashed_while_sending(rt, n: Notification, marked: datetime) -> None:
    """The ledger as a SIGKILL leaves it: marked 'sending' at `marked`, outcome never recorded."""
    rt.tables.ledger[n.idempotency_key] = LedgerEntry(
        state=DeliveryState.sending, since=marked, marked_at=marked, attempt=0, action_id=n.action_id,
        channel=Channel.sms, member_id=n.member_id, notification=n)


def msg(sid: str, at: datetime, body: str = TEXT) -> ProviderMessage:
    # Twilio reports creation times in whole seconds.
    return ProviderMessage(sid, PHONE, "+15005550006", body, "delivered", at.replace(microsecond=0))


CASES = [
    # (what the provider holds, sids already recorded for other notifications, expected: matched sid / "resent" / "unknown")
    ("this attempt's message is there", [msg("SMa", T0 + timedelta(seconds=1))], {}, "SMa"),
    ("nothing there: send it", [], {}, "resent"),
    ("the previous action's message, recorded for it: not ours",
     [msg("SMprev", T0 - timedelta(seconds=40))], {"SMprev": "act:prev:m1:sms"}, "resent"),
    ("the previous action's message seconds before, recorded for it",
     [msg("SMprev", T0 - timedelta(seconds=2))], {"SMprev": "act:prev:m1:sms"}, "resent"),
    ("same text after the mark but recorded for another notification",
     [msg("SMother", T0 + timedelta(seconds=1))], {"SMother": "act:other:m1:sms"}, "resent"),
    ("another text after the mark", [msg("SMx", T0 + timedelta(seconds=1), body="Another text")], {}, "resent"),
    ("unclaimed same text a minute before the mark: undecidable", [msg("SMold", T0 - timedelta(seconds=60))], {},
     "unknown"),
    ("unclaimed same text within the clock skew", [msg("SMskew", T0 - timedelta(seconds=3))], {}, "SMskew"),
    ("unclaimed same text long before (outside the margin)", [msg("SMancient", T0 - timedelta(minutes=10))], {},
     "resent"),
]


@pytest.mark.parametrize("held, owners, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_recovery_claims_only_a_message_that_can_be_this_notifications(held, owners, expected):
    rt = runtime()
    rt.tables.sid_index.update(owners)
    stub = StubSms(held)
    deliverer = Deliverer(rt)
    deliverer._notifiers[Channel.sms] = [stub]
    n = notification("now")
    crashed_while_sending(rt, n, T0)
    await deliverer.deliver_batch([n])
    entry = rt.tables.ledger.get(n.idempotency_key)
    if expected == "resent":
        assert stub.sent == [(PHONE, TEXT)]
        assert entry.state is DeliveryState.sent and entry.provider_id == "SMnew1"
    elif expected == "unknown":
        assert stub.sent == []
        assert entry.state is DeliveryState.unknown
        assert rt.topics.notifications_dlq.items, "an unknown outcome is dead-lettered with its reason"
    else:
        assert stub.sent == []
        # The provider says the message was delivered: the recovered notification takes that receipt at once.
        assert entry.state is DeliveryState.delivered and entry.provider_id == expected and entry.recovered
        assert rt.tables.sid_index[expected] == n.idempotency_key


@pytest.mark.parametrize("held_count", [0, 1, 2])
async def test_two_actions_with_the_same_text_in_flight_share_what_the_provider_holds(held_count):
    # Two calls to action to the same phone, same text, both cut by a crash: the phone must end with exactly two.
    rt = runtime()
    first, second = notification("a"), notification("b")
    crashed_while_sending(rt, first, T0)
    crashed_while_sending(rt, second, T0 + timedelta(seconds=1))
    held = [msg(f"SM{i}", T0 + timedelta(seconds=1 + i)) for i in range(held_count)]
    stub = StubSms(held)
    deliverer = Deliverer(rt)
    deliverer._notifiers[Channel.sms] = [stub]
    await deliverer.deliver_batch([first, second])
    assert len(stub.held) == 2, "the phone ends with one message per action"
    sids = {rt.tables.ledger.get(n.idempotency_key).provider_id for n in (first, second)}
    assert len(sids) == 2, "no message is recorded for both"


async def test_a_retry_after_a_timeout_keeps_asking_the_provider_even_when_the_lookup_fails():
    # A timed-out send may have reached the provider; if the lookup then fails, the next try must still look.
    rt = runtime()
    n = notification("t")
    crashed_while_sending(rt, n, T0)

    class Flaky(StubSms):
        async def lookup(self, to, since):
            from notifiers.errors import unreachable
            raise unreachable(timeout=False)

    deliverer = Deliverer(rt)
    deliverer._notifiers[Channel.sms] = [Flaky([])]
    await deliverer.deliver_batch([n])
    entry = rt.tables.ledger.get(n.idempotency_key)
    assert entry.state is DeliveryState.sending and entry.uncertain_since == T0, entry
    assert rt.topics.notifications_retry.items, "the notification is retried"
