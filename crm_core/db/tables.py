"""The CRM core schema (SQLAlchemy Core). Other company systems read these tables:
every change goes through an Alembic revision and docs/crm-schema.md."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the CRM; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _id() -> Column[int]:
    return Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True)


teams = Table(
    "teams",
    metadata,
    _id(),
    Column("name", String(100), nullable=False, unique=True),
    Column("lead_user_id", BigInteger, nullable=True),
)

queues = Table(
    "queues",
    metadata,
    _id(),
    Column("name", String(80), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False, default=""),
    Column("ring_timeout_seconds", Float, nullable=True),
    Column("service_level_seconds", Float, nullable=True),
)

users = Table(
    "users",
    metadata,
    _id(),
    Column("username", String(80), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("password_hash", String(300), nullable=False),
    Column("team_id", ForeignKey("teams.id"), nullable=True),
    Column("member_name", String(120), nullable=True, unique=True),
    Column("interface", String(200), nullable=True),
    Column("queues", JSON, nullable=False, default=list),
    Column("language", String(10), nullable=False, default=""),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UtcDateTime, nullable=False),
)

customers = Table(
    "customers",
    metadata,
    _id(),
    Column("name", String(200), nullable=False),
    Column("company", String(200), nullable=False, default=""),
    Column("title", String(100), nullable=False, default=""),
    Column("vip_level", Integer, nullable=False, default=0),
    Column("notes", Text, nullable=False, default=""),
    Column("language", String(10), nullable=False, default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

customer_phones = Table(
    "customer_phones",
    metadata,
    _id(),
    Column("customer_id", ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
    Column("e164", String(20), nullable=False, unique=True),
    Column("raw", String(60), nullable=False),
    Column("label", String(30), nullable=False, default="mobile"),
    Index("ix_customer_phones_customer", "customer_id"),
)

calls = Table(
    "calls",
    metadata,
    _id(),
    Column("call_id", String(64), nullable=False, unique=True),
    Column("pbx", String(64), nullable=False, default="default"),
    Column("direction", String(10), nullable=False),
    Column("caller_number", String(60), nullable=False, default=""),
    Column("caller_e164", String(20), nullable=True),
    Column("caller_name", String(200), nullable=False, default=""),
    Column("dialed_number", String(60), nullable=True),
    Column("customer_id", ForeignKey("customers.id"), nullable=True),
    Column("queue", String(80), nullable=True),
    Column("agent", String(120), nullable=True),
    Column("agent_interface", String(200), nullable=True),
    Column("started_at", UtcDateTime, nullable=True),
    Column("answered_at", UtcDateTime, nullable=True),
    Column("ended_at", UtcDateTime, nullable=True),
    Column("wait_seconds", Float, nullable=False, default=0.0),
    Column("ring_seconds", Float, nullable=False, default=0.0),
    Column("talk_seconds", Float, nullable=False, default=0.0),
    Column("hold_seconds", Float, nullable=False, default=0.0),
    Column("outcome", String(20), nullable=False),
    Column("rule_violations", JSON, nullable=False, default=list),
    Column("callback_due_at", UtcDateTime, nullable=True),
    Column("transferred_to", String(200), nullable=True),
    Column("recording", String(300), nullable=True),
    Column("disposition", String(60), nullable=True),
    Column("wrapup_notes", Text, nullable=True),
    Column("ivr_path", JSON, nullable=False, default=list),
    Column("campaign_id", BigInteger, nullable=True),
    Column("written_at", UtcDateTime, nullable=False),
    Index("ix_calls_started", "started_at"),
    Index("ix_calls_agent_started", "agent", "started_at"),
    Index("ix_calls_queue_started", "queue", "started_at"),
    Index("ix_calls_customer", "customer_id"),
    Index("ix_calls_caller_e164", "caller_e164"),
)

call_offers = Table(
    "call_offers",
    metadata,
    _id(),
    Column("call_pk", ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("agent", String(120), nullable=True),
    Column("interface", String(200), nullable=False),
    Column("queue", String(80), nullable=True),
    Column("ring_started_at", UtcDateTime, nullable=True),
    Column("ring_ended_at", UtcDateTime, nullable=True),
    Column("ring_seconds", Float, nullable=False),
    Column("result", String(20), nullable=False),
    UniqueConstraint("call_pk", "seq"),
    Index("ix_call_offers_agent_started", "agent", "ring_started_at"),
)

callbacks = Table(
    "callbacks",
    metadata,
    _id(),
    Column("phone_e164", String(20), nullable=False),
    Column("reason", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("customer_id", ForeignKey("customers.id"), nullable=True),
    Column("owner_user_id", ForeignKey("users.id"), nullable=True),
    Column("queue", String(80), nullable=True),
    Column("call_id", String(64), nullable=True),
    Column("question", Text, nullable=False, default=""),
    Column("outcome", Text, nullable=True),
    Column("closed_at", UtcDateTime, nullable=True),
    Column("reminded_at", UtcDateTime, nullable=True),
    Column("escalated_at", UtcDateTime, nullable=True),
    Column("next_attempt_at", UtcDateTime, nullable=True),
    Column("merged_count", Integer, nullable=False, default=0),
    Index("ix_callbacks_status_due", "status", "due_at"),
    Index("ix_callbacks_phone_status", "phone_e164", "status"),
    Index("ix_callbacks_owner", "owner_user_id", "status"),
)

callback_attempts = Table(
    "callback_attempts",
    metadata,
    _id(),
    Column("callback_id", ForeignKey("callbacks.id", ondelete="CASCADE"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("result", String(20), nullable=False),
    Column("by_user_id", ForeignKey("users.id"), nullable=True),
    Column("call_id", String(64), nullable=True),
    Column("note", Text, nullable=False, default=""),
    Index("ix_callback_attempts_callback", "callback_id"),
)

cases = Table(
    "cases",
    metadata,
    _id(),
    Column("kind", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("customer_id", ForeignKey("customers.id"), nullable=True),
    Column("owner_user_id", ForeignKey("users.id"), nullable=True),
    Column("department", String(100), nullable=True),
    Column("call_id", String(64), nullable=True),
    Column("description", Text, nullable=False, default=""),
    Column("promised_reply_at", UtcDateTime, nullable=True),
    Column("closed_at", UtcDateTime, nullable=True),
    Index("ix_cases_customer", "customer_id"),
    Index("ix_cases_owner_status", "owner_user_id", "status"),
)

case_events = Table(
    "case_events",
    metadata,
    _id(),
    Column("case_id", ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("status", String(20), nullable=False),
    Column("by_user_id", ForeignKey("users.id"), nullable=True),
    Column("note", Text, nullable=False, default=""),
    Index("ix_case_events_case", "case_id"),
)

violations = Table(
    "violations",
    metadata,
    _id(),
    Column("kind", String(30), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("agent", String(120), nullable=True),
    Column("call_id", String(64), nullable=True),
    Column("ring_seconds", Float, nullable=True),
    Column("queue", String(80), nullable=True),
    Column("detail", Text, nullable=False, default=""),
    Index("ix_violations_at", "at"),
    Index("ix_violations_agent_at", "agent", "at"),
)

campaigns = Table(
    "campaigns",
    metadata,
    _id(),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("mode", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("queue", String(80), nullable=True),
    Column("team_id", ForeignKey("teams.id"), nullable=True),
    Column("script", Text, nullable=False, default=""),
    Column("caller_id", String(60), nullable=False, default=""),
    Column("calling_hours_start", String(5), nullable=False, default="09:00"),
    Column("calling_hours_end", String(5), nullable=False, default="21:00"),
    Column("timezone", String(60), nullable=False, default="Asia/Shanghai"),
    Column("max_attempts", Integer, nullable=False, default=3),
    Column("retry_busy_minutes", Integer, nullable=False, default=10),
    Column("retry_no_answer_minutes", Integer, nullable=False, default=60),
    Column("retry_failed_minutes", Integer, nullable=False, default=30),
    Column("dispositions", JSON, nullable=False, default=list),
    Column("amd_enabled", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
)

campaign_contacts = Table(
    "campaign_contacts",
    metadata,
    _id(),
    Column("campaign_id", ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("phone_e164", String(20), nullable=False),
    Column("name", String(200), nullable=False, default=""),
    Column("customer_id", ForeignKey("customers.id"), nullable=True),
    Column("timezone", String(60), nullable=True),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime, nullable=True),
    Column("last_result", String(30), nullable=True),
    Column("disposition", String(60), nullable=True),
    Column("disposition_reason", Text, nullable=True),
    Column("extra", JSON, nullable=False, default=dict),
    UniqueConstraint("campaign_id", "phone_e164"),
    Index("ix_campaign_contacts_status", "campaign_id", "status", "next_attempt_at"),
)

dnc = Table(
    "dnc",
    metadata,
    Column("phone_e164", String(20), primary_key=True),
    Column("reason", Text, nullable=False, default=""),
    Column("added_at", UtcDateTime, nullable=False),
)

survey_answers = Table(
    "survey_answers",
    metadata,
    _id(),
    Column("call_id", String(64), nullable=True),
    Column("customer_id", ForeignKey("customers.id"), nullable=True),
    Column("score", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("campaign_id", BigInteger, nullable=True),
    Column("agent", String(120), nullable=True),
    Column("comment", Text, nullable=False, default=""),
    Index("ix_survey_answers_call", "call_id"),
    Index("ix_survey_answers_at", "at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    _id(),
    Column("at", UtcDateTime, nullable=False),
    Column("actor_user_id", BigInteger, nullable=True),
    Column("actor", String(80), nullable=False),
    Column("action", String(60), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("remote", String(100), nullable=False, default=""),
    Column("detail", Text, nullable=False, default=""),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_subject", "subject"),
)

# Side effects of a call applied once across instances (docs/adr/0060): the callback
# owed or satisfied ("callback"), the ring-rule pass over its offers ("ring-rule") and
# each violation ("violation:<kind>:<interface>:<ring end>"). The insert of the key is
# in the same transaction as the effect, so two instances never both apply it.
applied_effects = Table(
    "applied_effects",
    metadata,
    Column("call_id", String(64), nullable=False),
    Column("effect", String(300), nullable=False),
    Column("applied_at", UtcDateTime, nullable=False),
    Column("applied_by", String(120), nullable=False, default=""),
    PrimaryKeyConstraint("call_id", "effect", name="pk_applied_effects"),
    Index("ix_applied_effects_applied_at", "applied_at"),
)
