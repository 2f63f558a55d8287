"""Operator console: its users, failed sign-ins (for the lockout) and org configs kept in the database.

Written out rather than imported from the models, so this revision stays what it was when later ones change
the models.

Revision ID: 0002_console
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002_console"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def timestamp(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("org_id", sa.String(63), nullable=True),
        timestamp("created_at"),
        timestamp("last_sign_in_at", nullable=True),
        sa.Column("session_epoch", sa.Integer(), nullable=False),
        timestamp("disabled_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "sign_in_failures",
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        timestamp("first_failure_at"),
        timestamp("locked_until", nullable=True),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_sign_in_failures")),
    )
    op.create_table(
        "org_configs",
        sa.Column("org_id", sa.String(63), nullable=False),
        sa.Column("document", JSON_DOCUMENT, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        timestamp("updated_at"),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_org_configs")),
    )


def downgrade() -> None:
    for table in ("org_configs", "sign_in_failures", "users"):
        op.drop_table(table)
