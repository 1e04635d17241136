"""On-call schedules: the shipped file, hand-offs at the boundary, DST, zones, overrides and config errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from agents.oncall import OnCallConfigError, Schedule, load_schedules, on_call
from schemas.vocab import Role

SECOND = timedelta(seconds=1)
TEAM = ["ana", "luis", "marta"]


def utc(text: str) -> datetime:
    """An aware UTC instant from 'YYYY-MM-DDTHH:MM[:SS]'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str, zone: str) -> datetime:
    """An aware instant from a wall-clock time in a zone."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def schedule(**fields: Any) -> Schedule:
    """A schedule of TEAM in Europe/Paris, daily hand-off at 09:00 from 2026-01-05, with fields changed."""
    body: dict[str, Any] = {
        "id": "desk",
        "name": "Desk",
        "timezone": "Europe/Paris",
        "members": TEAM,
        "rotation": {"every": "daily", "start": "2026-01-05"},
    }
    body.update(fields)
    return Schedule.model_validate(body)


def who(sched: Schedule, at: datetime, role_members: list[str] | None = None) -> list[str]:
    """The member ids on call at the instant."""
    return on_call(sched, at, role_members or []).member_ids


# --- the shipped file -------------------------------------------------------------------------------------

def test_shipped_schedules_are_todays_behaviour() -> None:
    schedules = load_schedules()
    assert list(schedules) == ["primary", "secondary"]
    assert schedules["primary"].role is Role.secretariat_oncall
    assert schedules["secondary"].role is Role.secretariat
    assert all(s.rotation is None and not s.members for s in schedules.values())


def test_role_schedule_pages_everyone_with_the_role_sorted() -> None:
    primary = load_schedules()["primary"]
    result = on_call(primary, utc("2026-05-01T03:00"), ["sec-zoe", "sec-ana", "sec-ana"])
    assert result.member_ids == ["sec-ana", "sec-zoe"]
    assert (result.schedule_id, result.since, result.until, result.override) == ("primary", None, None, False)


def test_role_schedule_with_nobody_holding_the_role_pages_nobody() -> None:
    assert who(load_schedules()["primary"], utc("2026-05-01T03:00")) == []


def test_members_win_over_role_members() -> None:
    sched = schedule(rotation=None)
    assert who(sched, utc("2026-05-01T03:00"), ["someone-else"]) == TEAM


def test_rotation_without_participants_pages_nobody() -> None:
    sched = schedule(members=[], role="secretariat_oncall")
    assert who(sched, utc("2026-01-06T12:00")) == []
    assert who(sched, utc("2026-01-06T12:00"), ["b", "a"]) == ["b"]  # day 1 of the sorted [a, b]


def test_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        on_call(schedule(), datetime(2026, 1, 6, 12, 0))


# --- hand-offs at the boundary ----------------------------------------------------------------------------

# (rotation, instant, expected on call). Paris is UTC+1 in January: the 09:00 hand-off is 08:00 UTC.
HANDOFFS: list[tuple[dict[str, Any], datetime, str]] = [
    ({"every": "daily", "start": "2026-01-05"}, utc("2026-01-05T08:00"), "ana"),
    ({"every": "daily", "start": "2026-01-05"}, utc("2026-01-06T08:00") - SECOND, "ana"),
    ({"every": "daily", "start": "2026-01-05"}, utc("2026-01-06T08:00"), "luis"),
    ({"every": "daily", "start": "2026-01-05"}, utc("2026-01-07T08:00"), "marta"),
    ({"every": "daily", "start": "2026-01-05"}, utc("2026-01-08T08:00") - SECOND, "marta"),
    ({"every": "daily", "start": "2026-01-05"}, utc("2026-01-08T08:00"), "ana"),
    # Before the first shift the cycle runs backwards: start only anchors it.
    ({"every": "daily", "start": "2026-01-05"}, utc("2026-01-05T08:00") - SECOND, "marta"),
    ({"every": "daily", "start": "2026-01-05", "handoff": "17:30"}, utc("2026-01-06T16:30") - SECOND, "ana"),
    ({"every": "daily", "start": "2026-01-05", "handoff": "17:30"}, utc("2026-01-06T16:30"), "luis"),
    ({"every": "weekly", "start": "2026-01-05"}, utc("2026-01-12T08:00") - SECOND, "ana"),
    ({"every": "weekly", "start": "2026-01-05"}, utc("2026-01-12T08:00"), "luis"),
    ({"every": "weekly", "start": "2026-01-05"}, utc("2026-01-26T08:00"), "ana"),
    ({"every": "weekly", "weekday": "friday", "handoff": "18:00", "start": "2026-01-09"},
     utc("2026-01-16T17:00") - SECOND, "ana"),
    ({"every": "weekly", "weekday": "friday", "handoff": "18:00", "start": "2026-01-09"},
     utc("2026-01-16T17:00"), "luis"),
]


@pytest.mark.parametrize(("rotation", "at", "expected"), HANDOFFS)
def test_handoff_at_the_boundary(rotation: dict[str, Any], at: datetime, expected: str) -> None:
    assert who(schedule(rotation=rotation), at) == [expected]


def test_shift_knows_when_it_began_and_ends() -> None:
    result = on_call(schedule(), utc("2026-01-06T12:00"))
    assert (result.since, result.until, result.override) == (utc("2026-01-06T08:00"), utc("2026-01-07T08:00"), False)
    weekly = on_call(schedule(rotation={"every": "weekly", "start": "2026-01-05"}), utc("2026-01-14T12:00"))
    assert (weekly.since, weekly.until) == (utc("2026-01-12T08:00"), utc("2026-01-19T08:00"))


def test_shift_one_is_the_next_in_the_rotation() -> None:
    primary, secondary = schedule(), schedule(id="desk-backup", shift=1)
    third = schedule(id="desk-third", shift=5)  # 5 = 2 modulo three members
    for day in range(6):
        at = utc("2026-01-05T12:00") + timedelta(days=day)
        assert who(secondary, at) == [TEAM[(TEAM.index(who(primary, at)[0]) + 1) % 3]]
        assert who(third, at) == [TEAM[(TEAM.index(who(primary, at)[0]) + 2) % 3]]
    assert on_call(secondary, utc("2026-01-06T12:00")).until == on_call(primary, utc("2026-01-06T12:00")).until


# --- daylight saving time: the hand-off stays at the same wall-clock time --------------------------------

# (zone, instant, expected, since, until). Paris: CET -> CEST on 2026-03-29, back on 2026-10-25. Santiago:
# -03 -> -04 in the night of 4-5 April 2026, back to -03 in the night of 5-6 September.
DST: list[tuple[str, datetime, str, datetime, datetime]] = [
    ("Europe/Paris", utc("2026-03-29T07:00") - SECOND, "ana", utc("2026-03-28T08:00"), utc("2026-03-29T07:00")),
    ("Europe/Paris", utc("2026-03-29T07:00"), "luis", utc("2026-03-29T07:00"), utc("2026-03-30T07:00")),
    ("Europe/Paris", utc("2026-10-25T08:00") - SECOND, "ana", utc("2026-10-24T07:00"), utc("2026-10-25T08:00")),
    ("Europe/Paris", utc("2026-10-25T08:00"), "luis", utc("2026-10-25T08:00"), utc("2026-10-26T08:00")),
    ("America/Santiago", utc("2026-04-05T13:00") - SECOND, "ana", utc("2026-04-04T12:00"), utc("2026-04-05T13:00")),
    ("America/Santiago", utc("2026-04-05T13:00"), "luis", utc("2026-04-05T13:00"), utc("2026-04-06T13:00")),
    ("America/Santiago", utc("2026-09-06T12:00") - SECOND, "ana", utc("2026-09-05T13:00"), utc("2026-09-06T12:00")),
    ("America/Santiago", utc("2026-09-06T12:00"), "luis", utc("2026-09-06T12:00"), utc("2026-09-07T12:00")),
]


@pytest.mark.parametrize(("zone", "at", "expected", "since", "until"), DST)
def test_daily_handoff_keeps_its_local_time_across_dst(
    zone: str, at: datetime, expected: str, since: datetime, until: datetime,
) -> None:
    # Start each rotation the day before the change, so "ana" holds the shift that spans it.
    day = at.astimezone(ZoneInfo(zone)).date() - timedelta(days=1)
    sched = schedule(timezone=zone, members=["ana", "luis"], rotation={"every": "daily", "start": day.isoformat()})
    result = on_call(sched, at)
    assert (result.member_ids, result.since, result.until) == ([expected], since, until)
    assert {t.astimezone(ZoneInfo(zone)).hour for t in (result.since, result.until)} == {9}


def test_handoff_inside_a_spring_forward_gap_happens_when_the_gap_ends() -> None:
    # Santiago skips 00:00-01:00 on 2026-09-06: midnight that day is 01:00 -03 (04:00 UTC).
    rotation = {"every": "daily", "handoff": "00:00", "start": "2026-09-05"}
    sched = schedule(timezone="America/Santiago", rotation=rotation)
    assert who(sched, utc("2026-09-06T04:00") - SECOND) == ["ana"]
    assert who(sched, utc("2026-09-06T04:00")) == ["luis"]


def test_each_schedule_hands_off_in_its_own_zone() -> None:
    manila = schedule(timezone="Asia/Manila")  # UTC+8: 09:00 on 2026-01-06 is 01:00 UTC
    mexico = schedule(timezone="America/Mexico_City")  # UTC-6: 09:00 on 2026-01-05 is 15:00 UTC
    at = utc("2026-01-06T02:00")
    assert who(manila, at) == ["luis"]  # 10:00 on the 6th in Manila: day 1
    assert who(mexico, at) == ["ana"]  # 20:00 on the 5th in Mexico City: still day 0
    assert on_call(manila, at).until == utc("2026-01-07T01:00")
    assert on_call(mexico, at).until == utc("2026-01-06T15:00")


def test_unquoted_handoff_in_yaml_is_a_time(tmp_path: Path) -> None:
    # Plain YAML 1.1 would read 19:00 as the base-60 number 68400.
    path = tmp_path / "oncall.yaml"
    path.write_text(
        "schedules:\n- {id: a, name: A, timezone: UTC, members: [x, y],\n"
        "   rotation: {every: daily, handoff: 19:00, start: 2026-01-05}}\n"
    )
    sched = load_schedules(path)["a"]
    assert who(sched, utc("2026-01-05T19:00") - SECOND) == ["y"]
    assert who(sched, utc("2026-01-05T19:00")) == ["x"]


# --- overrides --------------------------------------------------------------------------------------------

PARIS = "Europe/Paris"
# On 2026-01-06 the rotation gives luis (from 09:00). x covers 12:00-18:00, y 15:00-16:00 (listed later: wins).
COVER = [
    {"members": ["x"], "start": "2026-01-06T12:00", "end": "2026-01-06T18:00"},
    {"members": ["y", "z"], "start": "2026-01-06T15:00", "end": "2026-01-06T16:00"},
]

# (local wall-clock instant in Paris, on call, override, since, until), all local to Paris.
OVERRIDES: list[tuple[str, list[str], bool, str, str]] = [
    ("2026-01-06T11:59:59", ["luis"], False, "2026-01-06T09:00", "2026-01-06T12:00"),
    ("2026-01-06T12:00", ["x"], True, "2026-01-06T12:00", "2026-01-06T15:00"),
    ("2026-01-06T14:59:59", ["x"], True, "2026-01-06T12:00", "2026-01-06T15:00"),
    ("2026-01-06T15:00", ["y", "z"], True, "2026-01-06T15:00", "2026-01-06T16:00"),
    ("2026-01-06T15:59:59", ["y", "z"], True, "2026-01-06T15:00", "2026-01-06T16:00"),
    ("2026-01-06T16:00", ["x"], True, "2026-01-06T16:00", "2026-01-06T18:00"),
    ("2026-01-06T17:59:59", ["x"], True, "2026-01-06T16:00", "2026-01-06T18:00"),
    ("2026-01-06T18:00", ["luis"], False, "2026-01-06T18:00", "2026-01-07T09:00"),
]


@pytest.mark.parametrize(("at", "expected", "override", "since", "until"), OVERRIDES)
def test_override_start_inclusive_end_exclusive_latest_wins(
    at: str, expected: list[str], override: bool, since: str, until: str,
) -> None:
    result = on_call(schedule(overrides=COVER), local(at, PARIS))
    assert (result.member_ids, result.override) == (expected, override)
    assert (result.since, result.until) == (local(since, PARIS), local(until, PARIS))


def test_override_listed_last_wins_even_if_it_began_first() -> None:
    sched = schedule(overrides=list(reversed(COVER)))
    assert who(sched, local("2026-01-06T15:30", PARIS)) == ["x"]
    assert on_call(sched, local("2026-01-06T15:30", PARIS)).until == local("2026-01-06T18:00", PARIS)


def test_override_with_utc_offsets_and_without_rotation() -> None:
    sched = schedule(rotation=None, overrides=[
        {"members": ["x"], "start": "2026-01-06T12:00:00+00:00", "end": "2026-01-06T13:00:00+00:00"},
    ])
    before = on_call(sched, utc("2026-01-06T11:00"))
    assert (before.member_ids, before.since, before.until) == (TEAM, None, utc("2026-01-06T12:00"))
    during = on_call(sched, utc("2026-01-06T12:30"))
    assert (during.member_ids, during.override, during.until) == (["x"], True, utc("2026-01-06T13:00"))
    after = on_call(sched, utc("2026-01-06T13:00"))
    assert (after.member_ids, after.since, after.until) == (TEAM, utc("2026-01-06T13:00"), None)


# --- config errors: every message names the file, the entry and the field ---------------------------------

GOOD = {"id": "primary", "name": "Primary", "timezone": "UTC", "role": "secretariat_oncall"}
ROTA = {"id": "secondary", "name": "Secondary", "timezone": "Europe/Paris", "members": ["a", "b"],
        "rotation": {"every": "daily", "start": "2026-01-05"}}


def entry(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of a schedule entry with top-level keys changed (None removes a key)."""
    out = {**base, **changes}
    return {k: v for k, v in out.items() if v is not None}


