"""Inference routing: several weighted upstreams and fallbacks per model; the upstream that
served each request on its usage record.

Revision ID: 0004_inference_routing
Revises: 0003_keys_idempotency
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_inference_routing"
down_revision = "0003_keys_idempotency"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    with op.batch_alter_table("inference_models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("routes", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("fallbacks", sa.JSON(), nullable=True))
    with op.batch_alter_table("token_usage", schema=None) as batch_op:
        batch_op.add_column(sa.Column("upstream", sa.String(length=2048), nullable=True))


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table("token_usage", schema=None) as batch_op:
        batch_op.drop_column("upstream")
    with op.batch_alter_table("inference_models", schema=None) as batch_op:
        batch_op.drop_column("fallbacks")
        batch_op.drop_column("routes")
