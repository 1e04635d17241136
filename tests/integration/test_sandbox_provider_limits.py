"""The sandbox, driven by the unmodified twilio client, imposes Twilio's limits when told to, and none by default:
API latency, a cap on requests in flight (20429), per-sender segment queues and queue overflow (30001)."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from twilio.base.exceptions import TwilioRestException

from notifiers.segments import segments as notifier_segments
from sandbox import start_sandbox
from sandbox.segments import count_segments
from sandbox.server import parse_args

from tests.integration.sandbox_fixtures import (  # noqa: F401  (fixtures are used by name)
    clean_sandbox, eventually, localhost_only, receiver, sandbox, twilio_async,
)

SENDER, OTHER = "+15005550006", "+15005550007"
SERVICE = "MG" + "0" * 32
ANA, BEN = "+15551230001", "+15551230002"
TWO_SEGMENTS = "x" * 200  # GSM-7: 160 fit one segment, 153 per part beyond
# Sleep wake-ups and callbacks shift a sent time by milliseconds; the queue schedules it exactly.
SLACK = 0.15


async def _post_faults(sandbox, changes: dict) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sandbox.http_url}/sandbox/faults", json=changes) as response:
            return response.status, await response.json()


async def _senders(url: str) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/sandbox/senders") as response:
            assert response.status == 200
            return await response.json()


async def _sent_times(sandbox, sids: list[str], timeout: float = 10.0) -> list[float]:
    """When each message was sent (epoch seconds, from the sandbox's records), once all are delivered."""
    def done():
        records = [sandbox.gateway.store.get(sid) for sid in sids]
        return all(r.status == "delivered" for r in records) and records
    records = await eventually(done, timeout=timeout)
    return [r.date_sent.timestamp() for r in records]


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:])]


async def _send(client, body: str = "x", sender: str = SENDER, **extra) -> str:
    return (await client.messages.create_async(to=ANA, from_=sender, body=body, **extra)).sid


async def test_everything_is_off_by_default(sandbox, twilio_async):
    status, faults = await _post_faults(sandbox, {})
    assert status == 200
    assert {k: faults[k] for k in ("api_latency_ms", "api_jitter_ms", "max_concurrent_requests", "sender_type",
                                   "senders", "type_rates", "queue_seconds")} == {
        "api_latency_ms": 0.0, "api_jitter_ms": 0.0, "max_concurrent_requests": None, "sender_type": None,
        "senders": {}, "type_rates": {}, "queue_seconds": 14400.0}
    answers = await asyncio.gather(*(_send(twilio_async, f"n{i}") for i in range(30)))  # no cap: all accepted
    await _sent_times(sandbox, answers)
    report = await _senders(sandbox.http_url)
    assert (report["default"], report["senders"], report["segments_per_second"]) == (None, {}, 0)


async def test_each_request_waits_at_least_the_configured_latency(sandbox, twilio_async):
    sandbox.set_faults(api_latency_ms=150, api_jitter_ms=50)
    started = time.monotonic()
    sid = await _send(twilio_async)
    created = time.monotonic()
    await twilio_async.messages(sid).fetch_async()
    fetched = time.monotonic()
    await twilio_async.messages.list_async(to=ANA)
    assert min(created - started, fetched - created, time.monotonic() - fetched) >= 0.15


async def test_jitter_repeats_with_the_seed(sandbox):
    sandbox.set_faults(seed=42, api_latency_ms=150, api_jitter_ms=100)
    first = [sandbox.faults.api_latency() for _ in range(20)]
    sandbox.set_faults(seed=42)
    assert [sandbox.faults.api_latency() for _ in range(20)] == first
    assert all(0.15 <= d <= 0.25 for d in first) and len(set(first)) > 1


async def test_a_long_code_sends_one_segment_per_second(sandbox, twilio_async):
    sandbox.set_faults(senders={SENDER: {"type": "long_code"}})
    sids = [await _send(twilio_async, f"n{i}") for i in range(3)]
    gaps = _gaps(await _sent_times(sandbox, sids))
    assert all(abs(gap - 1.0) < SLACK for gap in gaps), gaps


async def test_a_two_segment_message_takes_two_slots(sandbox, twilio_async):
    sandbox.set_faults(senders={SENDER: {"segments_per_second": 2}})
    sids = [await _send(twilio_async, body) for body in (TWO_SEGMENTS, "one", "one")]
    assert sandbox.gateway.store.get(sids[0]).num_segments == 2
    report = (await _senders(sandbox.http_url))["senders"][SENDER]
    assert (report["type"], report["segments_per_second"]) == ("custom", 2.0)
    assert 4.0 >= report["backlog_segments"] > 3.0  # 4 segments queued under half a second ago
    gaps = _gaps(await _sent_times(sandbox, sids))
    assert abs(gaps[0] - 1.0) < SLACK and abs(gaps[1] - 0.5) < SLACK, gaps


