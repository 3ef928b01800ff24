"""SQLAlchemy rows of the inference gateway (same declarative ``Base`` as the control plane).

Invariants enforced by the database itself:

- ``token_usage.idempotency_key`` is unique: one usage record per request, whatever retries
  or races happen between the gateway's code paths and processes;
- ``inference_counters`` has primary key ``(scope, subject, bucket)``: counters are updated
  with atomic upserts, so every gateway process sharing the database sees and enforces the
  same numbers that metering writes;
- ``inference_replicas.job_id`` is unique: one replica per service job;
- deployment and replica ``status`` hold only their enums' values (CHECK constraints).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from gigawatt.core.states import DeploymentStatus, ReplicaStatus, check_sql
from gigawatt.store.models import Base
from gigawatt.store.types import MicroDollars


class InferenceModelModel(Base):
    """A model sold through the gateway: an upstream URL or a local model directory."""

    __tablename__ = "inference_models"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    upstream_url: Mapped[str | None] = mapped_column(String(2048))
    #: The model's name at the upstream (defaults to ``id``).
    upstream_model: Mapped[str | None] = mapped_column(String(256))
    #: Sent as ``Authorization: Bearer …`` to the upstream (never shown by the API).
    upstream_api_key: Mapped[str | None] = mapped_column(String(512))
    model_path: Mapped[str | None] = mapped_column(String(4096))
    #: Several weighted upstreams (``[{url, model, api_key, weight}]``; None: ``upstream_url``).
    routes: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    #: Models tried, in order, when every route of this one failed.
    fallbacks: Mapped[list[str] | None] = mapped_column(JSON)
    price_input_per_million: Mapped[Decimal] = mapped_column(MicroDollars)
    price_output_per_million: Mapped[Decimal] = mapped_column(MicroDollars)
    created_at: Mapped[float] = mapped_column(Double)


class DeploymentModel(Base):
    """Replicas of a ``model_path`` model run as long-running service jobs on the fleet."""

    __tablename__ = "inference_deployments"
    __table_args__ = (
        CheckConstraint(
            check_sql("status", DeploymentStatus), name="ck_inference_deployments_status"
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("inference_models.id"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    gpus: Mapped[int] = mapped_column(Integer)
    gpu_type: Mapped[str] = mapped_column(String(32))
    tier: Mapped[str] = mapped_column(String(16))
    replicas: Mapped[int] = mapped_column(Integer)
    max_batch_size: Mapped[int] = mapped_column(Integer, default=8)
    status: Mapped[str] = mapped_column(String(16), index=True)
    #: Where replicas register (``…/v1/deployments/<id>/replicas`` of a gateway).
    register_url: Mapped[str] = mapped_column(String(2048))
    #: The secret a replica presents (``X-Replica-Token``) when it registers its URL.
    replica_token: Mapped[str] = mapped_column(String(64))
    #: Replica jobs that ended before registering (the deployment fails at a limit).
    failures: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[float] = mapped_column(Double)


class ReplicaModel(Base):
    """One replica: the service job running the worker, and the URL it registered."""

    __tablename__ = "inference_replicas"
    __table_args__ = (
        CheckConstraint(check_sql("status", ReplicaStatus), name="ck_inference_replicas_status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("inference_deployments.id"), index=True)
    job_id: Mapped[str] = mapped_column(String(40), unique=True)
    url: Mapped[str | None] = mapped_column(String(2048))
    #: ``starting`` (job submitted), ``ready`` (registered), ``stopped`` (job ended).
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)


class TokenUsageModel(Base):
    """The tokens of one inference request and their amount (``status`` says how it ended)."""

    __tablename__ = "token_usage"
    __table_args__ = (Index("ix_token_usage_tenant_period", "tenant_id", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[str | None] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(128))
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    amount_usd: Mapped[Decimal] = mapped_column(MicroDollars)
    #: ``completed``, ``client_disconnected`` or ``upstream_error``.
    status: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(Text, default="")
    #: The upstream URL or replica that served (or last failed) the request.
    upstream: Mapped[str | None] = mapped_column(String(2048))
    at: Mapped[float] = mapped_column(Double)
    period: Mapped[str] = mapped_column(String(7))
    invoice_id: Mapped[str | None] = mapped_column(String(40), index=True)


class InferenceLimitModel(Base):
    """Budget and rate limits of a tenant or an API key (``None``: unlimited)."""

    __tablename__ = "inference_limits"

    #: ``tenant`` or ``key``.
    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    subject: Mapped[str] = mapped_column(String(40), primary_key=True)
    budget_usd: Mapped[Decimal | None] = mapped_column(MicroDollars)
    requests_per_minute: Mapped[int | None] = mapped_column(Integer)
    tokens_per_minute: Mapped[int | None] = mapped_column(BigInteger)
    #: ``day``, ``week`` (ISO, UTC) or ``month`` (None: month) — the budgets' window.
    budget_period: Mapped[str | None] = mapped_column(String(8))
    #: Spend at which an alert event is recorded (once per window); requests still pass.
    soft_budget_usd: Mapped[Decimal | None] = mapped_column(MicroDollars)
    #: Requests of the subject in flight at once, per gateway process.
    max_concurrent: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[float] = mapped_column(Double)


class InferenceCounterModel(Base):
    """Requests, tokens and spend of a tenant or key in one window.

    ``bucket`` is ``m<minute index>`` (requests and tokens, for rate limits) or the invoice
    period ``YYYY-MM`` (spend, for budgets). Metering and admission read and write these rows.
    """

    __tablename__ = "inference_counters"

    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    subject: Mapped[str] = mapped_column(String(40), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(24), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    spend_usd: Mapped[Decimal] = mapped_column(MicroDollars, default=Decimal(0))


class InferenceAlertModel(Base):
    """An alert event: a subject's spend reached its soft budget (once per budget window)."""

    __tablename__ = "inference_alerts"
    __table_args__ = (
        UniqueConstraint("scope", "subject", "kind", "bucket", name="uq_inference_alerts_once"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(40))
    #: ``soft_budget``.
    kind: Mapped[str] = mapped_column(String(24))
    #: The budget window the alert is about (``2026-12``, ``w2026-49``, ``d2026-12-01``).
    bucket: Mapped[str] = mapped_column(String(24))
    at: Mapped[float] = mapped_column(Double)
    message: Mapped[str] = mapped_column(Text)
