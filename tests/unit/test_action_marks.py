"""A call to action's 'sending' mark keeps neither the text nor the phone: after a crash the notification is
rebuilt from the action's plan, and the provider's copy is recognised by the text's keyed digest.

Alerts and replies still ride along in their marks (nothing rebuilds them). In-memory tables and a stub provider,
as in test_recovery_lookup; the drills (tests/integration/test_drills_small.py) kill real workers.
"""

from __future__ import annotations

import json
from datetime import timedelta

from notifiers.base import ProviderMessage
from schemas.base import utcnow
from schemas.notifications import DeliveryState, Lane, LedgerEntry, Notification
from schemas.vocab import Channel
from streams.stages.delivery.engine import body_digest
from streams.stages.delivery.plans import notifications_for
from tests.stubs import StubSms, put
from tests.unit.test_plan_sweep import PHONES, world


def planned(rt, action, member_id: str) -> Notification:
    case = rt.views.cases.get(action.case_id)
    return notifications_for(action, case, [rt.views.members.get(member_id)], {member_id: ["sms"]})[0]


async def test_the_mark_of_a_call_to_actions_sms_holds_no_text_and_no_phone():
    rt, action, deliverer, stub = await world()
    marks = {}

    class Peek(StubSms):
        async def send(self, to, body, subject=None, key=None):
            marks[key] = json.loads(rt.tables.ledger.table[key])  # the mark as stored, when the provider is called
            return await super().send(to, body, subject, key)

    deliverer._notifiers[Channel.sms] = [Peek([])]
    n = planned(rt, action, "m1")
    await deliverer.deliver_batch([n])
    stored = json.dumps(marks[n.idempotency_key])
    assert PHONES["m1"] not in stored and n.body not in stored and "notification" not in stored
    assert marks[n.idempotency_key]["body_digest"] == body_digest(n.body)
    assert rt.tables.ledger.get(n.idempotency_key).state is DeliveryState.sent


async def test_an_alerts_mark_still_carries_the_alert():
    rt, action, deliverer, stub = await world()
    marks = {}

    class Peek(StubSms):
        async def send(self, to, body, subject=None, key=None):
            marks[key] = rt.tables.ledger.get(key)
            return await super().send(to, body, subject, key)

    deliverer._notifiers[Channel.sms] = [Peek([])]
    alert = Notification(idempotency_key="alert:case_1:m1:sms", member_id="m1", channel=Channel.sms,
                         to=PHONES["m1"], language="es", body="CRITICAL SOL-1", lane=Lane.priority)
    await deliverer.deliver_batch([alert])
    assert marks[alert.idempotency_key].notification == alert


def crashed(rt, n: Notification, ago: float) -> None:
    """A mark as a SIGKILL leaves it: no notification, the digest of the text sent."""
    marked = utcnow() - timedelta(seconds=ago)
    rt.tables.ledger[n.idempotency_key] = LedgerEntry(
        state=DeliveryState.sending, since=marked, marked_at=marked, action_id=n.action_id, channel=Channel.sms,
        member_id=n.member_id, body_digest=body_digest(n.body))


async def test_after_a_crash_the_sms_the_provider_holds_is_recognised_even_if_the_member_changed_language():
    rt, action, deliverer, stub = await world()
    action = action.model_copy(update={"messages": {**action.messages, "en": "Sign the petition {reference}."}})
    put(rt.views.actions, action.action_id, action)
    n = planned(rt, action, "m1")
    crashed(rt, n, ago=120)
    stub.held.append(ProviderMessage("SMgone", PHONES["m1"], None, n.body, "delivered", utcnow() - timedelta(seconds=119)))
    # Between the send and the recovery the member asked for English: the rebuilt text is another one.
    put(rt.views.members, "m1", rt.views.members.get("m1").model_copy(update={"language": "en"}))
    assert planned(rt, action, "m1").body != n.body
    await deliverer.reconcile()
    assert stub.sent == [], "the message already on the phone is not sent again"
    entry = rt.tables.ledger.get(n.idempotency_key)
    assert entry.provider_id == "SMgone" and entry.recovered


async def test_after_a_crash_an_sms_that_never_left_is_rebuilt_and_sent_once():
    rt, action, deliverer, stub = await world()
    n = planned(rt, action, "m2")
    crashed(rt, n, ago=120)
    await deliverer.reconcile()
    await deliverer.reconcile()
    assert stub.sent == [(PHONES["m2"], n.body)]


async def test_after_a_crash_a_notification_whose_member_is_gone_ends_unknown_and_dead_lettered():
    rt, action, deliverer, stub = await world()
    n = planned(rt, action, "m3")
    crashed(rt, n, ago=120)
    put(rt.views.members, "m3", None)
    await deliverer.reconcile()
    assert stub.sent == []
    assert rt.tables.ledger.get(n.idempotency_key).state is DeliveryState.unknown
    assert rt.topics.notifications_dlq.items
