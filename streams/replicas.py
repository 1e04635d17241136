"""State every worker holds whole, by reading compacted topics itself: members, tokens, cases, actions, plans,
progress, signatures and dashboard sessions.

With several workers a faust table holds only the partitions its worker owns, so a lookup by a key another worker
owns finds nothing (and faust's GlobalTable does not stay in step across instances: faust-streaming issue 283).
Instead each worker runs one plain consumer outside the consumer group, assigned every partition of these
topics, reading from the beginning and folding each record into a view in memory. Every view is the same on
every worker, a few milliseconds behind the broker.

`sync()` gives read-your-writes across workers: it asks the broker for the end of every partition and waits
until this worker has read that far, so a member created through one worker is seen at once through another.
The API calls it before each read of replicated state; agents call it before decisions that depend on a write
made elsewhere moments ago (a fan-out reads the case the secretariat has just verified).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel, ValidationError

from agents import paging
from agents.audience import oncall
from agents.duplicates import CaseSummary
from agents.intake import dedup_key
from schemas.actions import ActionResponse, CallToAction
from schemas.audit import TokenRecord
from schemas.cases import Case, CaseSnapshot
from schemas.members import Member
from schemas.vocab import CaseStatus, Role
from streams import crypto
from streams import topics as catalogue
from streams.settings import Settings

log = logging.getLogger("solidarity.replicas")
Listener = Callable[[str, Any, Any], None]


class View:
    """A dict folded from one compacted topic: key -> decoded value; a tombstone (None) removes the key."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.listeners: list[Listener] = []

    def decode(self, raw: bytes) -> Any:
        return json.loads(raw)

    def apply(self, key: str, value: Any, position: tuple[int, int]) -> None:
        before = self.data.get(key)
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = value
        self.changed(key, before, value)
        for listener in self.listeners:
            try:
                listener(key, value, position)
            except Exception as exc:  # noqa: BLE001 - a listener must never stop the replica
                log.error("replica listener failed: %s", type(exc).__name__)

    def changed(self, key: str, before: Any, after: Any) -> None:
        """Keep secondary indexes in step (subclasses)."""

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.data

    def __len__(self) -> int:
        return len(self.data)

    def values(self) -> Iterator[Any]:
        return iter(list(self.data.values()))

    def items(self) -> Iterator[tuple[str, Any]]:
        return iter(list(self.data.items()))


class ModelView(View):
    """A view of pydantic models."""

    model: type[BaseModel]

    def decode(self, raw: bytes) -> Any:
        return crypto.sealer().loads(self.model, raw)


class MemberView(ModelView):
    """Members by id, by phone, and the on-call roster."""

    model = Member

    def __init__(self) -> None:
        super().__init__()
        self.phones: dict[str, str] = {}  # blind index of the contact phone -> member_id
        self.roster: set[str] = set()
        self.roles: defaultdict[Role, set[str]] = defaultdict(set)  # secretariat roles -> member ids

    def changed(self, key: str, before: Member | None, after: Member | None) -> None:
        # By blind index, like every lookup by number (streams/crypto): no table of numbers, even in memory.
        blind = crypto.sealer().blind
        if before is not None and before.phone and self.phones.get(blind("phone", before.phone)) == key:
            del self.phones[blind("phone", before.phone)]
        if after is not None and after.phone:
            self.phones[blind("phone", after.phone)] = key
        if after is not None and oncall([after]):
            self.roster.add(key)
        else:
            self.roster.discard(key)
        for role in SECRETARIAT_ROLES:
            if after is not None and role in after.roles:
                self.roles[role].add(key)
            else:
                self.roles[role].discard(key)

    def by_phone(self, phone: str) -> Member | None:
        """The member whose contact phone (E.164) this is."""
        member_id = self.phones.get(crypto.sealer().blind("phone", phone))
        return self.data.get(member_id) if member_id else None

    def oncall(self) -> list[Member]:
        """The secretariat's on-call members."""
        return oncall(self.data[m] for m in sorted(self.roster) if m in self.data)

    def with_role(self) -> dict[Role, list[str]]:
        """Sorted member ids holding each secretariat role (the participants of role-based schedules)."""
        return {role: sorted(self.roles.get(role, ())) for role in SECRETARIAT_ROLES}


