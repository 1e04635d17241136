"""Escalation policies: the shipped files, firings and offsets, policy choice, targets and config errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from agents.escalation import (
    EscalationConfigError, Policy, Step, finished_at_offset, firings, load_policies, next_due, parse_duration,
    resolve_targets, select_policy,
)
from agents.oncall import Schedule, load_schedules
from schemas.vocab import Channel, Region, Role, Urgency

MIN = timedelta(minutes=1)
START = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)
# sec-ana holds both secretariat roles; the escalation must still page her once per step.
ROLES: dict[Role, list[str]] = {
    Role.secretariat_oncall: ["sec-ana", "sec-bea"],
    Role.secretariat: ["sec-ana", "sec-carl", "sec-dee"],
    Role.member: ["org-1", "org-2"],
}


@pytest.fixture(scope="module")
def shipped() -> dict[str, Policy]:
    """The packaged policies, checked against the packaged schedules."""
    return {p.id: p for p in load_policies(schedules=load_schedules())}


def policy(**fields: Any) -> Policy:
    """A one-step generic critical policy with fields changed."""
    body: dict[str, Any] = {
        "id": "p", "name": "P", "match": {"urgency": ["critical"]},
        "steps": [{"targets": [{"schedule": "primary"}], "delay": "5m"}],
    }
    body.update(fields)
    return Policy.model_validate(body)


# --- the shipped files ------------------------------------------------------------------------------------

def test_shipped_policies_load_against_shipped_schedules(shipped: dict[str, Policy]) -> None:
    assert list(shipped) == ["critical", "high"]
    schedules = load_schedules()
    named = {t.schedule for p in shipped.values() for s in p.steps for t in s.targets if t.schedule}
    assert named == {"primary", "secondary"}
    assert named <= set(schedules)
    critical = shipped["critical"]
    assert [s.delay for s in critical.steps] == [5 * MIN, 10 * MIN, 10 * MIN]
    assert critical.repeat == 2
    assert all(s.channels == [Channel.sms, Channel.email] for p in shipped.values() for s in p.steps)


def test_critical_policy_fires_nine_times(shipped: dict[str, Policy]) -> None:
    sequence = firings(shipped["critical"])
    assert [f.offset / MIN for f in sequence] == [0, 5, 15, 25, 30, 40, 50, 55, 65]
    assert [(f.index, f.round, f.step) for f in sequence] == [(i, i // 3, i % 3) for i in range(9)]
    assert [f.last for f in sequence] == [False] * 8 + [True]
    assert finished_at_offset(shipped["critical"]) == 75 * MIN


def test_high_policy_fires_four_times(shipped: dict[str, Policy]) -> None:
    assert [f.offset / MIN for f in firings(shipped["high"])] == [0, 15, 45, 60]
    assert finished_at_offset(shipped["high"]) == 90 * MIN


def test_policy_without_repeat_fires_each_step_once() -> None:
    one = policy()
    assert [(f.index, f.round, f.step, f.offset, f.last) for f in firings(one)] == [(0, 0, 0, timedelta(0), True)]
    assert finished_at_offset(one) == 5 * MIN


# (fired so far, expected (index, round, step, due minutes after start) or None)
NEXT: list[tuple[int, tuple[int, int, int, int] | None]] = [
    (0, (0, 0, 0, 0)),
    (1, (1, 0, 1, 5)),
    (3, (3, 1, 0, 25)),
    (8, (8, 2, 2, 65)),
    (9, None),
    (20, None),
]


@pytest.mark.parametrize(("fired", "expected"), NEXT)
def test_next_due(shipped: dict[str, Policy], fired: int, expected: tuple[int, int, int, int] | None) -> None:
    due = next_due(shipped["critical"], START, fired)
    if expected is None:
        assert due is None
        return
    assert due is not None
    firing, at = due
    assert (firing.index, firing.round, firing.step, (at - START) / MIN) == expected


def test_next_due_refuses_a_negative_count(shipped: dict[str, Policy]) -> None:
    with pytest.raises(ValueError, match="fired"):
        next_due(shipped["critical"], START, -1)


# --- which policy a case gets -----------------------------------------------------------------------------

AMERICAS = policy(id="critical-americas", match={"urgency": ["critical"], "regions": ["americas", "mena"]})
SELECT: list[tuple[Urgency, Region | None, str | None]] = [
    (Urgency.critical, Region.americas, "critical-americas"),
    (Urgency.critical, Region.mena, "critical-americas"),
    (Urgency.critical, Region.africa, "critical"),
    (Urgency.critical, None, "critical"),
    (Urgency.high, Region.americas, "high"),
    (Urgency.medium, Region.americas, None),
    (Urgency.low, None, None),
]


@pytest.mark.parametrize(("urgency", "region", "expected"), SELECT)
def test_region_specific_policy_wins_over_generic(
    shipped: dict[str, Policy], urgency: Urgency, region: Region | None, expected: str | None,
) -> None:
    # The specific policy is listed last on purpose: its region, not its position, makes it win.
    chosen = select_policy([*shipped.values(), AMERICAS], urgency, region)
    assert (chosen.id if chosen else None) == expected


def test_no_generic_policy_leaves_other_regions_unpaged() -> None:
    assert select_policy([AMERICAS], Urgency.critical, Region.africa) is None
    assert select_policy([AMERICAS], Urgency.critical, None) is None


# --- whom a step pages ------------------------------------------------------------------------------------

def test_step_pages_secondary_then_primary_once_each(shipped: dict[str, Policy]) -> None:
    step = shipped["critical"].steps[1]
    assert resolve_targets(step, load_schedules(), START, ROLES) == ["sec-ana", "sec-carl", "sec-dee", "sec-bea"]


def test_whole_secretariat_is_both_roles_sorted(shipped: dict[str, Policy]) -> None:
    step = shipped["critical"].steps[2]
    assert resolve_targets(step, load_schedules(), START, ROLES) == ["sec-ana", "sec-bea", "sec-carl", "sec-dee"]


def test_targets_keep_their_order_and_first_occurrence() -> None:
    step = Step.model_validate({"targets": [
        {"members": ["org-9", "sec-bea"]}, {"schedule": "primary"}, {"members": ["org-9"]}, {"secretariat": True},
    ], "delay": 60})
    assert resolve_targets(step, load_schedules(), START, ROLES) == [
        "org-9", "sec-bea", "sec-ana", "sec-carl", "sec-dee",
    ]


def test_schedule_target_follows_the_rotation_at_the_instant() -> None:
    desk = Schedule.model_validate({
        "id": "desk", "name": "Desk", "timezone": "UTC", "members": ["sec-carl", "sec-dee"],
        "rotation": {"every": "daily", "handoff": "09:00", "start": "2026-05-01"},
    })
    step = Step.model_validate({"targets": [{"schedule": "desk"}, {"schedule": "primary"}], "delay": "5m"})
    schedules = {**load_schedules(), "desk": desk}
    assert resolve_targets(step, schedules, START, ROLES) == ["sec-dee", "sec-ana", "sec-bea"]  # before 09:00
    assert resolve_targets(step, schedules, START.replace(hour=9), ROLES) == ["sec-carl", "sec-ana", "sec-bea"]


def test_nobody_holding_the_roles_pages_nobody(shipped: dict[str, Policy]) -> None:
    assert resolve_targets(shipped["critical"].steps[1], load_schedules(), START, {}) == []


def test_unknown_schedule_is_a_key_error() -> None:
    step = Step.model_validate({"targets": [{"schedule": "nowhere"}], "delay": "5m"})
    with pytest.raises(KeyError):
        resolve_targets(step, load_schedules(), START, ROLES)


# --- durations --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("written", "expected"), [
    ("30s", timedelta(seconds=30)), ("5m", 5 * MIN), ("1h", 60 * MIN), ("1h30m", 90 * MIN),
    ("1h0m5s", timedelta(hours=1, seconds=5)), ("24h", 24 * 60 * MIN), (90, timedelta(seconds=90)),
    (timedelta(minutes=2), 2 * MIN),
])
def test_duration_is_parsed(written: Any, expected: timedelta) -> None:
    assert parse_duration(written) == expected


@pytest.mark.parametrize(("written", "fragment"), [
    ("soon", "must be a duration such as 30s, 5m or 1h (got 'soon')"),
    ("", "must be a duration such as 30s, 5m or 1h (got '')"),
    ("1.5h", "must be a duration"),
    ("5 m", "must be a duration"),
    ("m", "must be a duration"),
    (True, "must be a duration"),
    (2.5, "must be a duration"),
    ("0s", "must be more than 0"),
    (0, "must be more than 0"),
    (-5, "must be more than 0"),
    ("25h", "must be at most 24h"),
    (86401, "must be at most 24h"),
])
def test_bad_duration_is_refused(written: Any, fragment: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(written)
    assert fragment in str(caught.value)


# --- config errors: every message names the file, the policy, the step and the field ----------------------

CRITICAL: dict[str, Any] = {
    "id": "critical", "name": "Critical", "match": {"urgency": ["critical"]},
    "steps": [
        {"targets": [{"schedule": "primary"}], "delay": "5m"},
        {"targets": [{"schedule": "secondary"}, {"schedule": "primary"}], "delay": "10m"},
    ],
}


def changed(base: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A copy of a policy entry with top-level keys changed."""
    return {**base, **fields}