def rota(**rotation: Any) -> dict[str, Any]:
    """ROTA with rotation keys changed (None removes a key)."""
    return entry(ROTA, rotation={k: v for k, v in {**ROTA["rotation"], **rotation}.items() if v is not None})


# (second schedule entry, expected fragment of the message)
ERRORS: list[tuple[dict[str, Any], str]] = [
    (entry(ROTA, timezone="Mars/Olympus"),
     "schedules[1] (id 'secondary').timezone: unknown time zone 'Mars/Olympus'"),
    (rota(handoff="25:00"), "schedules[1] (id 'secondary').rotation.handoff:"),
    (rota(handoff=540), "schedules[1] (id 'secondary').rotation.handoff: must be a time of day such as '09:00'"),
    (rota(handoff="09:00+02:00"), "schedules[1] (id 'secondary').rotation.handoff: must be a local time"),
    (rota(every="monthly"), "schedules[1] (id 'secondary').rotation.every:"),
    (rota(weekday="monday"), "schedules[1] (id 'secondary').rotation.weekday: only a weekly rotation"),
    (rota(every="weekly", start="2026-01-06"),
     "schedules[1] (id 'secondary').rotation.start: 2026-01-06 is a tuesday, not a monday"),
    (rota(every="weekly", weekday="someday"), "schedules[1] (id 'secondary').rotation.weekday:"),
    (rota(start=None), "schedules[1] (id 'secondary').rotation.start: Field required"),
    (rota(every_day=True), "schedules[1] (id 'secondary').rotation.every_day: unknown key"),
    (entry(ROTA, rotaton={"every": "daily"}), "schedules[1] (id 'secondary').rotaton: unknown key"),
    (entry(ROTA, members=None), "schedules[1] (id 'secondary'): a schedule needs members or a role"),
    (entry(ROTA, role="secretariat"), "schedules[1] (id 'secondary').role: give either members or role"),
    (entry(ROTA, members=None, role="boss"), "schedules[1] (id 'secondary').role:"),
    (entry(ROTA, members=["a", "b", "a"]), "schedules[1] (id 'secondary').members: lists a more than once"),
    (entry(ROTA, members=["a b"]), "schedules[1] (id 'secondary').members[0]:"),
    (entry(ROTA, shift=-1), "schedules[1] (id 'secondary').shift:"),
    (entry(ROTA, id="Second Desk"), "schedules[1] (id 'Second Desk').id:"),
    (entry(ROTA, id=None), "schedules[1].id: Field required"),
    (entry(ROTA, overrides=[{"members": ["c"], "start": "2026-01-06T12:00", "end": "2026-01-06T12:00"}]),
     "schedules[1] (id 'secondary').overrides[0].end: must be after start"),
    (entry(ROTA, overrides=[{"members": ["c"], "start": "2026-01-06T12:00", "end": "2026-01-06T13:00+00:00"}]),
     "schedules[1] (id 'secondary').overrides[0].end: start and end must both give a UTC offset"),
    (entry(ROTA, overrides=[{"members": [], "start": "2026-01-06T12:00", "end": "2026-01-06T13:00"}]),
     "schedules[1] (id 'secondary').overrides[0].members:"),
    (entry(ROTA, overrides=[{"members": ["c"], "start": "2026-01-06T12:00", "until": "2026-01-07"}]),
     "schedules[1] (id 'secondary').overrides[0].until: unknown key"),
    (entry(ROTA, id="primary"), "schedules[1] (id 'primary').id: duplicate id 'primary' (first at schedules[0])"),
]


@pytest.mark.parametrize(("second", "fragment"), ERRORS)
def test_config_error_names_file_entry_and_field(tmp_path: Path, second: dict[str, Any], fragment: str) -> None:
    path = tmp_path / "oncall.yaml"
    path.write_text(yaml.safe_dump({"schedules": [GOOD, second]}, sort_keys=False))
    with pytest.raises(OnCallConfigError) as caught:
        load_schedules(path)
    assert str(caught.value).startswith("oncall.yaml: ")
    assert fragment in str(caught.value)


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "oncall.yaml: (file):"),
    ("schedules: []\n", "oncall.yaml: schedules:"),
    ("schedule: []\n", "oncall.yaml: schedule: unknown key"),
    ("schedules: [\n", "oncall.yaml: cannot read"),
])
def test_malformed_file_is_refused(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "oncall.yaml"
    path.write_text(text)
    with pytest.raises(OnCallConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        load_schedules(path)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OnCallConfigError, match="oncall.yaml: cannot read"):
        load_schedules(tmp_path / "oncall.yaml")


def test_a_valid_rotation_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "oncall.yaml"
    path.write_text(yaml.safe_dump({"schedules": [GOOD, ROTA]}))
    assert list(load_schedules(path)) == ["primary", "secondary"]