class TokenView(ModelView):
    """API tokens by SHA-256 hash (the topic is keyed by token id)."""

    model = TokenRecord

    def __init__(self) -> None:
        super().__init__()
        self.by_hash: dict[str, TokenRecord] = {}
        self.phones: dict[str, str] = {}  # blind index of a reporter's registered phone -> token_id

    def changed(self, key: str, before: TokenRecord | None, after: TokenRecord | None) -> None:
        if before is not None:
            self.by_hash.pop(before.token_hash, None)
            for blind in before.phones:
                if self.phones.get(blind) == key:
                    del self.phones[blind]
        if after is not None:
            self.by_hash[after.token_hash] = after
            if not after.revoked:
                self.phones.update(dict.fromkeys(after.phones, key))

    def reporter_by_phone(self, phone: str) -> TokenRecord | None:
        """The live reporter token a phone number (E.164) is registered to, by its blind index."""
        token = self.data.get(self.phones.get(crypto.sealer().blind("phone", phone), ""))
        return token if token is not None and not token.revoked and token.role == "reporter" else None

    def find(self, token_hash: str) -> TokenRecord | None:
        return self.by_hash.get(token_hash)


CLOSED = (CaseStatus.closed, CaseStatus.dismissed)
SECRETARIAT_ROLES = (Role.secretariat, Role.secretariat_oncall)
REPLICA_FETCH_WAIT_MS = 50


class CaseView(View):
    """Cases by id, aliases of merged reports, open cases by country|incident_type, and how many cases there are
    of each (urgency, status)."""

    def __init__(self) -> None:
        super().__init__()
        self.tally: Counter[tuple[str, str]] = Counter()
        self.aliases: dict[str, str] = {}
        self.open_by_key: defaultdict[str, dict[str, CaseSummary]] = defaultdict(dict)
        self.references: dict[str, str] = {}  # report reference -> case_id
        self.pages: dict[str, set[str]] = {}  # case_id -> members its latest escalation paged (while it is open)

    def decode(self, raw: bytes) -> Any:
        return crypto.sealer().loads(CaseSnapshot, raw)

    def apply(self, key: str, value: CaseSnapshot | None, position: tuple[int, int]) -> None:
        if value is not None and value.alias_of:
            self.aliases[key] = value.alias_of
            return
        super().apply(key, value.case if value is not None else None, position)

    def changed(self, key: str, before: Case | None, after: Case | None) -> None:
        if before is not None:
            self.open_by_key[dedup_key(before.country, before.incident_type)].pop(key, None)
            kind = (before.urgency.value, before.status.value)
            self.tally[kind] -= 1
            if not self.tally[kind]:
                del self.tally[kind]
        if after is not None:
            self.tally[(after.urgency.value, after.status.value)] += 1
        if after is not None and after.status not in CLOSED and after.reports:
            self.open_by_key[dedup_key(after.country, after.incident_type)][key] = CaseSummary.from_report(
                after.reports[0].report, key)
        if after is not None:
            self.references.update(dict.fromkeys([after.reference, *(r.reference for r in after.reports)], key))
            paged = set(paging.paged_members(after)) if after.status not in CLOSED else set()
            if paged:
                self.pages[key] = paged
            else:
                self.pages.pop(key, None)

    def by_reference(self, reference: str) -> Case | None:
        """The case a report reference (SOL-7K3Q9X) belongs to."""
        return self.find(self.references.get(reference.upper(), ""))

    def paging(self, member_id: str) -> list[Case]:
        """Open cases whose latest escalation paged this member: those still escalating first, then by their
        latest page, newest first (what an ACK or ESC without a reference is about)."""
        found = [self.data[c] for c, members in self.pages.items() if member_id in members and c in self.data]

        def order(case: Case) -> tuple:
            pages = paging.current_pages(case)
            return (paging.paging(case) is paging.Paging.active, pages[-1].at if pages else case.opened_at)

        return sorted(found, key=order, reverse=True)

    def find(self, case_id: str) -> Case | None:
        """The case by id, following the alias left when a report was merged into another case."""
        return self.data.get(case_id) or self.data.get(self.aliases.get(case_id, ""))

    def open_cases(self, key: str) -> list[CaseSummary]:
        return list(self.open_by_key.get(key, {}).values())


class ActionView(ModelView):
    """Approved calls to action by id, and the ids of each case's."""

    model = CallToAction

    def __init__(self) -> None:
        super().__init__()
        self.by_case: defaultdict[str, set[str]] = defaultdict(set)

    def changed(self, key: str, before: CallToAction | None, after: CallToAction | None) -> None:
        if before is not None and (after is None or after.case_id != before.case_id):
            self.by_case[before.case_id].discard(key)
            if not self.by_case[before.case_id]:
                del self.by_case[before.case_id]
        if after is not None:
            self.by_case[after.case_id].add(key)

    def for_case(self, case_id: str) -> list[CallToAction]:
        """The case's calls to action, latest approved first (from the index: not a walk over every action)."""
        found = (self.data[a] for a in self.by_case.get(case_id, ()) if a in self.data)
        return sorted(found, key=lambda a: (a.approved_at, a.action_id), reverse=True)


