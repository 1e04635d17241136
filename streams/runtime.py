"""The faust App with its topics and tables, built once from settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import faust

from streams import codecs, commits
from streams import topics as catalogue
from streams.replicas import Views
from streams.settings import Settings

if TYPE_CHECKING:  # types only: these modules import this one
    from agents.ratelimit import RateLimiter
    from streams.metrics import Metrics
    from streams.services.reports import KeyMemory
    from streams.stages.delivery.engine import Deliverer
    from streams.stages.escalation import Escalator
    from streams.stages.intake import DedupIndex
    from streams.tables import Tables


CaseHook = Callable[[Any, Any, Any], Awaitable[None]]


@dataclass
class Topics:
    """Every catalogue topic, by the name the code uses (built from streams/topics.py, so none can be missing)."""

    reports_submitted: faust.TopicT
    reports_dlq: faust.TopicT
    cases_events: faust.TopicT
    cases_index: faust.TopicT
    cases_state: faust.TopicT
    members: faust.TopicT
    auth_tokens: faust.TopicT
    auth_sessions: faust.TopicT
    actions_approved: faust.TopicT
    actions_plans: faust.TopicT
    actions_progress: faust.TopicT
    actions_signatures: faust.TopicT
    actions_reports: faust.TopicT
    links_used: faust.TopicT
    notifications_priority: faust.TopicT
    notifications_bulk: faust.TopicT
    notifications_retry: faust.TopicT
    notifications_status: faust.TopicT
    notifications_receipts: faust.TopicT
    notifications_dlq: faust.TopicT
    replies_received: faust.TopicT
    audit_log: faust.TopicT
    audit_submitted: faust.TopicT
    keys_data: faust.TopicT


def attribute(spec: catalogue.TopicSpec) -> str:
    """The Topics field of a catalogue topic: `cases.events.v1` -> `cases_events`."""
    return spec.name.split(".v")[0].replace(".", "_")


@dataclass
class Hooks:
    """What one part of the worker provides to others, each set once by the part that owns it at start-up."""

    case_hooks: list[CaseHook] = field(default_factory=list)  # run after every applied case event, in order
    alert_times: dict[str, datetime] = field(default_factory=dict)  # case_id -> when its first alert was queued
    deliverer: Deliverer | None = None  # set by streams.stages.delivery
    page_now: Callable[..., Awaitable[None]] | None = None  # intake's direct page, set by streams.stages.alerts
    escalator: Escalator | None = None  # paging by escalation policy, set by streams.stages.escalation
    dedup_index: DedupIndex | None = None  # set by streams.stages.intake; read by intake's page check
    metrics: Metrics | None = None  # set by streams.metrics
    report_limiter: RateLimiter | None = None  # per-token intake limit, made on first use by services.reports
    idempotency_keys: KeyMemory | None = None  # recent Idempotency-Keys, made on first use by services.reports
    rebalanced_at: float = 0.0  # time.monotonic() when the last rebalance completed


@dataclass
class Runtime:
    """Everything the agents and views share: settings, app, topics, tables, replicated views and hooks."""

    settings: Settings
    app: faust.App
    topics: Topics = None  # type: ignore[assignment]  # set by declare_topics
    tables: Tables = None  # type: ignore[assignment]  # set by streams.tables.declare_tables
    views: Views = field(default_factory=Views)
    hooks: Hooks = field(default_factory=Hooks)

    def topic_name(self, spec: catalogue.TopicSpec) -> str:
        """The broker name of a catalogue topic for this deployment."""
        return catalogue.full_name(spec, self.settings.topic_prefix)


def build_app(settings: Settings) -> faust.App:
    """A faust App configured from settings (broker, store, web server)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Offsets committed only past records an agent finished (streams/commits.py).
    commits.install()
    return faust.App(
        settings.app_id,
        broker=[f"kafka://{hp.strip()}" for hp in settings.kafka.bootstrap_servers.split(",")],
        store=settings.store,
        datadir=str(settings.data_dir),
        topic_partitions=settings.kafka.partitions,
        topic_replication_factor=settings.kafka.replication_factor,
        web_host=settings.web.host,
        web_port=settings.web.port,
        web_bind=settings.web.host,
        canonical_url=settings.web.advertised_url or settings.web.public_url,
        web_application_options={"client_max_size": settings.web.max_body_bytes},
        web_enabled=True,
        # faust's built-in pages show whole tables (members, cases) to anyone: off. See streams/web/routes.py.
        web_router_enabled=False,
        web_tables_enabled=False,
        web_stats_enabled=False,
        web_graph_enabled=False,
        web_metrics_enabled=False,
        autodiscover=False,
        broker_commit_every=100,
        # A killed worker's group membership must lapse quickly, or its replacement waits a minute to start.
        broker_session_timeout=settings.kafka.session_timeout_seconds,
        broker_heartbeat_interval=settings.kafka.session_timeout_seconds / 4,
        broker_commit_interval=0.5,
        consumer_metadata_max_age_ms=int(settings.kafka.metadata_refresh_seconds * 1000),
        producer_linger=0.005,
        stream_buffer_maxsize=4096,
        table_cleanup_interval=60.0,
        table_standby_replicas=settings.kafka.standby_replicas,
        logging_config=None,
    )


def declare_topics(rt: Runtime) -> None:
    """Declare every catalogue topic on the app (faust creates missing ones with our config)."""
    made = {}
    for spec in catalogue.CATALOGUE:
        # Intake stays raw bytes so the validating agent can dead-letter what does not parse.
        serializer = codecs.register(spec.model) if spec.model is not None else "raw"
        topic = rt.app.topic(
            rt.topic_name(spec), value_serializer=serializer, key_serializer="raw",
            partitions=spec.partition_count(rt.settings.kafka.partitions), internal=True, compacting=spec.compacted,
            deleting=not spec.compacted, retention=(spec.retention_ms / 1000 if spec.retention_ms else None),
        )
        made[attribute(spec)] = topic
    rt.topics = Topics(**made)
