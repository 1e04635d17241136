"""The topic catalogue: the only module that spells a topic name.

Each topic has its partitions, retention and compaction here; faust topics and the kafka-python admin
(`solidarity topics ensure`) are both built from this one list.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from schemas.actions import CallToAction
from schemas.audit import AuditEntry, TokenRecord
from schemas.cases import CaseEvent
from schemas.deadletters import DeadLetter
from schemas.members import Member
from schemas.notifications import DeliveryStatus, Notification
from schemas.replies import InboundReply

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """A topic's name and configuration."""

    name: str
    description: str
    model: type[BaseModel] | None = None
    compacted: bool = False
    retention_ms: int | None = 30 * DAY_MS

    def config(self) -> dict[str, str]:
        """Kafka topic-level configuration."""
        cfg = {"cleanup.policy": "compact" if self.compacted else "delete"}
        if self.retention_ms is not None and not self.compacted:
            cfg["retention.ms"] = str(self.retention_ms)
        return cfg


REPORTS_SUBMITTED = TopicSpec("reports.submitted.v1", "Reports as received, keyed for duplicate detection.")
REPORTS_DLQ = TopicSpec("reports.dlq.v1", "Rejected reports with their reasons.", DeadLetter, retention_ms=90 * DAY_MS)
CASE_EVENTS = TopicSpec("cases.events.v1", "Every change to a case, keyed by case_id.", CaseEvent, retention_ms=None)
CASE_INDEX = TopicSpec("cases.index.v1", "Open/closed notices for the duplicate index, keyed like reports.")
MEMBERS = TopicSpec("members.v1", "Member organisations, keyed by member_id.", Member, compacted=True)
TOKENS = TopicSpec("auth.tokens.v1", "API tokens (hashed), keyed by token_id.", TokenRecord, compacted=True)
ACTIONS = TopicSpec("actions.approved.v1", "Approved calls to action, keyed by action_id.", CallToAction, retention_ms=None)
NOTIFY_PRIORITY = TopicSpec("notifications.priority.v1", "Secretariat alerts and replies: sent first.", Notification)
NOTIFY_BULK = TopicSpec("notifications.bulk.v1", "Call-to-action notifications, keyed by idempotency key.", Notification)
NOTIFY_RETRY = TopicSpec("notifications.retry.v1", "Notifications waiting for a retry after a temporary failure.", Notification)
NOTIFY_STATUS = TopicSpec("notifications.status.v1", "Delivery state changes, keyed by idempotency key.", DeliveryStatus)
NOTIFY_DLQ = TopicSpec("notifications.dlq.v1", "Notifications that failed for good, with reasons.", DeadLetter, retention_ms=90 * DAY_MS)
REPLIES = TopicSpec("replies.received.v1", "Inbound SMS replies, keyed by sender.", InboundReply)
AUDIT = TopicSpec("audit.log.v1", "Audit trail of secretariat and system actions.", AuditEntry, retention_ms=365 * DAY_MS)

CATALOGUE: tuple[TopicSpec, ...] = (
    REPORTS_SUBMITTED, REPORTS_DLQ, CASE_EVENTS, CASE_INDEX, MEMBERS, TOKENS, ACTIONS,
    NOTIFY_PRIORITY, NOTIFY_BULK, NOTIFY_RETRY, NOTIFY_STATUS, NOTIFY_DLQ, REPLIES, AUDIT,
)


def full_name(spec: TopicSpec, prefix: str = "") -> str:
    """The topic name on the broker, with the deployment's prefix (tests isolate runs with one)."""
    return f"{prefix}{spec.name}"
