"""tsdb durability marks: which batch wrote a ledger row's points, and how far snapshots cover

Revision ID: 0006_tsdb_durability
Revises: 0005_alert_notify
Create Date: 2026-11-27 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cloud.db

revision = "0006_tsdb_durability"
down_revision = "0005_alert_notify"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tsdb_durable_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("started_at", cloud.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("durable_batch", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reading_keys") as batch:
        batch.add_column(sa.Column("tsdb_writer", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("tsdb_batch", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reading_keys") as batch:
        batch.drop_column("tsdb_batch")
        batch.drop_column("tsdb_writer")
    op.drop_table("tsdb_durable_marks")
