"""Inference: models, deployments and replicas, token usage, limits and counters.

Revision ID: 0002_inference
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gigawatt.store.types import MicroDollars

revision = "0002_inference"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    op.create_table(
        "inference_counters",
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("bucket", sa.String(length=24), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("spend_usd", MicroDollars(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "subject", "bucket", name=op.f("pk_inference_counters")),
    )
    op.create_table(
        "inference_limits",
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("budget_usd", MicroDollars(), nullable=True),
        sa.Column("requests_per_minute", sa.Integer(), nullable=True),
        sa.Column("tokens_per_minute", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "subject", name=op.f("pk_inference_limits")),
    )
    op.create_table(
        "inference_models",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("upstream_url", sa.String(length=2048), nullable=True),
        sa.Column("upstream_model", sa.String(length=256), nullable=True),
        sa.Column("upstream_api_key", sa.String(length=512), nullable=True),
        sa.Column("model_path", sa.String(length=4096), nullable=True),
        sa.Column("price_input_per_million", MicroDollars(), nullable=False),
        sa.Column("price_output_per_million", MicroDollars(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inference_models")),
    )
    op.create_table(
        "token_usage",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=True),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("amount_usd", MicroDollars(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("invoice_id", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_usage")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_token_usage_idempotency_key")),
    )
    op.create_index(op.f("ix_token_usage_invoice_id"), "token_usage", ["invoice_id"])
    op.create_index("ix_token_usage_tenant_period", "token_usage", ["tenant_id", "period"])
    op.create_table(
        "inference_deployments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("gpus", sa.Integer(), nullable=False),
        sa.Column("gpu_type", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("replicas", sa.Integer(), nullable=False),
        sa.Column("max_batch_size", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("register_url", sa.String(length=2048), nullable=False),
        sa.Column("replica_token", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["inference_models.id"],
            name=op.f("fk_inference_deployments_model_id_inference_models"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inference_deployments")),
    )
    op.create_index(
        op.f("ix_inference_deployments_model_id"), "inference_deployments", ["model_id"]
    )
    op.create_index(op.f("ix_inference_deployments_status"), "inference_deployments", ["status"])
    op.create_table(
        "inference_replicas",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("deployment_id", sa.String(length=40), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["inference_deployments.id"],
            name=op.f("fk_inference_replicas_deployment_id_inference_deployments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inference_replicas")),
        sa.UniqueConstraint("job_id", name=op.f("uq_inference_replicas_job_id")),
    )
    op.create_index(
        op.f("ix_inference_replicas_deployment_id"), "inference_replicas", ["deployment_id"]
    )
    op.create_index(op.f("ix_inference_replicas_status"), "inference_replicas", ["status"])


def downgrade() -> None:
    """Undo."""
    op.drop_index(op.f("ix_inference_replicas_status"), table_name="inference_replicas")
    op.drop_index(op.f("ix_inference_replicas_deployment_id"), table_name="inference_replicas")
    op.drop_table("inference_replicas")
    op.drop_index(op.f("ix_inference_deployments_status"), table_name="inference_deployments")
    op.drop_index(op.f("ix_inference_deployments_model_id"), table_name="inference_deployments")
    op.drop_table("inference_deployments")
    op.drop_index("ix_token_usage_tenant_period", table_name="token_usage")
    op.drop_index(op.f("ix_token_usage_invoice_id"), table_name="token_usage")
    op.drop_table("token_usage")
    op.drop_table("inference_models")
    op.drop_table("inference_limits")
    op.drop_table("inference_counters")
