"""Members: the members and member_phones tables, the agent that fills them, and publishing changes."""

from __future__ import annotations

import logging

from agents.audience import oncall
from schemas.base import utcnow
from schemas.members import Member
from streams.runtime import Runtime
from streams.tables import ModelTable

log = logging.getLogger("solidarity.members")


def declare_member_tables(rt: Runtime) -> None:
    """Declare the members table (member_id -> Member) and member_phones (E.164 phone -> member_id)."""
    app, parts = rt.app, rt.settings.kafka.partitions

    def table(name: str, help: str):
        # Read from agents of other topics (replies, delivery): with use_partitioner a lookup inside an
        # agent searches every local partition, not only the partition of the event being processed.
        return app.Table(name, key_type=str, value_type=None, partitions=parts, help=help, use_partitioner=True)

    rt.tables.members_raw = table("members", "Member organisations by member_id, folded from members.v1.")
    rt.tables.members = ModelTable(rt.tables.members_raw, Member, cache=True)
    rt.tables.member_phones = table("member_phones", "Member id by contact phone (E.164), for inbound SMS replies.")


def upsert_member(members, phones, member: Member) -> None:
    """Store a member and its phone mapping, dropping the mapping of a phone it no longer has."""
    before = members.get(member.member_id)
    if before is not None and before.phone and before.phone != member.phone:
        if phones.get(before.phone) == member.member_id:
            del phones[before.phone]
    members[member.member_id] = member
    if member.phone:
        phones[member.phone] = member.member_id


async def publish_member(rt: Runtime, member: Member, touch: bool = True) -> Member:
    """Publish a member to members.v1 (keyed by member_id) and wait for the broker's ack; return it."""
    if touch:
        member = member.model_copy(update={"updated_at": utcnow()})
    fut = await rt.topics.members.send(key=member.member_id.encode(), value=member)
    await fut
    return member


def find_by_phone(rt: Runtime, phone: str) -> Member | None:
    """The member whose contact phone (E.164) this is, or None."""
    member_id = rt.tables.member_phones.get(phone)
    return rt.tables.members.get(member_id) if member_id else None


def oncall_members(rt: Runtime) -> list[Member]:
    """The secretariat's on-call members, without scanning every member for each alert.

    The roster of ids is built by one scan on first use (the table may have been recovered from its
    changelog) and then kept current by the store_members agent, so a change is seen by the next alert.
    """
    roster = rt.hooks.oncall_ids
    if roster is None:
        roster = rt.hooks.oncall_ids = {m.member_id for m in oncall(rt.tables.members.values())}
    return oncall(m for m in map(rt.tables.members.get, sorted(roster)) if m is not None)


def register_members(rt: Runtime) -> None:
    """Declare the member tables, the store_members agent and the /api/v1/members views."""
    from streams.web.members import register_member_views

    declare_member_tables(rt)
    tb = rt.tables

    @rt.app.agent(rt.topics.members, name="store_members")
    async def store_members(stream):
        """Keep the members and member_phones tables in step with the compacted members topic."""
        async for event in stream.events():
            member = event.value
            if not isinstance(member, Member):
                # A tombstone or an undecodable record: only its position, never its content, is logged.
                log.warning("members record skipped at partition %s offset %s", event.message.partition,
                            event.message.offset)
                continue
            upsert_member(tb.members, tb.member_phones, member)
            roster = rt.hooks.oncall_ids
            if roster is not None:
                if oncall([member]):
                    roster.add(member.member_id)
                else:
                    roster.discard(member.member_id)

    register_member_views(rt)
