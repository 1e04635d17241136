"""Who is on call now, from the schedules in agents/data/oncall.yaml (format explained in the file's header).

A schedule's participants are its `members`, or everyone holding its `role`. Without a rotation they are all on
call at once; with one, one participant per shift, hand-offs at a local wall-clock time of the schedule's zone.
An override replaces the schedule's answer while it lasts. Time is always passed in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator,
)

from schemas.vocab import Role

DEFAULT_PATH = Path(__file__).parent / "data" / "oncall.yaml"

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[str, ...] = get_args(Weekday)  # in date.weekday() order

Slug = Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
# The same shape as schemas.members.Member.member_id, so a typo is caught here rather than paging nobody.
MemberId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class OnCallConfigError(ValueError):
    """The on-call file is missing or malformed; the message names the file, entry and field."""


class _Loader(yaml.SafeLoader):
    """Safe YAML without YAML 1.1's base-60 numbers, so an unquoted 19:00 stays a time and not 68400."""

    _BASE60 = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        """The tag of a node; base-60 scalars resolve to plain strings."""
        if kind is yaml.ScalarNode and implicit[0] and self._BASE60.match(value):
            return "tag:yaml.org,2002:str"
        return super().resolve(kind, value, implicit)


def read_data_file(path: Path, error: type[ValueError]) -> Any:
    """The parsed YAML document at path; unreadable or malformed files raise `error` naming the file."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 (a SafeLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise error(f"{path.name}: cannot read: {exc}") from exc


def entry_label(raw: Any, section: str, index: int) -> str:
    """How a message names entry `index` of the file's top-level `section` list: "schedules[1] (id 'x')"."""
    entries = raw.get(section) if isinstance(raw, dict) else None
    entry = entries[index] if isinstance(entries, list) and index < len(entries) else None
    ident = entry.get("id") if isinstance(entry, dict) else None
    return f"{section}[{index}] (id {ident!r})" if isinstance(ident, str) else f"{section}[{index}]"


def describe_errors(name: str, raw: Any, section: str, exc: ValidationError) -> str:
    """One line per validation error: file, entry and dotted field, then what is wrong."""
    lines = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = list(err["loc"])
        if len(loc) >= 2 and loc[0] == section and isinstance(loc[1], int):
            where, loc = entry_label(raw, section, loc[1]), loc[2:]
        else:
            where = ""
        for part in loc:
            where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        msg = msg if err["loc"] else f"expected a mapping with a top-level {section}: list"
        lines.append(f"{name}: {where or '(file)'}: {msg}")
    return "; ".join(lines)


def _local_time(value: Any) -> Any:
    # Refused rather than read as seconds after midnight (pydantic's reading of a number), which is never meant.
    if isinstance(value, int | float):
        raise ValueError(f"must be a time of day such as '09:00' (got {value!r})")
    return value


class Override(BaseModel):
    """These members are on call from start (inclusive) to end (exclusive), whatever the rotation says."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    members: list[MemberId] = Field(min_length=1)
    start: datetime
    end: datetime

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is None:
            return end
        if (start.tzinfo is None) != (end.tzinfo is None):
            raise ValueError("start and end must both give a UTC offset or both leave it out")
        if end <= start:
            raise ValueError(f"must be after start ({start.isoformat()})")
        return end


class Rotation(BaseModel):
    """One participant per shift, in order, cycling; the first shift begins at `handoff` on `start`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every: Literal["daily", "weekly"]
    handoff: Annotated[time, BeforeValidator(_local_time)] = time(9, 0)
    weekday: Weekday = "monday"
    start: date

    @field_validator("handoff")
    @classmethod
    def _naive(cls, handoff: time) -> time:
        if handoff.tzinfo is not None:
            raise ValueError("must be a local time of day without a UTC offset (the schedule's timezone applies)")
        return handoff

    @field_validator("weekday")
    @classmethod
    def _weekly_only(cls, weekday: str, info: ValidationInfo) -> str:
        # Only runs when weekday is written: a daily rotation that names a weekday is a misunderstanding.
        if info.data.get("every") == "daily":
            raise ValueError("only a weekly rotation has a weekday")
        return weekday

    @field_validator("start")
    @classmethod
    def _on_weekday(cls, start: date, info: ValidationInfo) -> date:
        # A weekday missing from info.data failed its own check; that error is enough.
        weekday = info.data.get("weekday")
        if info.data.get("every") == "weekly" and weekday and WEEKDAYS[start.weekday()] != weekday:
            raise ValueError(f"{start.isoformat()} is a {WEEKDAYS[start.weekday()]}, not a {weekday}")
        return start

    @property
    def days(self) -> int:
        """Length of one shift in calendar days."""
        return 1 if self.every == "daily" else 7


