"""initial CRM core schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 02:14:28.729256
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm_core.db.tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.BigInteger(), nullable=True),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("remote", sa.String(length=100), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_at", ["at"], unique=False)
        batch_op.create_index("ix_audit_log_subject", ["subject"], unique=False)

    op.create_table(
        "customers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("company", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("vip_level", sa.Integer(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("created_at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    op.create_table(
        "dnc",
        sa.Column("phone_e164", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("added_at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("phone_e164", name=op.f("pk_dnc")),
    )
    op.create_table(
        "queues",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("ring_timeout_seconds", sa.Float(), nullable=True),
        sa.Column("service_level_seconds", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queues")),
        sa.UniqueConstraint("name", name=op.f("uq_queues_name")),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("lead_user_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    op.create_table(
        "violations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("agent", sa.String(length=120), nullable=True),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column("ring_seconds", sa.Float(), nullable=True),
        sa.Column("queue", sa.String(length=80), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_violations")),
    )
    with op.batch_alter_table("violations", schema=None) as batch_op:
        batch_op.create_index("ix_violations_agent_at", ["agent", "at"], unique=False)
        batch_op.create_index("ix_violations_at", ["at"], unique=False)

    op.create_table(
        "calls",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("pbx", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("caller_number", sa.String(length=60), nullable=False),
        sa.Column("caller_e164", sa.String(length=20), nullable=True),
        sa.Column("caller_name", sa.String(length=200), nullable=False),
        sa.Column("dialed_number", sa.String(length=60), nullable=True),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("queue", sa.String(length=80), nullable=True),
        sa.Column("agent", sa.String(length=120), nullable=True),
        sa.Column("agent_interface", sa.String(length=200), nullable=True),
        sa.Column("started_at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("answered_at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("wait_seconds", sa.Float(), nullable=False),
        sa.Column("ring_seconds", sa.Float(), nullable=False),
        sa.Column("talk_seconds", sa.Float(), nullable=False),
        sa.Column("hold_seconds", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("rule_violations", sa.JSON(), nullable=False),
        sa.Column("callback_due_at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("transferred_to", sa.String(length=200), nullable=True),
        sa.Column("recording", sa.String(length=300), nullable=True),
        sa.Column("disposition", sa.String(length=60), nullable=True),
        sa.Column("wrapup_notes", sa.Text(), nullable=True),
        sa.Column("ivr_path", sa.JSON(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=True),
        sa.Column("written_at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_calls_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("call_id", name=op.f("uq_calls_call_id")),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index("ix_calls_agent_started", ["agent", "started_at"], unique=False)
        batch_op.create_index("ix_calls_caller_e164", ["caller_e164"], unique=False)
        batch_op.create_index("ix_calls_customer", ["customer_id"], unique=False)
        batch_op.create_index("ix_calls_queue_started", ["queue", "started_at"], unique=False)
        batch_op.create_index("ix_calls_started", ["started_at"], unique=False)

    op.create_table(
        "campaigns",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("queue", sa.String(length=80), nullable=True),
        sa.Column("team_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("script", sa.Text(), nullable=False),
        sa.Column("caller_id", sa.String(length=60), nullable=False),
        sa.Column("calling_hours_start", sa.String(length=5), nullable=False),
        sa.Column("calling_hours_end", sa.String(length=5), nullable=False),
        sa.Column("timezone", sa.String(length=60), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("retry_busy_minutes", sa.Integer(), nullable=False),
        sa.Column("retry_no_answer_minutes", sa.Integer(), nullable=False),
        sa.Column("retry_failed_minutes", sa.Integer(), nullable=False),
        sa.Column("dispositions", sa.JSON(), nullable=False),
        sa.Column("amd_enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_campaigns_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_table(
        "customer_phones",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("e164", sa.String(length=20), nullable=False),
        sa.Column("raw", sa.String(length=60), nullable=False),
        sa.Column("label", sa.String(length=30), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_phones_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_phones")),
        sa.UniqueConstraint("e164", name=op.f("uq_customer_phones_e164")),
    )
    with op.batch_alter_table("customer_phones", schema=None) as batch_op:
        batch_op.create_index("ix_customer_phones_customer", ["customer_id"], unique=False)

    op.create_table(
        "survey_answers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=True),
        sa.Column("agent", sa.String(length=120), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_survey_answers_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_answers")),
    )
    with op.batch_alter_table("survey_answers", schema=None) as batch_op:
        batch_op.create_index("ix_survey_answers_at", ["at"], unique=False)
        batch_op.create_index("ix_survey_answers_call", ["call_id"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.String(length=300), nullable=False),
        sa.Column("team_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("member_name", sa.String(length=120), nullable=True),
        sa.Column("interface", sa.String(length=200), nullable=True),
        sa.Column("queues", sa.JSON(), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_users_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("member_name", name=op.f("uq_users_member_name")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "call_offers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("call_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("agent", sa.String(length=120), nullable=True),
        sa.Column("interface", sa.String(length=200), nullable=False),
        sa.Column("queue", sa.String(length=80), nullable=True),
        sa.Column("ring_started_at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("ring_ended_at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("ring_seconds", sa.Float(), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_pk"], ["calls.id"], name=op.f("fk_call_offers_call_pk_calls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_offers")),
        sa.UniqueConstraint("call_pk", "seq", name=op.f("uq_call_offers_call_pk_seq")),
    )
    with op.batch_alter_table("call_offers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_call_offers_agent_started", ["agent", "ring_started_at"], unique=False
        )

    op.create_table(
        "callbacks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("phone_e164", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("due_at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "owner_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("queue", sa.String(length=80), nullable=True),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("closed_at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("merged_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_callbacks_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"], ["users.id"], name=op.f("fk_callbacks_owner_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callbacks")),
    )
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.create_index("ix_callbacks_owner", ["owner_user_id", "status"], unique=False)
        batch_op.create_index("ix_callbacks_phone_status", ["phone_e164", "status"], unique=False)
        batch_op.create_index("ix_callbacks_status_due", ["status", "due_at"], unique=False)

    op.create_table(
        "campaign_contacts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("phone_e164", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("timezone", sa.String(length=60), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_result", sa.String(length=30), nullable=True),
        sa.Column("disposition", sa.String(length=60), nullable=True),
        sa.Column("disposition_reason", sa.Text(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_contacts_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_campaign_contacts_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_contacts")),
        sa.UniqueConstraint(
            "campaign_id", "phone_e164", name=op.f("uq_campaign_contacts_campaign_id_phone_e164")
        ),
    )
    with op.batch_alter_table("campaign_contacts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_campaign_contacts_status",
            ["campaign_id", "status", "next_attempt_at"],
            unique=False,
        )

    op.create_table(
        "cases",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("created_at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "owner_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("department", sa.String(length=100), nullable=True),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "promised_reply_at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("closed_at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_cases_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"], ["users.id"], name=op.f("fk_cases_owner_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_customer", ["customer_id"], unique=False)
        batch_op.create_index("ix_cases_owner_status", ["owner_user_id", "status"], unique=False)

    op.create_table(
        "callback_attempts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "callback_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column(
            "by_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["by_user_id"], ["users.id"], name=op.f("fk_callback_attempts_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["callback_id"],
            ["callbacks.id"],
            name=op.f("fk_callback_attempts_callback_id_callbacks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_attempts")),
    )
    with op.batch_alter_table("callback_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_callback_attempts_callback", ["callback_id"], unique=False)

    op.create_table(
        "case_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column(
            "by_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["by_user_id"], ["users.id"], name=op.f("fk_case_events_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_events_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_events")),
    )
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.create_index("ix_case_events_case", ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.drop_index("ix_case_events_case")

    op.drop_table("case_events")
    with op.batch_alter_table("callback_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_callback_attempts_callback")

    op.drop_table("callback_attempts")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_owner_status")
        batch_op.drop_index("ix_cases_customer")

    op.drop_table("cases")
    with op.batch_alter_table("campaign_contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_contacts_status")

    op.drop_table("campaign_contacts")
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_index("ix_callbacks_status_due")
        batch_op.drop_index("ix_callbacks_phone_status")
        batch_op.drop_index("ix_callbacks_owner")

    op.drop_table("callbacks")
    with op.batch_alter_table("call_offers", schema=None) as batch_op:
        batch_op.drop_index("ix_call_offers_agent_started")

    op.drop_table("call_offers")
    op.drop_table("users")
    with op.batch_alter_table("survey_answers", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_answers_call")
        batch_op.drop_index("ix_survey_answers_at")

    op.drop_table("survey_answers")
    with op.batch_alter_table("customer_phones", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_phones_customer")

    op.drop_table("customer_phones")
    op.drop_table("campaigns")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_started")
        batch_op.drop_index("ix_calls_queue_started")
        batch_op.drop_index("ix_calls_customer")
        batch_op.drop_index("ix_calls_caller_e164")
        batch_op.drop_index("ix_calls_agent_started")

    op.drop_table("calls")
    with op.batch_alter_table("violations", schema=None) as batch_op:
        batch_op.drop_index("ix_violations_at")
        batch_op.drop_index("ix_violations_agent_at")

    op.drop_table("violations")
    op.drop_table("teams")
    op.drop_table("queues")
    op.drop_table("dnc")
    op.drop_table("customers")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_subject")
        batch_op.drop_index("ix_audit_log_at")

    op.drop_table("audit_log")
