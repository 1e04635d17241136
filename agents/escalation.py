"""Escalation policies from agents/data/escalation.yaml: whom a high or critical case pages, when, by what.

A policy is a list of steps; each step pages its targets, then waits its delay before the next step fires.
After the last step the policy starts again from the first, `repeat` more times (GoAlert's semantics). The
file's header explains the format. Time is always passed in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator,
)

from agents.oncall import MemberId, Schedule, Slug, describe_errors, entry_label, on_call, read_data_file
from schemas.vocab import Channel, Region, Role, Urgency

DEFAULT_PATH = Path(__file__).parent / "data" / "escalation.yaml"

MAX_DELAY = timedelta(hours=24)
# Lower urgencies go out with the ordinary fan-out; waking someone up is only for these.
PAGING_URGENCIES = frozenset({Urgency.high, Urgency.critical})
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


class EscalationConfigError(ValueError):
    """The escalation file is missing or malformed; the message names the file, policy, step and field."""


def parse_duration(value: Any) -> timedelta:
    """A delay from "30s", "5m", "1h", "1h30m" or a whole number of seconds; more than 0, at most 24h."""
    if isinstance(value, timedelta):
        delay = value
    elif isinstance(value, int) and not isinstance(value, bool):
        delay = timedelta(seconds=value)
    else:
        match = _DURATION.match(value.strip()) if isinstance(value, str) else None
        if not match or not any(match.groups()):
            raise ValueError(f"must be a duration such as 30s, 5m or 1h (got {value!r})")
        hours, minutes, seconds = (int(g or 0) for g in match.groups())
        delay = timedelta(hours=hours, minutes=minutes, seconds=seconds)
    if delay <= timedelta(0):
        raise ValueError(f"must be more than 0 (got {value!r})")
    if delay > MAX_DELAY:
        raise ValueError(f"must be at most 24h (got {value!r})")
    return delay


Delay = Annotated[timedelta, BeforeValidator(parse_duration)]


class Target(BaseModel):
    """Whom a step pages: exactly one of a schedule, listed members, or the whole secretariat."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schedule: Slug | None = None
    members: list[MemberId] | None = Field(None, min_length=1)
    secretariat: Literal[True] | None = None

    @field_validator("members", "secretariat")
    @classmethod
    def _only_one(cls, value: Any, info: ValidationInfo) -> Any:
        # Checked on the later key, so the message points at the key that is one too many.
        given = [key for key in ("schedule", "members") if info.data.get(key) is not None and key != info.field_name]
        if value is not None and given:
            raise ValueError(f"a target is one of schedule, members or secretariat; this one also has {given[0]}")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Target:
        if self.kind is None:
            raise ValueError("a target needs one of schedule, members or secretariat")
        return self

    @property
    def kind(self) -> str | None:
        """Which of schedule, members or secretariat the target is (None if empty)."""
        return next((k for k in ("schedule", "members", "secretariat") if getattr(self, k) is not None), None)


class Step(BaseModel):
    """One escalation step: page the targets on the channels, then wait `delay` before the next step."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    targets: list[Target] = Field(min_length=1)
    channels: list[Channel] = Field(default_factory=lambda: [Channel.sms, Channel.email], min_length=1)
    delay: Delay

    @field_validator("channels")
    @classmethod
    def _distinct(cls, channels: list[Channel]) -> list[Channel]:
        if len(set(channels)) != len(channels):
            raise ValueError("lists a channel more than once")
        return channels


class Match(BaseModel):
    """Which cases a policy is for: any of these urgencies, in any of these regions (none listed: any)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    urgency: list[Urgency] = Field(min_length=1)
    regions: list[Region] = Field(default_factory=list)

    @field_validator("urgency")
    @classmethod
    def _pages(cls, urgency: list[Urgency]) -> list[Urgency]:
        lower = [u.value for u in urgency if u not in PAGING_URGENCIES]
        if lower:
            raise ValueError(f"only high and critical cases page anyone (got {', '.join(lower)})")
        return urgency


class Policy(BaseModel):
    """An escalation policy: what it matches, its steps, and how many more passes after the first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug
    name: str = Field(min_length=1, max_length=200)
    match: Match
    steps: list[Step] = Field(min_length=1)
    repeat: int = Field(0, ge=0, le=10)


class PoliciesFile(BaseModel):
    """The whole escalation.yaml document."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policies: list[Policy] = Field(min_length=1)


@dataclass(frozen=True)
class Firing:
    """One step firing in a policy's whole sequence: which pass and step, and when after the start."""

    index: int
    round: int
    step: int
    offset: timedelta
    last: bool