class Schedule(BaseModel):
    """Who takes part in a schedule, in which time zone, how they rotate and the overrides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug
    name: str = Field(min_length=1, max_length=200)
    timezone: str
    members: list[MemberId] = Field(default_factory=list)
    role: Role | None = None
    rotation: Rotation | None = None
    shift: int = Field(0, ge=0)
    overrides: list[Override] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)") from None
        return value

    @field_validator("members")
    @classmethod
    def _distinct(cls, members: list[str]) -> list[str]:
        # A repeated member would take two shifts of every cycle, which nobody writes on purpose.
        repeated = sorted({m for m in members if members.count(m) > 1})
        if repeated:
            raise ValueError(f"lists {', '.join(repeated)} more than once")
        return members

    @field_validator("role")
    @classmethod
    def _not_both(cls, role: Role | None, info: ValidationInfo) -> Role | None:
        if role is not None and info.data.get("members"):
            raise ValueError("give either members or role, not both")
        return role

    @model_validator(mode="after")
    def _names_someone(self) -> Schedule:
        if not self.members and self.role is None:
            raise ValueError("a schedule needs members or a role (neither is given)")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The schedule's time zone."""
        return ZoneInfo(self.timezone)

    def participants(self, role_members: Sequence[str] = ()) -> list[str]:
        """The schedule's members, or else the sorted ids of those holding its role."""
        return list(self.members) if self.members else sorted(set(role_members))

    def instant(self, value: datetime) -> datetime:
        """A datetime of this schedule's file as an aware UTC instant (naive means the schedule's zone)."""
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.zone)
        return value.astimezone(timezone.utc)


class SchedulesFile(BaseModel):
    """The whole oncall.yaml document."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schedules: list[Schedule] = Field(min_length=1)


@dataclass(frozen=True)
class OnCall:
    """Who is on call on a schedule at an instant, since when and until when (None: no such boundary)."""

    schedule_id: str
    member_ids: list[str]
    since: datetime | None
    until: datetime | None
    override: bool


def shift_start(schedule: Schedule, number: int) -> datetime:
    """When shift `number` of the schedule's rotation begins (0 is the first; negatives run backwards), in UTC."""
    rotation = schedule.rotation
    if rotation is None:
        raise ValueError(f"schedule {schedule.id!r} has no rotation")
    day = rotation.start + timedelta(days=number * rotation.days)
    # Wall-clock on purpose: 09:00 stays 09:00 across a DST change. A hand-off inside a spring-forward gap
    # happens when the gap ends; inside a repeated hour, at its first occurrence (fold=0).
    return datetime.combine(day, rotation.handoff, tzinfo=schedule.zone).astimezone(timezone.utc)


def _shift_at(schedule: Schedule, rotation: Rotation, at: datetime) -> int:
    local = at.astimezone(schedule.zone)
    number = (local.date() - rotation.start).days // rotation.days
    # The estimate is off by at most one shift (before the hand-off time, or around a DST change).
    while shift_start(schedule, number + 1) <= at:
        number += 1
    while shift_start(schedule, number) > at:
        number -= 1
    return number


def on_call(schedule: Schedule, at: datetime, role_members: Sequence[str] = ()) -> OnCall:
    """Who is on call on the schedule at the aware instant `at` (role_members: ids holding its role)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("on_call needs an aware datetime")
    at = at.astimezone(timezone.utc)
    spans = [(schedule.instant(o.start), schedule.instant(o.end), o) for o in schedule.overrides]
    active = [i for i, (start, end, _) in enumerate(spans) if start <= at < end]
    if active:
        win = active[-1]
        start, end, override = spans[win]
        later = spans[win + 1:]
        # A later-listed override that began inside this one hid it until it ended; one still to come will.
        since = max([start, *(e for s, e, _ in later if start < e <= at)])
        until = min([end, *(s for s, e, _ in later if at < s < end)])
        return OnCall(schedule.id, list(override.members), since, until, True)

    people = schedule.participants(role_members)
    base_since: datetime | None = None
    base_until: datetime | None = None
    if schedule.rotation is not None and people:
        number = _shift_at(schedule, schedule.rotation, at)
        base_since, base_until = shift_start(schedule, number), shift_start(schedule, number + 1)
        people = [people[(number + schedule.shift) % len(people)]]
    ended = [e for _, e, _ in spans if e <= at and (base_since is None or e > base_since)]
    coming = [s for s, _, _ in spans if s > at and (base_until is None or s < base_until)]
    since = max(ended) if ended else base_since
    until = min(coming) if coming else base_until
    return OnCall(schedule.id, people, since, until, False)


def load_schedules(path: Path | None = None) -> dict[str, Schedule]:
    """The validated schedules of the file (the packaged oncall.yaml by default), by id in file order."""
    path = Path(path) if path else DEFAULT_PATH
    raw = read_data_file(path, OnCallConfigError)
    try:
        data = SchedulesFile.model_validate(raw)
    except ValidationError as exc:
        raise OnCallConfigError(describe_errors(path.name, raw, "schedules", exc)) from None
    schedules: dict[str, Schedule] = {}
    for index, schedule in enumerate(data.schedules):
        if schedule.id in schedules:
            where = f"{path.name}: {entry_label(raw, 'schedules', index)}.id"
            first = list(schedules).index(schedule.id)
            raise OnCallConfigError(f"{where}: duplicate id {schedule.id!r} (first at schedules[{first}])")
        schedules[schedule.id] = schedule
    return schedules