class PlanView(View):
    """Plan slices by action_id:slice, and the calls to action each member was planned into."""

    def __init__(self) -> None:
        super().__init__()
        self.member_actions: defaultdict[str, set[str]] = defaultdict(set)

    def changed(self, key: str, before: dict | None, after: dict | None) -> None:
        action_id = key.rpartition(":")[0]
        for member_id in after or {}:
            self.member_actions[member_id].add(action_id)

    def slices(self, action_id: str, count: int) -> Iterator[dict[str, list[str]]]:
        from_key = f"{action_id}:"
        for i in range(count):
            yield self.data.get(f"{from_key}{i:05d}") or {}

    def actions_of(self, member_id: str) -> set[str]:
        return set(self.member_actions.get(member_id, ()))


class ProgressView(View):
    """Per action: its plan record (key action_id) and delivery counts per ledger partition (action_id|p)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: defaultdict[str, dict[str, dict]] = defaultdict(dict)

    def changed(self, key: str, before: dict | None, after: dict | None) -> None:
        action_id, sep, part = key.partition("|")
        if not sep:
            return
        if after is None:
            self.parts[action_id].pop(part, None)
        else:
            self.parts[action_id][part] = after

    def plan(self, action_id: str) -> dict:
        return self.data.get(action_id) or {}

    def partitions(self, action_id: str) -> dict[str, dict]:
        return dict(self.parts.get(action_id, {}))


class SignatureView(View):
    """Signatures by action_id|member_id."""

    def __init__(self) -> None:
        super().__init__()
        self.by_action: defaultdict[str, dict[str, dict]] = defaultdict(dict)

    def changed(self, key: str, before: dict | None, after: dict | None) -> None:
        action_id, _, member_id = key.partition("|")
        if after is None:
            self.by_action[action_id].pop(member_id, None)
        else:
            self.by_action[action_id][member_id] = after

    def of(self, action_id: str) -> list[dict]:
        return sorted(self.by_action.get(action_id, {}).values(), key=lambda r: r["signed_at"])


class ResponseView(ModelView):
    """Members' reports of actions carried out, by action_id|member_id."""

    model = ActionResponse

    def __init__(self) -> None:
        super().__init__()
        self.by_action: defaultdict[str, dict[str, ActionResponse]] = defaultdict(dict)

    def changed(self, key: str, before: ActionResponse | None, after: ActionResponse | None) -> None:
        action_id, _, member_id = key.partition("|")
        if after is None:
            self.by_action[action_id].pop(member_id, None)
        else:
            self.by_action[action_id][member_id] = after

    def of(self, action_id: str) -> list[ActionResponse]:
        return sorted(self.by_action.get(action_id, {}).values(), key=lambda r: r.at)


class SessionView(View):
    """Dashboard sessions by hash of their id."""


