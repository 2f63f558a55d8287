"""Call records: calls, turns, callbacks, handoffs, the event outbox and the audit trail.

Written out rather than imported from the models, so this revision stays what it was when later ones change
the models. Timestamps are stored in UTC (timezone-aware on PostgreSQL); JSON is JSONB on PostgreSQL.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def timestamp(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("org_id", sa.String(63), nullable=False),
        sa.Column("dialled_number", sa.String(80), nullable=True),
        sa.Column("caller_number", sa.String(80), nullable=True),
        sa.Column("mode", sa.String(16), nullable=True),
        timestamp("started_at"),
        timestamp("ended_at", nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("turns_count", sa.Integer(), nullable=False),
        sa.Column("cost_usd", JSON_DOCUMENT, nullable=False),
        timestamp("updated_at"),
        sa.PrimaryKeyConstraint("call_sid", name=op.f("pk_calls")),
    )
    op.create_index("ix_calls_org_id_started_at", "calls", ["org_id", "started_at"])
    op.create_index("ix_calls_started_at", "calls", ["started_at"])

    op.create_table(
        "turns",
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("turn_index", sa.Integer(), nullable=False),
        sa.Column("caller_text", sa.Text(), nullable=True),
        sa.Column("answer_text", sa.Text(), nullable=True),
        sa.Column("sources", JSON_DOCUMENT, nullable=False),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("fallback_reasons", JSON_DOCUMENT, nullable=False),
        sa.Column("latency_ms", JSON_DOCUMENT, nullable=False),
        sa.Column("barge_in", sa.Boolean(), nullable=False),
        timestamp("created_at"),
        sa.ForeignKeyConstraint(["call_sid"], ["calls.call_sid"], name=op.f("fk_turns_call_sid_calls"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("call_sid", "turn_index", name=op.f("pk_turns")),
    )
    op.create_index("ix_turns_fallback_created_at", "turns", ["fallback", "created_at"])

    op.create_table(
        "callbacks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.String(63), nullable=False),
        sa.Column("call_sid", sa.String(64), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("number", sa.String(80), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        timestamp("created_at"),
        timestamp("handled_at", nullable=True),
        sa.Column("handled_by", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(["call_sid"], ["calls.call_sid"], name=op.f("fk_callbacks_call_sid_calls"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callbacks")),
    )
    op.create_index("ix_callbacks_org_id_status_created_at", "callbacks", ["org_id", "status", "created_at"])

    op.create_table(
        "handoffs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.String(63), nullable=False),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("number", sa.String(80), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=True),
        timestamp("started_at"),
        sa.Column("outcome", sa.String(32), nullable=True),
        timestamp("ended_at", nullable=True),
        sa.ForeignKeyConstraint(["call_sid"], ["calls.call_sid"], name=op.f("fk_handoffs_call_sid_calls"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoffs")),
    )
    op.create_index("ix_handoffs_call_sid", "handoffs", ["call_sid"])
    op.create_index("ix_handoffs_org_id_started_at", "handoffs", ["org_id", "started_at"])

    op.create_table(
        "events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.String(63), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("payload", JSON_DOCUMENT, nullable=False),
        timestamp("created_at"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        timestamp("next_attempt_at"),
        timestamp("delivered_at", nullable=True),
        timestamp("abandoned_at", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index("ix_events_delivered_at_next_attempt_at", "events", ["delivered_at", "next_attempt_at"])
    op.create_index("ix_events_org_id_created_at", "events", ["org_id", "created_at"])

    op.create_table(
        "audit",
        sa.Column("id", sa.Uuid(), nullable=False),
        timestamp("at"),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("org_id", sa.String(63), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("detail", JSON_DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit")),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    op.create_index("ix_audit_org_id_at", "audit", ["org_id", "at"])


def downgrade() -> None:
    for table in ("audit", "events", "handoffs", "callbacks", "turns", "calls"):
        op.drop_table(table)