def firings(policy: Policy) -> list[Firing]:
    """Every firing of the policy in order: len(steps) * (repeat + 1), the first at offset 0."""
    total = len(policy.steps) * (policy.repeat + 1)
    out: list[Firing] = []
    offset = timedelta(0)
    for index in range(total):
        round_, step = divmod(index, len(policy.steps))
        out.append(Firing(index, round_, step, offset, index == total - 1))
        offset += policy.steps[step].delay
    return out


def finished_at_offset(policy: Policy) -> timedelta:
    """How long after its start an escalation nobody acknowledged is over: the sum of every firing's delay."""
    return sum((s.delay for s in policy.steps), timedelta(0)) * (policy.repeat + 1)


def next_due(policy: Policy, started_at: datetime, fired: int) -> tuple[Firing, datetime] | None:
    """The firing after the first `fired` ones and when it is due, or None once all have fired."""
    if fired < 0:
        raise ValueError(f"fired must be 0 or more (got {fired})")
    sequence = firings(policy)
    if fired >= len(sequence):
        return None
    firing = sequence[fired]
    return firing, started_at + firing.offset


def select_policy(policies: Sequence[Policy], urgency: Urgency, region: Region | None) -> Policy | None:
    """The policy for a case: one naming its region before a generic one; None if none matches."""
    matching = [p for p in policies if urgency in p.match.urgency]
    specific = [p for p in matching if region is not None and region in p.match.regions]
    generic = [p for p in matching if not p.match.regions]
    return (specific or generic or [None])[0]


def resolve_targets(
    step: Step, schedules: Mapping[str, Schedule], at: datetime, members_by_role: Mapping[Role, Sequence[str]],
) -> list[str]:
    """The member ids the step pages at instant `at`, in target order, each once."""
    ids: list[str] = []
    for target in step.targets:
        if target.schedule is not None:
            schedule = schedules[target.schedule]
            role_members = members_by_role.get(schedule.role, ()) if schedule.role is not None else ()
            ids.extend(on_call(schedule, at, role_members).member_ids)
        elif target.members is not None:
            ids.extend(target.members)
        elif target.secretariat:
            staff = {*members_by_role.get(Role.secretariat, ()), *members_by_role.get(Role.secretariat_oncall, ())}
            ids.extend(sorted(staff))
    return list(dict.fromkeys(ids))


def _overlap(a: Policy, b: Policy) -> str | None:
    urgencies = [u.value for u in Urgency if u in a.match.urgency and u in b.match.urgency]
    if not urgencies:
        return None
    if not a.match.regions and not b.match.regions:
        return f"urgency {', '.join(urgencies)} in any region"
    shared = [r.value for r in Region if r in a.match.regions and r in b.match.regions]
    return f"urgency {', '.join(urgencies)} in {', '.join(shared)}" if shared else None


def _check(name: str, raw: Any, data: PoliciesFile, schedules: Mapping[str, Schedule] | None) -> None:
    def label(index: int) -> str:
        return entry_label(raw, "policies", index)

    for index, policy in enumerate(data.policies):
        for earlier in range(index):
            other = data.policies[earlier]
            if other.id == policy.id:
                raise EscalationConfigError(
                    f"{name}: {label(index)}.id: duplicate id {policy.id!r} (first at policies[{earlier}])")
            both = _overlap(other, policy)
            if both:
                raise EscalationConfigError(
                    f"{name}: {label(index)}.match: ambiguous with {label(earlier)}: both match {both}")
        if schedules is None:
            continue
        for s, step in enumerate(policy.steps):
            for t, target in enumerate(step.targets):
                if target.schedule is not None and target.schedule not in schedules:
                    raise EscalationConfigError(
                        f"{name}: {label(index)}.steps[{s}].targets[{t}].schedule: unknown schedule "
                        f"{target.schedule!r} (known: {', '.join(sorted(schedules)) or 'none'})")


def load_policies(path: Path | None = None, schedules: Mapping[str, Schedule] | None = None) -> list[Policy]:
    """The validated policies of the file (the packaged escalation.yaml by default), in file order.

    With `schedules`, every `schedule:` target must name one of them.
    """
    path = Path(path) if path else DEFAULT_PATH
    raw = read_data_file(path, EscalationConfigError)
    try:
        data = PoliciesFile.model_validate(raw)
    except ValidationError as exc:
        raise EscalationConfigError(describe_errors(path.name, raw, "policies", exc)) from None
    _check(path.name, raw, data, schedules)
    return list(data.policies)
