"""The topic catalogue: the only module that spells a topic name.

Each topic has its partition key, retention and compaction here; faust topics and the kafka-python admin
(`solidarity topics ensure`) are both built from this one list, and the README's topic table is generated
from it (`python -m streams.topics`). Every topic states its retention: none falls back to the broker's
default (7 days), which would silently drop case history.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from schemas.actions import ActionResponse, CallToAction
from schemas.audit import AuditEntry, TokenRecord
from schemas.cases import CaseEvent, CaseSnapshot
from schemas.deadletters import DeadLetter
from schemas.members import Member
from schemas.notifications import DeliveryStatus, Notification
from schemas.replies import InboundReply

DAY_MS = 24 * 3600 * 1000
FOREVER = -1  # Kafka's retention.ms for "never delete by age".


@dataclass(frozen=True)
class TopicSpec:
    """A topic's name and configuration."""

    name: str
    description: str
    model: type[BaseModel] | None = None
    compacted: bool = False
    key: str = field(kw_only=True)
    retention_ms: int = field(kw_only=True)
    partitions: int | None = field(default=None, kw_only=True)  # None: the deployment's kafka.partitions
    extra: tuple[tuple[str, str], ...] = field(default=(), kw_only=True)  # further topic-level configuration

    def __post_init__(self) -> None:
        if self.retention_ms != FOREVER and self.retention_ms <= 0:
            raise ValueError(f"{self.name}: retention_ms must be positive or FOREVER")
        if self.compacted and self.retention_ms != FOREVER:
            # Kafka ignores retention.ms under cleanup.policy=compact: a finite value would only mislead.
            raise ValueError(f"{self.name}: a compacted topic keeps each key's latest record; use FOREVER")

    def config(self) -> dict[str, str]:
        """Kafka topic-level configuration."""
        return {"cleanup.policy": "compact" if self.compacted else "delete", "retention.ms": str(self.retention_ms),
                **dict(self.extra)}

    def partition_count(self, default: int) -> int:
        """Partitions to create the topic with."""
        return self.partitions or default

    @property
    def retention(self) -> str:
        """The retention in words, as the README table shows it."""
        if self.compacted:
            return "latest record per key"
        if self.retention_ms == FOREVER:
            return "forever"
        days, rest = divmod(self.retention_ms, DAY_MS)
        return f"{days} days" if not rest else f"{self.retention_ms} ms"


REPORTS_SUBMITTED = TopicSpec("reports.submitted.v1", "Reports as received, keyed for duplicate detection.",
                              key="country|incident_type", retention_ms=30 * DAY_MS)
REPORTS_DLQ = TopicSpec("reports.dlq.v1", "Rejected reports with their reasons.", DeadLetter,
                        key="country|incident_type (none when the API rejected it)", retention_ms=90 * DAY_MS)
# The case history is the network's record of what happened and what it did: kept for good. Not compacted,
# because compaction would keep only each case's last event. Erasure is a decision for the secretariat, not a
# side effect of the broker's default retention.
CASE_EVENTS = TopicSpec("cases.events.v1", "Every change to a case, keyed by case_id.", CaseEvent,
                        key="case_id", retention_ms=FOREVER)
CASE_INDEX = TopicSpec("cases.index.v1", "Open/closed notices for the duplicate index, keyed like reports.",
                       key="country|incident_type", retention_ms=30 * DAY_MS)
MEMBERS = TopicSpec("members.v1", "Member organisations, keyed by member_id.", Member, compacted=True,
                    key="member_id", retention_ms=FOREVER)
TOKENS = TopicSpec("auth.tokens.v1", "API tokens (hashed), keyed by token_id.", TokenRecord, compacted=True,
                   key="token_id", retention_ms=FOREVER)
# What the network asked its members to do, and in whose name: part of the case history, kept for good. Each
# action_id is written once, so compaction would save nothing and would let a later record with the same key
# replace the approved text.
ACTIONS = TopicSpec("actions.approved.v1", "Approved calls to action, keyed by action_id.", CallToAction,
                    key="action_id", retention_ms=FOREVER)
NOTIFY_PRIORITY = TopicSpec("notifications.priority.v1", "Secretariat alerts and replies: sent first.", Notification,
                            key="idempotency_key", retention_ms=30 * DAY_MS)
NOTIFY_BULK = TopicSpec("notifications.bulk.v1", "Call-to-action notifications, keyed by idempotency key.",
                        Notification, key="idempotency_key", retention_ms=30 * DAY_MS)
NOTIFY_RETRY = TopicSpec("notifications.retry.v1", "Notifications waiting for a retry after a temporary failure.",
                         Notification, key="idempotency_key", retention_ms=30 * DAY_MS)
NOTIFY_STATUS = TopicSpec("notifications.status.v1", "Delivery state changes, keyed by idempotency key (for "
                          "dashboards and audits outside the workers: no worker reads it).",
                          DeliveryStatus, key="idempotency_key", retention_ms=30 * DAY_MS)
