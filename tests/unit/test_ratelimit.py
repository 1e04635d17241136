"""Flood control rules: a burst, then a steady rate per key; refusals cost nothing; addresses keyed sensibly."""

import pytest

from agents.ratelimit import RateLimiter, address_key, retry_after_seconds


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def reports_limiter(clock: Clock, max_keys: int = 100_000) -> RateLimiter:
    """The default report limit: 30 a minute, a burst of 10."""
    return RateLimiter(30 / 60, 10, clock=clock, max_keys=max_keys)


def test_a_burst_is_allowed_then_the_next_is_refused_with_the_wait():
    clock = Clock()
    limiter = reports_limiter(clock)
    assert [limiter.take("tok_a") for _ in range(10)] == [0.0] * 10
    assert limiter.take("tok_a") == pytest.approx(2.0)  # one report every 2 s at 30 a minute


def test_the_bucket_refills_at_the_steady_rate_and_never_above_the_burst():
    clock = Clock()
    limiter = reports_limiter(clock)
    for _ in range(10):
        limiter.take("tok_a")
    clock.advance(2.0)
    assert limiter.take("tok_a") == 0.0
    assert limiter.take("tok_a") > 0
    clock.advance(3600)
    assert limiter.remaining("tok_a") == 10
    assert sum(limiter.take("tok_a") == 0.0 for _ in range(20)) == 10


def test_over_a_minute_of_hammering_a_token_gets_the_burst_plus_the_rate():
    clock = Clock()
    limiter = reports_limiter(clock)
    accepted = 0
    for _ in range(600):  # ten attempts a second for a minute
        accepted += limiter.take("tok_a") == 0.0
        clock.advance(0.1)
    assert accepted == 10 + 30 - 1 or accepted == 10 + 30  # the last refill may land just after the minute


def test_refused_requests_cost_nothing():
    clock = Clock()
    limiter = reports_limiter(clock)
    for _ in range(10):
        limiter.take("tok_a")
    for _ in range(50):
        assert limiter.take("tok_a") > 0
    clock.advance(2.0)
    assert limiter.take("tok_a") == 0.0


def test_one_key_over_its_limit_leaves_others_alone():
    clock = Clock()
    limiter = reports_limiter(clock)
    for _ in range(60):
        limiter.take("tok_flood")
    assert limiter.take("tok_other") == 0.0
    assert limiter.remaining("tok_other") == 9


def test_per_window_spends_the_whole_allowance_then_refills_over_the_window():
    clock = Clock()
    logins = RateLimiter.per_window(10, 15 * 60, clock=clock)
    assert all(logins.take("10.0.0.1") == 0.0 for _ in range(10))
    assert logins.take("10.0.0.1") == pytest.approx(90.0)  # 15 minutes / 10 attempts
    clock.advance(15 * 60)
    assert logins.remaining("10.0.0.1") == 10


def test_full_buckets_are_forgotten_when_the_limiter_is_full_but_active_ones_are_kept():
    clock = Clock()
    limiter = reports_limiter(clock, max_keys=4)
    for _ in range(10):
        limiter.take("flooding")
    for key in ("a", "b", "c"):
        limiter.take(key)
    clock.advance(5)  # a, b, c are full again (2 s each); "flooding" needs 20 s
    limiter.take("new")
    assert len(limiter) <= 4
    assert limiter.remaining("flooding") < 10  # still limited: its bucket was not forgotten


def test_memory_stays_bounded_under_a_flood_of_new_keys():
    clock = Clock()
    limiter = reports_limiter(clock, max_keys=100)
    for i in range(5000):
        for _ in range(10):
            limiter.take(f"addr{i}")
    assert len(limiter) <= 100


@pytest.mark.parametrize("wait, header", [(0.001, 1), (0.5, 1), (1.0, 1), (1.01, 2), (89.2, 90)])
def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one(wait, header):
    assert retry_after_seconds(wait) == header


@pytest.mark.parametrize("remote, key", [
    ("203.0.113.7", "203.0.113.7"),
    ("::ffff:203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),  # same subscriber prefix, same bucket
    ("fe80::1%eth0", "fe80::/64"),
    (None, "unknown"),
    ("not-an-address", "not-an-address"),
])
def test_address_keys(remote, key):
    assert address_key(remote) == key


def test_a_limit_needs_a_positive_rate_and_a_burst():
    with pytest.raises(ValueError):
        RateLimiter(0, 10)
    with pytest.raises(ValueError):
        RateLimiter(1, 0)


def test_the_defaults_are_30_reports_a_minute_with_a_burst_of_10_and_env_overrides_them(monkeypatch):
    from streams.settings import Settings

    for name in ("REPORTS_PER_MINUTE", "REPORT_BURST", "LOGIN_ATTEMPTS", "LOGIN_WINDOW_MINUTES"):
        monkeypatch.delenv(f"SOLIDARITY_LIMITS__{name}", raising=False)
    limits = Settings().limits
    assert (limits.reports_per_minute, limits.report_burst) == (30, 10)
    assert (limits.login_attempts, limits.login_window_minutes) == (10, 15)
    assert all(field.description for field in type(limits).model_fields.values())
    monkeypatch.setenv("SOLIDARITY_LIMITS__REPORTS_PER_MINUTE", "120")
    monkeypatch.setenv("SOLIDARITY_LIMITS__REPORT_BURST", "3")
    assert (Settings().limits.reports_per_minute, Settings().limits.report_burst) == (120, 3)