def second_step(**fields: Any) -> dict[str, Any]:
    """CRITICAL with keys of its second step changed."""
    return changed(CRITICAL, steps=[CRITICAL["steps"][0], {**CRITICAL["steps"][1], **fields}])


HIGH = changed(CRITICAL, id="high", match={"urgency": ["high"]})
AT = "policies[0] (id 'critical')"
# (policies, expected fragment of the message)
ERRORS: list[tuple[list[dict[str, Any]], str]] = [
    ([second_step(targets=[{"schedule": "primary"}, {"schedule": "secundary"}])],
     f"{AT}.steps[1].targets[1].schedule: unknown schedule 'secundary' (known: primary, secondary)"),
    ([second_step(delay="soon")], f"{AT}.steps[1].delay: must be a duration such as 30s, 5m or 1h (got 'soon')"),
    ([second_step(delay="48h")], f"{AT}.steps[1].delay: must be at most 24h"),
    ([second_step(targets=[{"schedule": "primary", "members": ["a"]}])],
     f"{AT}.steps[1].targets[0].members: a target is one of schedule, members or secretariat; "
     "this one also has schedule"),
    ([second_step(targets=[{"members": ["a"], "secretariat": True}])],
     f"{AT}.steps[1].targets[0].secretariat: a target is one of"),
    ([second_step(targets=[{}])], f"{AT}.steps[1].targets[0]: a target needs one of schedule, members or secretariat"),
    ([second_step(targets=[{"secretariat": False}])], f"{AT}.steps[1].targets[0].secretariat:"),
    ([second_step(targets=[{"members": []}])], f"{AT}.steps[1].targets[0].members:"),
    ([second_step(targets=[{"team": "x"}])], f"{AT}.steps[1].targets[0].team: unknown key"),
    ([second_step(targets=[])], f"{AT}.steps[1].targets:"),
    ([second_step(channels=["sms", "sms"])], f"{AT}.steps[1].channels: lists a channel more than once"),
    ([second_step(channels=[])], f"{AT}.steps[1].channels:"),
    ([second_step(channels=["pigeon"])], f"{AT}.steps[1].channels[0]:"),
    ([second_step(wait="5m")], f"{AT}.steps[1].wait: unknown key"),
    ([changed(CRITICAL, match={"urgency": ["medium"]})],
     f"{AT}.match.urgency: only high and critical cases page anyone (got medium)"),
    ([changed(CRITICAL, match={"urgency": []})], f"{AT}.match.urgency:"),
    ([changed(CRITICAL, match={"urgency": ["critical"], "regions": ["atlantis"]})], f"{AT}.match.regions[0]:"),
    ([changed(CRITICAL, repeat=11)], f"{AT}.repeat:"),
    ([changed(CRITICAL, steps=[])], f"{AT}.steps:"),
    ([changed(CRITICAL, escalate=True)], f"{AT}.escalate: unknown key"),
    ([changed(CRITICAL, id="Critical!")], "policies[0] (id 'Critical!').id:"),
    ([CRITICAL, changed(HIGH, id="critical")],
     "policies[1] (id 'critical').id: duplicate id 'critical' (first at policies[0])"),
    ([CRITICAL, changed(HIGH, match={"urgency": ["high", "critical"]})],
     "policies[1] (id 'high').match: ambiguous with policies[0] (id 'critical'): both match urgency critical in "
     "any region"),
    ([changed(CRITICAL, match={"urgency": ["critical"], "regions": ["africa", "mena"]}),
      changed(HIGH, id="critical-mena", match={"urgency": ["critical"], "regions": ["mena", "americas"]})],
     "policies[1] (id 'critical-mena').match: ambiguous with policies[0] (id 'critical'): both match urgency "
     "critical in mena"),
]


