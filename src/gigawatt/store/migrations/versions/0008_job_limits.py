"""Per-job sandbox limits: memory, process count and CPU per rank, from ``POST /v1/jobs``.

Revision ID: 0008_job_limits
Revises: 0007_inference_limits
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_job_limits"
down_revision = "0007_inference_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("limits", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("limits")