async def test_two_senders_drain_in_parallel(sandbox, twilio_async):
    sandbox.set_faults(senders={SENDER: "toll_free", OTHER: {"type": "toll_free"}})
    sids = {SENDER: [], OTHER: []}
    for i in range(3):
        for sender in sids:
            sids[sender].append(await _send(twilio_async, f"n{i}", sender=sender))
    times = {sender: await _sent_times(sandbox, found) for sender, found in sids.items()}
    for gaps in map(_gaps, times.values()):
        assert all(abs(gap - 1 / 3) < SLACK for gap in gaps), gaps
    # Neither queue waits for the other: each message of a round leaves before either's next one.
    for k in range(2):
        assert max(times[SENDER][k], times[OTHER][k]) < min(times[SENDER][k + 1], times[OTHER][k + 1])
    report = await _senders(sandbox.http_url)
    assert report["segments_per_second"] == 6.0
    assert [report["senders"][s]["sent_segments"] for s in sids] == [3, 3]


async def test_more_requests_in_flight_than_the_cap_get_20429(sandbox, twilio_async):
    sandbox.set_faults(max_concurrent_requests=2, api_latency_ms=500)
    answers = await asyncio.gather(*(_send(twilio_async, f"n{i}") for i in range(5)), return_exceptions=True)
    refused = [a for a in answers if isinstance(a, TwilioRestException)]
    assert [(e.status, e.code) for e in refused] == [(429, 20429)] * 3
    assert len(sandbox.gateway.store.records) == 2  # a refused request is never processed
    await _send(twilio_async)  # slots free again once the others are answered


async def test_a_full_queue_fails_the_message_with_30001(sandbox, receiver, twilio_async):
    status, _ = await _post_faults(sandbox, {"senders": {SENDER: {"type": "long_code"}}, "queue_seconds": 2.5})
    assert status == 200
    # Queued: 1 then 2 seconds of sending; a third segment would make 3 > 2.5.
    answers = [await twilio_async.messages.create_async(to=ANA, from_=SENDER, body=f"n{i}",
                                                        status_callback=receiver.url("/s")) for i in range(3)]
    assert [m.status for m in answers] == ["queued"] * 3  # Twilio accepts it, then fails it
    late = answers[2].sid
    [call] = await eventually(lambda: [c for c in receiver.at("/s") if c.form["MessageSid"] == late])
    assert (call.form["MessageStatus"], call.form["ErrorCode"]) == ("failed", "30001")
    assert call.valid(sandbox.auth_token)
    fetched = await twilio_async.messages(late).fetch_async()
    assert (fetched.status, fetched.error_code, fetched.error_message) == ("failed", 30001, "Queue overflow")
    report = (await _senders(sandbox.http_url))["senders"][SENDER]
    assert (report["overflowed"], report["queue_limit_segments"]) == (1, 2.5)
    assert all(sandbox.gateway.store.get(m.sid).status != "failed" for m in answers[:2])


async def test_senders_report_types_rates_and_the_pool_ceiling(sandbox, twilio_async):
    sandbox.set_faults(sender_type="long_code", type_rates={"long_code": 10},
                       senders={"+15005550008": {"type": "short_code"}, SERVICE: {"type": "toll_free"}})
    await twilio_async.messages.create_async(to=BEN, messaging_service_sid=SERVICE, body="via the service")
    await _sent_times(sandbox, [await _send(twilio_async, sender=OTHER)])
    report = await _senders(sandbox.http_url)
    assert report["default"] == {"type": "long_code", "segments_per_second": 10.0}
    assert {k: (v["type"], v["segments_per_second"]) for k, v in report["senders"].items()} == {
        "+15005550008": ("short_code", 100.0), SERVICE: ("toll_free", 3.0), OTHER: ("long_code", 10.0)}
    assert report["segments_per_second"] == 113.0
    assert report["senders"][OTHER]["sent_segments"] == 1
    assert set(report["senders"][OTHER]) >= {"queued_messages", "queued_segments", "empty_at", "empty_in_seconds"}


async def test_limits_set_at_start_up_as_the_command_line_passes_them():
    args = parse_args(["--faults", '{"sender_type": "short_code", "api_latency_ms": 150, "api_jitter_ms": 30}'])
    handle = await start_sandbox("127.0.0.1", 0, 0, seed=args.seed, faults=args.faults)
    try:
        report = await _senders(handle.http_url)
        assert report["default"] == {"type": "short_code", "segments_per_second": 100.0}
        assert handle.faults.faults.api_latency_ms == 150.0
    finally:
        await handle.stop()


@pytest.mark.parametrize("changes", [
    {"sender_type": "satellite"},
    {"senders": {SENDER: {"type": "satellite"}}},
    {"senders": {SENDER: {"rate": 3}}},
    {"senders": {SENDER: {"segments_per_second": 0}}},
    {"senders": [SENDER]},
    {"type_rates": {"long_code": -1}},
    {"type_rates": {"carrier_pigeon": 1}},
    {"queue_seconds": 0},
    {"api_latency_ms": -1},
])
async def test_bad_limits_are_refused(sandbox, changes):
    status, answer = await _post_faults(sandbox, changes)
    assert status == 400 and answer["error"]


@pytest.mark.parametrize("text", [
    "", "a" * 160, "a" * 161, "a" * 306, "a" * 307, "€" * 80, "€" * 81, "[" * 77 + "a", "ñ" * 160,
    "ą" * 70, "ą" * 71, "ą" * 134, "ą" * 135, "😀" * 35, "😀" * 36, "a" * 66 + "😀",
])
def test_the_sandbox_counts_segments_as_the_notifiers_do(text):
    assert count_segments(text) == notifier_segments(text).segments
