"""The SMS sender pool: which number sends to a phone, and how long a fan-out takes at the senders' limits."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from hypothesis import given, settings as hsettings, strategies as st
from pydantic import ValidationError

from agents.pacing import Pacer
from agents.senders import Sender, SenderPool, phone_country
from streams.settings import Settings, TwilioSettings

SHORT = Sender("+15005550010", 100.0, from_number="+15005550010", kind="short_code")
LONG = Sender("+15005550011", 1.0, from_number="+15005550011")
KENYA = Sender("+254700000001", 10.0, from_number="+254700000001", countries=frozenset({"KE"}))
KE_PHONES = [f"+2547122{i:05d}" for i in range(300)]
US_PHONES = [f"+1202555{i:04d}" for i in range(2000)]


def test_a_phone_is_always_sent_from_the_same_sender():
    pool = SenderPool([SHORT, LONG])
    again = SenderPool([SHORT, LONG])
    assert [pool.choose(p) for p in US_PHONES] == [again.choose(p) for p in US_PHONES]


def test_a_local_number_sends_to_its_country_and_to_no_other():
    pool = SenderPool([SHORT, KENYA])
    assert {pool.choose(p) for p in KE_PHONES} == {KENYA}
    assert KENYA not in {pool.choose(p) for p in US_PHONES}


def test_phones_are_shared_in_proportion_to_each_senders_limit():
    pool = SenderPool([Sender("a", 30.0), Sender("b", 10.0)])
    shares = Counter(pool.choose(p).sender_id for p in US_PHONES)
    assert 0.70 < shares["a"] / len(US_PHONES) < 0.80


def test_adding_a_sender_moves_only_the_phones_it_takes():
    before = SenderPool([Sender("a", 10.0), Sender("b", 10.0)])
    after = SenderPool([Sender("a", 10.0), Sender("b", 10.0), Sender("c", 10.0)])
    moved = [p for p in US_PHONES if before.choose(p) != after.choose(p)]
    assert all(after.choose(p).sender_id == "c" for p in moved)
    assert 0.2 < len(moved) / len(US_PHONES) < 0.45


def test_without_a_sender_for_the_country_any_sender_will_do():
    only_local = SenderPool([KENYA, Sender("+5511999990000", 5.0, countries=frozenset({"BR"}))])
    assert only_local.choose("+12025550100").sender_id in {KENYA.sender_id, "+5511999990000"}


def test_the_pool_sends_at_the_sum_of_its_limits_and_a_fan_out_lasts_as_long_as_its_busiest_sender():
    pool = SenderPool([SHORT, KENYA])
    assert pool.rate == 110.0
    # 300 Kenyan phones x 2 segments all go from the 10 segments/s local number: 60 s.
    assert pool.seconds((p, 2) for p in KE_PHONES) == pytest.approx(60.0)
    assert pool.seconds((p, 1) for p in US_PHONES) == pytest.approx(20.0)
    assert pool.seconds([]) == 0.0


def test_unless_asked_a_phone_stays_on_its_own_sender_however_far_behind_it_is():
    pool = SenderPool([SHORT, LONG])
    busy = lambda s: 1000.0 if s is LONG else 0.0
    assert [pool.choose(p, busy) for p in US_PHONES] == [pool.choose(p) for p in US_PHONES]
    assert TwilioSettings().sticky_wait_seconds is None


def test_a_phone_whose_sender_is_behind_goes_from_another_it_may_be_sent_from():
    pool = SenderPool([SHORT, LONG, KENYA])
    busy = lambda s: {LONG: 30.0, SHORT: 0.5, KENYA: 0.0}[s]
    on_long = [p for p in US_PHONES if pool.choose(p) is LONG]
    assert on_long
    # Not to the Kenyan local number (it sends to Kenya only), and not when the gap is within the wait allowed.
    assert {pool.choose(p, busy, 1.0) for p in on_long} == {SHORT}
    assert {pool.choose(p, busy, 60.0) for p in on_long} == {LONG}
    # A Kenyan phone has one sender it may be sent from.
    assert {pool.choose(p, lambda s: 99.0 if s is KENYA else 0.0, 1.0) for p in KE_PHONES} == {KENYA}


async def test_with_a_wait_allowed_the_pool_finishes_a_fan_out_together_at_the_sum_of_its_limits():
    # 1,000 phones of 1-3 segments queued at once through real pacers, as the deliverer does: shared by hashing
    # alone, one sender is left with seconds more to send than the other; with a second's wait allowed the two
    # finish within about a second of each other, at the pool's rate.
    a, b = Sender("a", 30.0), Sender("b", 10.0)
    pool = SenderPool([a, b])
    phones = [(p, 1 + i % 3) for i, p in enumerate(US_PHONES[:1000])]
    ideal = sum(seg for _, seg in phones) / pool.rate
    pacers = {s: Pacer(s.rate) for s in pool.senders}
    waiting = []
    for phone, seg in phones:
        sender = pool.choose(phone, lambda s: pacers[s].backlog(), 1.0)
        waiting.append(asyncio.ensure_future(pacers[sender].acquire(seg)))
        await asyncio.sleep(0)  # the request has queued its cost
    backlogs = sorted(p.backlog() for p in pacers.values())
    for pacer in pacers.values():
        pacer.abandon()
    await asyncio.gather(*waiting, return_exceptions=True)
    assert backlogs[-1] - backlogs[0] <= 1.0 + 3 / b.rate
    assert backlogs[-1] <= ideal + 1.0 + 3 / b.rate
    # Strictly sticky, these phones keep one sender going over two seconds longer (of 50); the dashboard's
    # estimate shares them out as the deliverer does.
    assert pool.seconds(phones) > ideal + 2.0
    assert pool.seconds(phones, 1.0) <= ideal + 1.0 + 3 / b.rate


@hsettings(max_examples=50, deadline=None)
@given(st.lists(st.floats(min_value=0.5, max_value=500), min_size=1, max_size=6),
       st.integers(min_value=0, max_value=10**9))
def test_every_phone_gets_one_of_the_pools_senders(rates, seed):
    pool = SenderPool(Sender(f"s{i}", r) for i, r in enumerate(rates))
    phone = f"+1202{seed % 10**7:07d}"
    assert pool.choose(phone) in pool.senders


def test_no_pool_in_settings_is_the_one_number_at_the_configured_rate():
    pool = SenderPool.from_settings(TwilioSettings(from_number="+15005550006"), 10.0)
    assert [(s.sender_id, s.rate) for s in pool.senders] == [("+15005550006", 10.0)]
    assert not pool.pooled


def test_settings_take_a_pool_as_json(monkeypatch):
    monkeypatch.setenv("SOLIDARITY_TWILIO__SENDERS", '[{"from_number": "+15005550010", "type": "short_code"}, '
                       '{"from_number": "+254700000001", "segments_per_second": 10, "countries": ["ke"]}, '
                       '{"messaging_service_sid": "MG' + "a" * 32 + '", "type": "toll_free"}]')
    pool = SenderPool.from_settings(Settings().twilio, 10.0)
    assert [(s.sender_id[:4], s.rate, sorted(s.countries)) for s in pool.senders] == [
        ("+150", 100.0, []), ("+254", 10.0, ["KE"]), ("MGaa", 3.0, [])]
    assert pool.rate == 113.0 and pool.pooled


@pytest.mark.parametrize("sender, field", [
    ({"type": "short_code"}, "senders.0"),
    ({"from_number": "+1500", "messaging_service_sid": "MG" + "0" * 32}, "senders.0"),
    ({"from_number": "not a number"}, "senders.0.from_number"),
    ({"messaging_service_sid": "MG123"}, "senders.0.messaging_service_sid"),
    ({"from_number": "+15005550010", "type": "shortcode"}, "senders.0.type"),
    ({"from_number": "+15005550010", "segments_per_second": 0}, "senders.0.segments_per_second"),
    ({"from_number": "+15005550010", "countries": ["Kenya"]}, "senders.0.countries"),
])
def test_a_bad_sender_is_refused_naming_its_field(sender, field):
    with pytest.raises(ValidationError) as info:
        TwilioSettings(senders=[sender])
    assert any(".".join(map(str, e["loc"])).startswith(field) for e in info.value.errors()), info.value.errors()


def test_the_same_sender_twice_is_refused():
    with pytest.raises(ValidationError, match="only once"):
        TwilioSettings(senders=[{"from_number": "+15005550010"}, {"from_number": "+15005550010"}])


def test_phone_country_reads_the_number():
    assert phone_country("+254712200001") == "KE"
    assert phone_country("+5511987654321") == "BR"
    assert phone_country("12") is None


def test_phone_country_agrees_with_a_full_parse_for_every_countrys_example_numbers():
    import phonenumbers

    checked = 0
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            assert phone_country(e164) == phonenumbers.region_code_for_number(example), e164
            checked += 1
    assert checked > 400