def write(tmp_path: Path, policies: list[dict[str, Any]]) -> Path:
    """An escalation.yaml with these policies."""
    path = tmp_path / "escalation.yaml"
    path.write_text(yaml.safe_dump({"policies": policies}, sort_keys=False))
    return path


@pytest.mark.parametrize(("policies", "fragment"), ERRORS)
def test_config_error_names_file_policy_step_and_field(
    tmp_path: Path, policies: list[dict[str, Any]], fragment: str,
) -> None:
    with pytest.raises(EscalationConfigError) as caught:
        load_policies(write(tmp_path, policies), load_schedules())
    assert str(caught.value).startswith("escalation.yaml: ")
    assert fragment in str(caught.value)


def test_unknown_schedules_are_only_checked_when_schedules_are_given(tmp_path: Path) -> None:
    path = write(tmp_path, [second_step(targets=[{"schedule": "secundary"}])])
    assert [p.id for p in load_policies(path)] == ["critical"]


@pytest.mark.parametrize("policies", [
    [CRITICAL, HIGH],
    [CRITICAL, changed(HIGH, id="critical-americas", match={"urgency": ["critical"], "regions": ["americas"]})],
    [changed(CRITICAL, match={"urgency": ["critical"], "regions": ["africa"]}),
     changed(HIGH, id="critical-mena", match={"urgency": ["critical"], "regions": ["mena"]})],
    [changed(CRITICAL, match={"urgency": ["critical"], "regions": ["africa"]}),
     changed(HIGH, match={"urgency": ["high"], "regions": ["africa"]})],
])
def test_policies_that_do_not_overlap_load(tmp_path: Path, policies: list[dict[str, Any]]) -> None:
    assert len(load_policies(write(tmp_path, policies), load_schedules())) == 2


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "escalation.yaml: (file): expected a mapping with a top-level policies: list"),
    ("policies: []\n", "escalation.yaml: policies:"),
    ("policy: []\n", "escalation.yaml: policy: unknown key"),
    ("policies: [\n", "escalation.yaml: cannot read"),
])
def test_malformed_file_is_refused(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "escalation.yaml"
    path.write_text(text)
    with pytest.raises(EscalationConfigError) as caught:
        load_policies(path)
    assert fragment in str(caught.value)
