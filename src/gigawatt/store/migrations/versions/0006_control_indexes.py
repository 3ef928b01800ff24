"""Control loop at scale: a partial index on jobs whose cancellation is pending.

The control loop asks every tick which non-terminal jobs have ``cancel_requested`` set; the
index holds only those rows, so the answer costs what is being cancelled, not what runs.

Revision ID: 0006_control_indexes
Revises: 0005_state_checks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_control_indexes"
down_revision = "0005_state_checks"
branch_labels = None
depends_on = None

#: Must match ``JobModel``'s index and the query in ``store/repositories/jobs.py``.
PENDING = "cancel_requested AND status IN ('queued', 'starting', 'running', 'preempted')"


def upgrade() -> None:
    """Create the partial index."""
    op.create_index(
        "ix_jobs_cancel_pending",
        "jobs",
        ["id"],
        sqlite_where=sa.text(PENDING),
        postgresql_where=sa.text(PENDING),
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_jobs_cancel_pending", table_name="jobs")
