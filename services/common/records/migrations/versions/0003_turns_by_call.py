"""Turns by call and fallback: "did this call fall back?" is one index lookup per call.

The console's call list and overview ask it for every call they show or count. With only the primary key and
(fallback, created_at), SQLite (which has no statistics unless ANALYZE is run) chose the fallback index and
read every fallback turn of every org once per call: 0.7 s for a page of 50 calls and 7 s for the overview
with 100,000 turns in the store, 10 ms and 30 ms with this index.

Revision ID: 0003_turns_by_call
Revises: 0002_console
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0003_turns_by_call"
down_revision = "0002_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_turns_call_sid_fallback", "turns", ["call_sid", "fallback"])


def downgrade() -> None:
    op.drop_index("ix_turns_call_sid_fallback", table_name="turns")
