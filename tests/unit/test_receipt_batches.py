"""Receipts consumed a batch at a time settle the ledger exactly as they did one by one: a table of batches and
what the ledger, the early receipts and the dead-letter topic hold afterwards."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.notifications import DeliveryState, DeliveryStatus, LedgerEntry
from schemas.vocab import Channel
from streams.stages.delivery import Delivery
from tests.stubs import runtime

SENT = LedgerEntry(state=DeliveryState.sent, action_id="act_1", channel=Channel.sms, member_id="m1",
                   provider_id="SM1", at=datetime(2026, 12, 1, 10, tzinfo=UTC))
SENDING = LedgerEntry(state=DeliveryState.sending, action_id="act_1", channel=Channel.sms, member_id="m2",
                      since=datetime(2026, 12, 1, 10, tzinfo=UTC))
LEDGER = {"act:act_1:m1:sms": SENT, "act:act_1:m2:sms": SENDING}


def status(key: str, state: DeliveryState, reason: str | None = "receipt", error: str | None = None) -> DeliveryStatus:
    return DeliveryStatus(idempotency_key=key, member_id="", channel=Channel.sms, state=state, provider_id="SM1",
                          error_code=error, reason=reason)


M1, M2, M9 = "act:act_1:m1:sms", "act:act_1:m2:sms", "act:act_1:m9:sms"
CASES = [
    # (what, batch, ledger states after, early receipts after, dead letters)
    ("delivered", [status(M1, DeliveryState.delivered)], {M1: "delivered", M2: "sending"}, {}, []),
    ("undelivered: dead-lettered with Twilio's code", [status(M1, DeliveryState.failed, error="30003")],
     {M1: "failed", M2: "sending"}, {}, ["undelivered (30003)"]),
    ("before the send is recorded: kept for the deliverer", [status(M2, DeliveryState.delivered)],
     {M1: "sent", M2: "sending"}, {M2: {"state": "delivered", "error": None}}, []),
    ("a key the ledger never saw", [status(M9, DeliveryState.delivered)], {M1: "sent", M2: "sending"}, {}, []),
    ("the deliverer's own state changes ride along and are skipped",
     [status(M1, DeliveryState.delivered, reason=None), status(M2, DeliveryState.failed, reason=None)],
     {M1: "sent", M2: "sending"}, {}, []),
    ("a repeated receipt changes nothing (Twilio retries)",
     [status(M1, DeliveryState.delivered), status(M1, DeliveryState.failed, error="30003")],
     {M1: "delivered", M2: "sending"}, {}, []),
    ("a mixed batch, in order",
     [status(M2, DeliveryState.failed, error="30005"), status(M9, DeliveryState.delivered),
      status(M1, DeliveryState.sent, reason=None), status(M1, DeliveryState.failed, error="30006"),
      status(M2, DeliveryState.delivered)],
     {M1: "failed", M2: "sending"}, {M2: {"state": "delivered", "error": None}}, ["undelivered (30006)"]),
]


@pytest.mark.parametrize(("what", "batch", "states", "early", "dead"), CASES, ids=[c[0] for c in CASES])
async def test_a_batch_of_receipts(what, batch, states, early, dead):
    rt = runtime()
    delivery = Delivery(rt)
    for key, entry in LEDGER.items():
        rt.tables.ledger[key] = entry
    await delivery.apply_receipts(batch)
    assert {key: rt.tables.ledger.get(key).state.value for key in LEDGER} == states
    assert rt.tables.early_receipts == early
    assert [d.reasons[0].message for d in rt.topics.notifications_dlq.items] == dead
    settled = rt.tables.ledger.get(M1)
    assert (settled.settled_at is not None) == (states[M1] != "sent")
