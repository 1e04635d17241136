"""The one frozen settings object; the only module that reads the environment (prefix SOLIDARITY_)."""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import pycountry
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(_Frozen):
    """Where the Kafka cluster is."""

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Comma-separated host:port list.")
    partitions: int = Field(4, ge=1, description="Partitions for every topic we create.")
    replication_factor: int = Field(1, ge=1, description="Replication factor for topics we create.")
    standby_replicas: int = Field(1, ge=0, description=(
        "Standby copies of each table partition kept warm on other workers, so a worker taking over after a "
        "crash need not rebuild the table from its changelog first (no effect with one worker)."))
    session_timeout_seconds: float = Field(8.0, ge=6.0, le=60.0, description=(
        "How long a silent worker keeps its partitions: after a crash the others take them over this long "
        "later (Kafka's minimum is 6 s; a busier machine needs more to avoid needless rebalances)."))
    metadata_refresh_seconds: float = Field(10.0, ge=1.0, le=300.0, description=(
        "How often each worker re-reads the cluster's topic list. A partition assignment made while a topic was "
        "still being created leaves that topic's partitions unowned until the next refresh notices it "
        "(Kafka's client default is 5 minutes, during which nothing on that topic is processed)."))
    topics_ready_seconds: float = Field(60.0, gt=0, description=(
        "How long the worker waits at start for every topic to have a leader on each partition."))


class WebSettings(_Frozen):
    """The worker's HTTP server."""

    host: str = Field("127.0.0.1", description="Interface the web server binds to.")
    port: int = Field(6066, ge=1, le=65535, description="Port of the web server.")
    public_url: str = Field("http://127.0.0.1:6066", description=(
        "The one URL the outside world uses for the service (Twilio callbacks and webhook signatures, links); "
        "the same on every worker."))
    advertised_url: str | None = Field(None, description=(
        "This worker's own address, reachable by the other workers (faust routes table lookups to it); "
        "defaults to public_url, which is right for a single worker."))
    max_body_bytes: int = Field(64 * 1024, description="Largest accepted request body.")
    publish_timeout_seconds: float = Field(5.0, gt=0, description=(
        "How long a report submission waits for the broker's acknowledgement before answering 503 (retry with "
        "the same Idempotency-Key header)."))
    session_idle_minutes: float = Field(30, gt=0, description="A dashboard session unused this long ends.")
    session_max_hours: float = Field(8, gt=0, description="A dashboard session ends this long after login.")


class LimitSettings(_Frozen):
    """Flood control: how fast one reporter token may submit and one address may try to log in."""

    reports_per_minute: float = Field(30, gt=0, description=(
        "Reports one reporter token may submit per minute, API and form together (steady rate after the burst)."))
    report_burst: int = Field(10, ge=1, description=(
        "Reports one reporter token may submit at once before the steady rate applies."))
    login_attempts: int = Field(10, ge=1, description=(
        "Dashboard login attempts one client address may make per window (a successful one counts once)."))
    login_window_minutes: float = Field(15, gt=0, description="The window of login_attempts; attempts refill over it.")
    tracked_keys: int = Field(100_000, ge=100, description=(
        "Most tokens or addresses each limiter remembers at once (idle ones are forgotten first)."))


SANDBOX_AUTH_TOKEN = "sandbox-auth-token"
SANDBOX_ACCOUNT_SID = "ACsandbox00000000000000000000000000"