NOTIFY_RECEIPTS = TopicSpec("notifications.receipts.v1", "Provider delivery receipts (signed status callbacks), "
                            "keyed by idempotency key: the ledger's owner applies them.",
                            DeliveryStatus, key="idempotency_key", retention_ms=30 * DAY_MS)
NOTIFY_DLQ = TopicSpec("notifications.dlq.v1", "Notifications that failed for good, with reasons.", DeadLetter,
                       key="idempotency_key", retention_ms=90 * DAY_MS)
REPLIES = TopicSpec("replies.received.v1", "Inbound SMS replies, keyed by sender.", InboundReply,
                    key="sender phone", retention_ms=30 * DAY_MS)
# State every worker holds by reading these compacted topics itself (streams/replicas.py): with several workers
# a lookup must never read a partitioned table for a key another worker owns.
CASE_STATE = TopicSpec("cases.state.v1", "Each case as it is now (or the case a merged report's id points to).",
                       CaseSnapshot, compacted=True, key="case_id", retention_ms=FOREVER)
ACTION_PLANS = TopicSpec("actions.plans.v1", "Each call to action's audience as planned, in slices of 2,000 members.",
                         compacted=True, key="action_id:slice", retention_ms=FOREVER)
ACTION_PROGRESS = TopicSpec("actions.progress.v1", "Per-action plan counts, and delivery counts per ledger partition.",
                            compacted=True, key="action_id or action_id|partition", retention_ms=FOREVER)
SIGNATURES = TopicSpec("actions.signatures.v1", "Signatures of calls to action (organisation, country, time).",
                       compacted=True, key="action_id|member_id", retention_ms=FOREVER)
ACTION_REPORTS = TopicSpec("actions.reports.v1", "Members' reports that they carried out an action (DONE, or the form).",
                           ActionResponse, compacted=True, key="action_id|member_id", retention_ms=FOREVER)
# Single-use links (a one-click signature, a report form): the jti of each link used, so a second use is refused
# on every worker. Only ids: what the link was for, never who clicked.
LINK_USES = TopicSpec("links.used.v1", "Single-use member links already used, by their random id.",
                      compacted=True, key="jti", retention_ms=FOREVER)
SESSIONS = TopicSpec("auth.sessions.v1", "Dashboard sessions by hash of their id (a tombstone ends one).",
                     compacted=True, key="sha256(session id)", retention_ms=FOREVER)
# One partition: the audit trail is one hash chain, appended by the one worker that owns AUDIT_SUBMITTED.
AUDIT = TopicSpec("audit.log.v1", "Audit trail of secretariat and system actions: one hash chain.", AuditEntry,
                  key="none", retention_ms=FOREVER, partitions=1)
AUDIT_SUBMITTED = TopicSpec("audit.submitted.v1", "Audit entries waiting to be chained onto audit.log.v1.",
                            key="none", retention_ms=7 * DAY_MS, partitions=1)
# The wrapped data keys (one or more per case, member or month). A tombstone destroys one: the broker must not
# keep the old value long, so segments roll hourly and tombstones go after an hour (see SECURITY.md).
DATA_KEYS = TopicSpec("keys.data.v1", "Data keys wrapped by the KEK, keyed by subject|key id; shredded by tombstone.",
                      compacted=True, key="subject|dek_id", retention_ms=FOREVER, partitions=1,
                      extra=(("segment.ms", str(3600 * 1000)), ("delete.retention.ms", str(3600 * 1000)),
                             ("min.cleanable.dirty.ratio", "0.01"), ("min.compaction.lag.ms", "0")))

CATALOGUE: tuple[TopicSpec, ...] = (
    REPORTS_SUBMITTED, REPORTS_DLQ, CASE_EVENTS, CASE_INDEX, MEMBERS, TOKENS, ACTIONS,
    NOTIFY_PRIORITY, NOTIFY_BULK, NOTIFY_RETRY, NOTIFY_STATUS, NOTIFY_RECEIPTS, NOTIFY_DLQ, REPLIES, CASE_STATE, ACTION_PLANS,
    ACTION_PROGRESS, SIGNATURES, ACTION_REPORTS, LINK_USES, SESSIONS, AUDIT, AUDIT_SUBMITTED, DATA_KEYS,
)


def full_name(spec: TopicSpec, prefix: str = "") -> str:
    """The topic name on the broker, with the deployment's prefix (tests isolate runs with one)."""
    return f"{prefix}{spec.name}"


def markdown_table() -> str:
    """The README's topic table, one row per catalogue topic."""
    lines = ["| topic | key (partitioned by) | cleanup | retention | what |", "|---|---|---|---|---|"]
    for spec in CATALOGUE:
        cells = [f"`{spec.name}`", spec.key, "compact" if spec.compacted else "delete", spec.retention,
                 spec.description]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
