"""Inference limits: budget periods (day, week, month), soft budgets with alert events, and
concurrent-request limits.

Revision ID: 0007_inference_limits
Revises: 0006_control_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gigawatt.store.types import MicroDollars

revision = "0007_inference_limits"
down_revision = "0006_control_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    with op.batch_alter_table("inference_limits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("budget_period", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("soft_budget_usd", MicroDollars(), nullable=True))
        batch_op.add_column(sa.Column("max_concurrent", sa.Integer(), nullable=True))
    op.create_table(
        "inference_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("bucket", sa.String(length=24), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inference_alerts")),
        sa.UniqueConstraint(
            "scope", "subject", "kind", "bucket", name=op.f("uq_inference_alerts_once")
        ),
    )


def downgrade() -> None:
    """Revert."""
    op.drop_table("inference_alerts")
    with op.batch_alter_table("inference_limits", schema=None) as batch_op:
        batch_op.drop_column("max_concurrent")
        batch_op.drop_column("soft_budget_usd")
        batch_op.drop_column("budget_period")