def is_loopback_url(url: str) -> bool:
    """Whether a URL points at this machine (the sandbox), not at a real provider."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Twilio's documented default throughput per sender type, in SMS segments per second: a long code sends 1 (an
# international long code or a US 10DLC campaign often 10: set segments_per_second), a toll-free number 3, a short
# code 100. A Messaging Service sends at the sum of its numbers: give its type and rate.
SENDER_RATES = {"long_code": 1.0, "toll_free": 3.0, "short_code": 100.0}


class SenderSettings(_Frozen):
    """One sender of a pool: a From number or a Messaging Service SID, its type, its limit and its countries."""

    from_number: str | None = Field(None, description="The sender's phone number or short code.")
    messaging_service_sid: str | None = Field(None, description="A Messaging Service SID (MG...) instead of a number.")
    type: Literal["long_code", "toll_free", "short_code"] = Field(
        "long_code", description="Sender type: its default limit (long_code 1, toll_free 3, short_code 100 seg/s).")
    segments_per_second: float | None = Field(
        None, gt=0, description="This sender's limit in segments/s, when it is not its type's default.")
    countries: tuple[str, ...] = Field((), description=(
        "ISO country codes of the phones this sender is for (a local number); empty: any country."))

    @field_validator("from_number")
    @classmethod
    def _number(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("+") and value[1:].isdigit() or value.isdigit()):
            raise ValueError("from_number must be an E.164 number (+...) or a short code (digits)")
        return value

    @field_validator("messaging_service_sid")
    @classmethod
    def _service(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("MG") and len(value) == 34 and value[2:].isalnum()):
            raise ValueError("messaging_service_sid must be 'MG' followed by 32 letters and digits")
        return value

    @field_validator("countries", mode="before")
    @classmethod
    def _countries(cls, value):
        codes = [value] if isinstance(value, str) else list(value or ())
        known = {c.alpha_2 for c in pycountry.countries}
        out = []
        for given in codes:
            code = str(given).strip().upper()
            if code not in known:
                raise ValueError(f"{given!r} is not an ISO 3166 country code")
            out.append(code)
        return tuple(out)

    @model_validator(mode="after")
    def _one_sender(self):
        if bool(self.from_number) == bool(self.messaging_service_sid):
            raise ValueError("give either from_number or messaging_service_sid")
        return self

    @property
    def sender_id(self) -> str:
        """The number or the Messaging Service SID: how the pacer and the dashboard name this sender."""
        return self.from_number or self.messaging_service_sid or ""

    @property
    def rate(self) -> float:
        """Segments per second."""
        return self.segments_per_second or SENDER_RATES[self.type]


class TwilioSettings(_Frozen):
    """The Twilio (or Twilio-compatible sandbox) account used for SMS."""

    base_url: str = Field("http://127.0.0.1:8025", description="Twilio API base URL (the sandbox in dev).")
    account_sid: str = Field(SANDBOX_ACCOUNT_SID, description="Account SID.")
    auth_token: SecretStr = Field(SecretStr(SANDBOX_AUTH_TOKEN), description="Auth token; signs webhooks.")
    from_number: str = Field("+15005550006", description=(
        "Sender phone number (E.164) when no pool is set: it sends at delivery.sms_segments_per_second."))
    senders: tuple[SenderSettings, ...] = Field((), description=(
        "A pool of senders (JSON list): each member is sent from one of them, sticky, a sender listing the "
        "phone's country first; each is paced at its own limit, so the pool sends at their sum."))
    sticky_wait_seconds: float | None = Field(None, ge=0, description=(
        "Unset (the default), every phone is always sent from its own sender of the pool: members see one "
        "number they know. Set, a message that would wait this many seconds longer behind its phone's own "
        "sender than behind another the phone may be sent from (the same local-number rule) goes from that one, "
        "so the pool finishes a fan-out together at the sum of its limits (1 is a good value)."))
    timeout_seconds: float = Field(10.0, gt=0, description="HTTP timeout per request.")

    @field_validator("senders")
    @classmethod
    def _distinct(cls, value):
        seen = [s.sender_id for s in value]
        if len(seen) != len(set(seen)):
            raise ValueError("each sender may appear only once")
        return value


class SmtpSettings(_Frozen):
    """The SMTP relay used for email."""

    host: str = Field("127.0.0.1", description="SMTP host.")
    port: int = Field(8026, description="SMTP port.")
    username: str | None = Field(None, description="SMTP auth user, if any.")
    password: SecretStr | None = Field(None, description="SMTP auth password, if any.")
    start_tls: bool = Field(False, description="Upgrade the connection with STARTTLS.")
    sender: str = Field("alerts@solidarity.example.org", description="From address.")
    timeout_seconds: float = Field(10.0, gt=0, description="Timeout per SMTP command.")
    connections: int = Field(4, ge=1, le=32, description="SMTP connections kept open (one transaction each).")


class DeliverySettings(_Frozen):
    """How notifications are paced and retried."""

    sms_segments_per_second: float = Field(10.0, gt=0, description="Per-sender SMS rate limit in segments/s.")
    email_per_second: float = Field(50.0, gt=0, description="Per-sender email rate limit in messages/s.")
    max_attempts: int = Field(6, ge=1, description="Attempts before a retryable failure is dead-lettered.")
    backoff_base_seconds: float = Field(0.5, gt=0, description="First retry delay; doubles each attempt.")
    backoff_max_seconds: float = Field(60.0, gt=0, description="Longest retry delay.")
    auto_replies_per_hour: int = Field(3, ge=0, description="Automatic SMS replies per number per hour.")
    reconcile_after_seconds: float = Field(30.0, gt=0, description=(
        "A notification unsettled this long (lost receipt, crash) is checked with the provider and finished."))
    update_every_minutes: float = Field(15.0, gt=0, description=(
        "A new report merged into a case the on-call was already paged about sends one short update SMS at "
        "most this often per case (never a second page)."))
    clock_skew_seconds: float = Field(5.0, ge=0, le=60, description=(
        "How far the provider's clock may run behind ours: after a crash, a provider message counts as a "
        "notification's only if created after its 'sending' mark less this."))
    compact_after_hours: float = Field(24.0, ge=0, description=(
        "A call to action finished this long ago has its settled ledger entries compacted away (who it reached "
        "is kept; none of its notifications can be sent again)."))
    plan_quiet_seconds: float = Field(15.0, gt=0, description=(
        "An unfinished call to action that has handed nothing to the deliverer for this long has its plan "
        "compared with the ledger, and every planned notification with no ledger entry is delivered."))


class CryptoSettings(_Frozen):
    """Encryption at rest: the key-encryption key (KEK) and the two keyed-hash keys (see SECURITY.md)."""

    enabled: bool = Field(True, description=(
        "Encrypt every personal field before it reaches Kafka or a state store. Off only to measure what "
        "encryption costs (refused in production)."))
    key_file: Path | None = Field(None, description=(
        "A key file (JSON, made by `solidarity keys init`) holding the KEKs, the blind-index key and the audit "
        "key. Default in development: .local/keys/dev-keys.json, generated on first use."))
    kek: SecretStr | None = Field(None, description=(
        "The KEK itself as an environment secret (base64 of 32 random bytes), instead of a key file."))
    blind_index_key: SecretStr | None = Field(None, description=(
        "Key of the blind index (HMAC of a normalised phone number or email) with the KEK given as a secret."))
    audit_key: SecretStr | None = Field(None, description=(
        "Key that seals each audit entry into the chain, with the KEK given as a secret."))
    kms: str | None = Field(None, description=(
        "`module:factory` of a cloud KMS plug-in returning a KeyEncryptionKey (see streams/crypto/keyring.py)."))
    key_wait_seconds: float = Field(10.0, gt=0, description=(
        "How long a worker waits for a data key another worker has just created to reach it."))

    @field_validator("key_file", "kek", "blind_index_key", "audit_key", "kms", mode="before")
    @classmethod
    def _empty_is_unset(cls, value):
        # An env file's `SOLIDARITY_CRYPTO__KEK=` means "not given", not "an empty key".
        return None if isinstance(value, str) and not value.strip() else value


class RetentionSettings(_Frozen):
    """How long a finished case keeps its personal data before it is crypto-shredded by itself."""

    dismissed_days: float = Field(30, gt=0, description="A dismissed case is shredded this long after it was dismissed.")
    closed_days: float = Field(365, gt=0, description="A closed case is shredded this long after it was closed.")
    period_days: float = Field(120, gt=0, description=(
        "Dead letters and replies from unknown numbers are sealed with a key per month; a month's key is shredded "
        "this long after the month ends (longer than those topics keep their records)."))
    check_every_seconds: float = Field(3600, gt=0, description="How often the worker looks for what has expired.")


class EscalationSettings(_Frozen):
    """Who is paged, in what order, until someone acknowledges (agents/data/escalation.yaml and oncall.yaml)."""

    policies_file: Path | None = Field(None, description=(
        "Escalation policies (YAML); default agents/data/escalation.yaml. Validated at start: an error names the "
        "policy, step and field."))
    schedules_file: Path | None = Field(None, description=(
        "On-call schedules (YAML); default agents/data/oncall.yaml (primary: everyone with the secretariat_oncall "
        "role)."))
    tick_seconds: float = Field(1.0, gt=0, le=30, description=(
        "How often each worker looks for escalation steps that are due: a step fires at most about this late."))


class ReporterSmsSettings(_Frozen):
    """Reports by SMS from registered reporter numbers."""

    conversation_minutes: float = Field(30, gt=0, description=(
        "A guided SMS report left unanswered this long is dropped; the next text starts afresh."))
    reports_per_hour: int = Field(10, ge=1, description="Reports one registered number may send by SMS in an hour.")


class LinkSettings(_Frozen):
    """Signed links for members, no login: one-click signature, the report-back form, the self-service page."""

    secret: SecretStr | None = Field(None, description=(
        "Key that signs member links (several, comma-separated: the first signs, all verify, for rotation). "
        "Default: derived from the blind-index key of the key ring, so production never signs with a default."))
    action_days: float = Field(14, gt=0, description=(
        "A signature or report link without an action deadline expires this long after it was sent."))
    manage_days: float = Field(30, gt=0, description="A self-service link expires this long after it was sent.")


class Settings(BaseSettings):
    """Everything configurable, read once from SOLIDARITY_* variables (nested with __)."""

    model_config = SettingsConfigDict(
        env_prefix="SOLIDARITY_", env_nested_delimiter="__", frozen=True, extra="ignore",
    )

    environment: str = Field("development", pattern="^(development|production)$", description=(
        "`production` refuses development keys and defaults; a real provider URL counts as production too."))
    app_id: str = Field("solidarity", description="Faust app id; prefixes consumer groups and changelogs.")
    topic_prefix: str = Field("", description="Prefix for every topic name (isolates test runs).")
    data_dir: Path = Field(ROOT / ".local" / "data", description="Where table state (RocksDB) is kept.")
    store: str = Field("rocksdb://", description="Faust table store URL: rocksdb:// or memory://.")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    twilio: TwilioSettings = Field(default_factory=TwilioSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    crypto: CryptoSettings = Field(default_factory=CryptoSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    escalation: EscalationSettings = Field(default_factory=EscalationSettings)
    reporter_sms: ReporterSmsSettings = Field(default_factory=ReporterSmsSettings)
    links: LinkSettings = Field(default_factory=LinkSettings)
    dashboard_url: str = Field("http://127.0.0.1:6066/dashboard", description="Link put in secretariat alerts.")
    log_level: str = Field("info", description="Worker log level.")

    @property
    def production(self) -> bool:
        """Whether these are production settings: said so, or talking to a real SMS provider."""
        return self.environment == "production" or not is_loopback_url(self.twilio.base_url)

    @property
    def key_file(self) -> Path:
        """The key file in use: the configured one, or the development one under .local/keys."""
        return self.crypto.key_file or (ROOT / ".local" / "keys" / "dev-keys.json")

    def insecure_defaults(self) -> list[str]:
        """Secrets left at a default (or empty) while talking to a real provider: one line each, naming the setting."""
        problems = []
        if self.production:
            c = self.crypto
            if not c.enabled:
                problems.append("SOLIDARITY_CRYPTO__ENABLED is false in production: personal data would be kept "
                                "in the clear")
            if c.kek is None and c.key_file is None and c.kms is None:
                problems.append("no key-encryption key: set SOLIDARITY_CRYPTO__KEY_FILE (made by `solidarity keys "
                                "init`), SOLIDARITY_CRYPTO__KEK or SOLIDARITY_CRYPTO__KMS; the development key "
                                "under .local/keys is refused in production")
            if c.kek is not None and (c.blind_index_key is None or c.audit_key is None):
                problems.append("SOLIDARITY_CRYPTO__BLIND_INDEX_KEY and SOLIDARITY_CRYPTO__AUDIT_KEY must be set "
                                "with SOLIDARITY_CRYPTO__KEK")
        if not is_loopback_url(self.twilio.base_url):
            token = self.twilio.auth_token.get_secret_value()
            if not token or token == SANDBOX_AUTH_TOKEN:
                problems.append("SOLIDARITY_TWILIO__AUTH_TOKEN is the sandbox default or empty, but "
                                f"SOLIDARITY_TWILIO__BASE_URL points at a real provider ({self.twilio.base_url}): "
                                "set the account's auth token (it also signs the webhooks we accept)")
            if self.twilio.account_sid == SANDBOX_ACCOUNT_SID:
                problems.append("SOLIDARITY_TWILIO__ACCOUNT_SID is the sandbox default, but "
                                "SOLIDARITY_TWILIO__BASE_URL points at a real provider: set the account SID")
        if not is_loopback_url(f"smtp://{self.smtp.host}") and self.smtp.username and not (
                self.smtp.password and self.smtp.password.get_secret_value()):
            problems.append("SOLIDARITY_SMTP__PASSWORD is empty while SOLIDARITY_SMTP__USERNAME is set for a remote "
                            "SMTP relay: set the password")
        return problems


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Build the settings once from the environment; KAFKA_BOOTSTRAP_SERVERS overrides the broker."""
    settings = Settings()
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if external:
        settings = settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"bootstrap_servers": external})})
    return settings
