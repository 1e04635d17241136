"""A pool of SMS senders end to end: real Kafka, a real worker, the sandbox enforcing each sender's limit.

Counted at the phones: each member gets one SMS, from one sender that stays theirs, a local number for its
country; every sender is kept at its own limit; replies to any pool number count.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import httpx
import pytest

from agents.senders import phone_country
from testing.stack import wait_for
from tests.integration.test_fanout import open_verified_case
from tests.integration.test_two_workers import CSRF
from tests.members_data import SIGN_WORDS, eligible, demo_members
from tests.notify_harness import start_world

SHORT, TOLL_FREE, BRAZIL = "+15005550010", "+18005550011", "+5511940000099"
# Small limits so 455 SMS of about two segments take a few seconds per sender.
LIMITS = {SHORT: 60.0, TOLL_FREE: 20.0, BRAZIL: 5.0}
POOL = [{"from_number": SHORT, "type": "short_code", "segments_per_second": LIMITS[SHORT]},
        {"from_number": TOLL_FREE, "type": "toll_free", "segments_per_second": LIMITS[TOLL_FREE]},
        {"from_number": BRAZIL, "type": "long_code", "segments_per_second": LIMITS[BRAZIL], "countries": ["BR"]}]
SANDBOX_SENDERS = {s["from_number"]: {"type": s["type"], "segments_per_second": s["segments_per_second"]}
                   for s in POOL}


@pytest.fixture(scope="module")
def world(kafka, tmp_path_factory):
    stack, sandbox, tokens = start_world(
        tmp_path_factory.mktemp("pool"), faults={"senders": SANDBOX_SENDERS},
        extra_env={"SOLIDARITY_TWILIO__SENDERS": json.dumps(POOL)})
    yield stack, sandbox, tokens
    stack.stop()
    sandbox.stop()


def fan_out(stack, sandbox, tokens, country: str) -> tuple[str, str, list[dict]]:
    """A call to action by SMS to every member; (action id, reference, the SMS each phone received for it)."""
    case = open_verified_case(stack, tokens, incident_type="judicial_harassment", country=country)
    status, body = stack.http.request("POST", f"/api/v1/cases/{case['case_id']}/actions",
                                      {"kind": "sign_on_letter", "channels": ["sms"]}, token=tokens["secretariat"])
    assert status == 202, body
    want = len(eligible(demo_members(), "sms"))
    ref = case["reference"]
    sms = wait_for(lambda: (found := [m for m in sandbox.outbound() if ref in m["body"]]) and len(found) >= want
                   and found, 180, 0.5, f"{want} SMS of {ref}")
    return body["action_id"], ref, sms


def busiest(times_and_segments: list[tuple[float, int]], window: float) -> int:
    """The most segments accepted in any sliding window of `window` seconds."""
    events, best, j, acc = sorted(times_and_segments), 0, 0, 0
    for t, seg in events:
        acc += seg
        while events[j][0] <= t - window:
            acc -= events[j][1]
            j += 1
        best = max(best, acc)
    return best


def test_each_member_gets_one_sms_from_their_own_sender_each_kept_at_its_limit(world):
    stack, sandbox, tokens = world
    phones = {m["phone"] for m in eligible(demo_members(), "sms")}
    _, ref, sms = fan_out(stack, sandbox, tokens, "co")
    per_phone = Counter(m["to"] for m in sms)
    assert set(per_phone) == phones and max(per_phone.values()) == 1
    sender_of = {m["to"]: m["from"] for m in sms}
    # Brazilian phones get the local number, and nobody else does; the rest share the two national senders
    # in proportion to their limits (60:20).
    assert {sender_of[p] for p in phones if phone_country(p) == "BR"} == {BRAZIL}
    others = Counter(sender_of[p] for p in phones if phone_country(p) != "BR")
    assert set(others) == {SHORT, TOLL_FREE}
    assert 0.6 < others[SHORT] / sum(others.values()) < 0.9
    # Each sender is kept at its own limit: in no three seconds did the provider accept more than three seconds of
    # that sender's rate, give or take two messages (a window's edge cuts one; one request delayed on a busy
    # machine arrives just before the next).
    by_sender = defaultdict(list)
    for m in sms:
        by_sender[m["from"]].append((m["t"], m["segments"]))
    for sender, events in by_sender.items():
        biggest = max(seg for _, seg in events)
        assert busiest(events, 3.0) <= 3 * LIMITS[sender] + 2 * biggest, sender
    # The provider's own queues saw the same: every sender sent, none overflowed.
    status, report = sandbox.http.request("GET", "/sandbox/senders")
    assert status == 200
    assert {k for k, q in report["senders"].items() if q["sent_segments"]} == set(LIMITS)
    assert all(q["overflowed"] == 0 for q in report["senders"].values())

    # A second call to action reaches each phone from the same number as the first.
    action_id, ref2, sms2 = fan_out(stack, sandbox, tokens, "pe")
    assert {m["to"]: m["from"] for m in sms2} == sender_of

    # Members answer the number they know: a SIGN to the Brazilian number and one to the short code both count.
    members = eligible(demo_members(), "sms")
    brazilian = next(m for m in members if sender_of[m["phone"]] == BRAZIL and m["language"] in SIGN_WORDS)
    national = next(m for m in members if sender_of[m["phone"]] == SHORT and m["language"] in SIGN_WORDS)
    for m in (brazilian, national):
        sandbox.phone(m["phone"]).reply(SIGN_WORDS[m["language"]])
    wait_for(lambda: stack.http.request("GET", f"/api/v1/actions/{action_id}", token=tokens["secretariat"])[1]
             ["counts"]["signed"] == 2, 30, 0.2, "both signatures")
    # The thank-you comes from the number the member answered.
    to_brazilian = wait_for(lambda: (got := [m for m in sandbox.outbound() if m["to"] == brazilian["phone"]])
                            and len(got) >= 3 and got, 30, 0.2, "the thank-you SMS")
    assert {m["from"] for m in to_brazilian} == {BRAZIL}


def test_the_dashboard_estimates_the_fan_out_with_the_pool(world):
    stack, sandbox, tokens = world
    case = open_verified_case(stack, tokens, incident_type="judicial_harassment", country="ar")
    base = f"http://127.0.0.1:{stack.port}"
    with httpx.Client(follow_redirects=False, timeout=30) as http:
        page = http.get(f"{base}/dashboard/login")
        http.post(f"{base}/dashboard/login", data={"csrf": CSRF.search(page.text).group(1),
                                                   "token": tokens["secretariat"]})
        answer = http.get(f"{base}/dashboard/cases/{case['case_id']}/audience.json?channels=sms")
        form = http.get(f"{base}/dashboard/cases/{case['case_id']}/action")
    assert answer.status_code == 200, answer.text[:300]
    reach = answer.json()
    # The form says which pool the estimate is for.
    assert "SMS senders: 3" in form.text, form.text[:500]
    assert reach["senders"] == 3 and reach["pool_rate"] == sum(LIMITS.values())
    # The busiest sender sets the time: about two segments for each of the short code's phones at 60/s, or the
    # Brazilian phones at 5/s, whichever is longer; never the whole audience at one sender's rate.
    members = eligible(demo_members(), "sms")
    brazil = sum(1 for m in members if phone_country(m["phone"]) == "BR")
    assert reach["recipients"]["sms"] == len(members)
    assert reach["seconds"] >= brazil / LIMITS[BRAZIL]
    assert reach["seconds"] < 2 * len(members) * 2 / LIMITS[SHORT]