class Replica:
    """One consumer outside the group, reading every partition of the replicated topics into their views."""

    def __init__(self, settings: Settings, views: dict[str, View]) -> None:
        self.settings, self.views = settings, views  # topic name -> view
        self.consumer: AIOKafkaConsumer | None = None
        self.positions: dict[TopicPartition, int] = {}
        self._advanced = asyncio.Event()
        self._ready = asyncio.Event()
        self.error: str | None = None

    async def run(self) -> None:
        """Read for ever (until cancelled at shutdown)."""
        servers = [hp.strip() for hp in self.settings.kafka.bootstrap_servers.split(",")]
        # A short long-poll: a read-your-writes sync (every API read of a case) waits for the fetch in flight, and
        # at Kafka's default of 500 ms each such read took half a second; 20 fetches a second when idle cost little.
        self.consumer = consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=None,
                                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                                    fetch_max_wait_ms=REPLICA_FETCH_WAIT_MS,
                                                    client_id=f"{self.settings.app_id}-replica")
        await consumer.start()
        try:
            tps = await self._partitions(consumer)
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            for tp in tps:
                self.positions[tp] = 0
            target = await consumer.end_offsets(tps)
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=5000)
                for tp, records in batches.items():
                    view = self.views[tp.topic]
                    for record in records:
                        self._apply(view, tp, record)
                for tp in tps:
                    self.positions[tp] = await consumer.position(tp)
                if not self._ready.is_set() and all(self.positions[tp] >= end for tp, end in target.items()):
                    log.info("replicated state read (%d topics)", len(self.views))
                    self._ready.set()
                self._advanced.set()
                self._advanced = asyncio.Event()
        finally:
            await consumer.stop()

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        while True:
            await consumer._client.force_metadata_update()
            found = {t: consumer.partitions_for_topic(t) for t in self.views}
            missing = [t for t, parts in found.items() if not parts]
            if not missing:
                return [TopicPartition(t, p) for t, parts in sorted(found.items()) for p in sorted(parts)]
            log.warning("waiting for replicated topics to exist: %s", ", ".join(missing))
            await asyncio.sleep(1.0)

    def _apply(self, view: View, tp: TopicPartition, record) -> None:
        if record.key is None:
            return
        key = record.key.decode("utf-8", "replace")
        try:
            value = None if record.value is None else view.decode(record.value)
        except (ValidationError, ValueError) as exc:
            # Its position only: the content may be personal data.
            log.warning("replicated record skipped at %s[%d]@%d: %s", tp.topic, tp.partition, record.offset,
                        type(exc).__name__)
            return
        view.apply(key, value, (tp.partition, record.offset))

    @property
    def ready(self) -> bool:
        """Whether everything that was on the topics at start-up has been read."""
        return self._ready.is_set()

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def sync(self, timeout: float = 5.0) -> bool:
        """Wait until this worker has read every replicated topic up to its end now; False on timeout."""
        try:
            async with asyncio.timeout(timeout):
                await self._ready.wait()
                ends = await self._end_offsets()
                while any(self.positions.get(tp, 0) < end for tp, end in ends.items()):
                    await self._advanced.wait()
        except TimeoutError:
            return False
        return True

    async def _end_offsets(self) -> dict[TopicPartition, int]:
        # Never a request that started before the caller's own write was acknowledged: always a fresh one.
        return await self.consumer.end_offsets(list(self.positions))


@dataclass
class Views:
    """Every replicated view of one worker, and the consumer that fills them."""

    members: MemberView = field(default_factory=MemberView)
    tokens: TokenView = field(default_factory=TokenView)
    cases: CaseView = field(default_factory=CaseView)
    actions: ActionView = field(default_factory=ActionView)
    plans: PlanView = field(default_factory=PlanView)
    progress: ProgressView = field(default_factory=ProgressView)
    signatures: SignatureView = field(default_factory=SignatureView)
    responses: ResponseView = field(default_factory=ResponseView)
    links_used: View = field(default_factory=View)
    sessions: SessionView = field(default_factory=SessionView)
    replica: Replica | None = None
    # Approved actions without finished_at in their plan record, kept as either record arrives: what progress
    # counting and the fan-out timer look at each second, instead of every action ever approved.
    unfinished: set[str] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self.actions.listeners.append(self._action_changed)
        self.progress.listeners.append(self._progress_changed)

    def _action_changed(self, key: str, value: Any, position: tuple[int, int]) -> None:
        self._refresh_unfinished(key)

    def _progress_changed(self, key: str, value: Any, position: tuple[int, int]) -> None:
        if "|" not in key:
            self._refresh_unfinished(key)

    def _refresh_unfinished(self, action_id: str) -> None:
        if action_id in self.actions and not self.progress.plan(action_id).get("finished_at"):
            self.unfinished.add(action_id)
        else:
            self.unfinished.discard(action_id)

    def topics(self) -> dict[catalogue.TopicSpec, View]:
        """Which catalogue topic fills which view."""
        return {catalogue.MEMBERS: self.members, catalogue.TOKENS: self.tokens, catalogue.CASE_STATE: self.cases,
                catalogue.ACTIONS: self.actions, catalogue.ACTION_PLANS: self.plans,
                catalogue.ACTION_PROGRESS: self.progress, catalogue.SIGNATURES: self.signatures,
                catalogue.ACTION_REPORTS: self.responses, catalogue.LINK_USES: self.links_used,
                catalogue.SESSIONS: self.sessions}

    def attach(self, settings: Settings) -> Replica:
        """The replica consumer for these views (started by the worker)."""
        by_name = {catalogue.full_name(spec, settings.topic_prefix): view for spec, view in self.topics().items()}
        self.replica = Replica(settings, by_name)
        return self.replica

    @property
    def ready(self) -> bool:
        return self.replica is not None and self.replica.ready

    async def wait_ready(self) -> None:
        if self.replica is not None:
            await self.replica.wait_ready()

    async def sync(self, timeout: float = 5.0) -> bool:
        """Read-your-writes: wait until every write acknowledged before this call is in the views."""
        return True if self.replica is None else await self.replica.sync(timeout)
