"""SQLAlchemy rows (``…Model``). Pure persistence shapes; domain values live in ``core``.

Invariants enforced by the database itself:

- ``gpu_allocations`` has primary key ``(node_id, gpu_index)``: a GPU can be allocated to at
  most one attempt, whatever the number of server processes;
- ``usage_records.idempotency_key`` and ``ledger_transactions.idempotency_key`` are unique:
  nothing is billed twice;
- ``invoices`` are unique per ``(tenant_id, period, sequence)``;
- ``jobs.status``, ``attempts.status`` (and the inference deployments' and replicas') hold
  only the values of their enums (CHECK constraints);
- ``idempotency_keys`` has primary key ``(scope, key)``: one request per client key and
  tenant, whatever the number of server processes racing on it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gigawatt.core.states import AttemptStatus, check_sql
from gigawatt.core.tiers import JobStatus
from gigawatt.store.types import MicroDollars

_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


#: Rows of ``ix_jobs_cancel_pending``: a cancel was asked and the job has not ended.
CANCEL_PENDING_SQL = "cancel_requested AND status IN ('queued', 'starting', 'running', 'preempted')"


class Base(DeclarativeBase):
    """Declarative base of every Gigawatt row (constraint names are deterministic)."""

    metadata = MetaData(naming_convention=_NAMING)


class TenantModel(Base):
    """A customer (``external``) or one of the owner's teams (``internal``)."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Double)


class ApiKeyModel(Base):
    """An API key: only its SHA-256 hash is kept; ``id`` is the public lookup prefix.

    ``scopes`` lists the inference models the key may call (None: every model);
    ``last_used_at`` is refreshed at most once a minute, not on every request.
    """

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Double)
    revoked_at: Mapped[float | None] = mapped_column(Double)
    name: Mapped[str] = mapped_column(String(64), default="")
    expires_at: Mapped[float | None] = mapped_column(Double)
    last_used_at: Mapped[float | None] = mapped_column(Double)
    scopes: Mapped[list[str] | None] = mapped_column(JSON)


class ReservationModel(Base):
    """``tenant_id`` holds ``gpus`` GPUs of ``gpu_type`` for its reserved-tier jobs."""

    __tablename__ = "reservations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    gpu_type: Mapped[str] = mapped_column(String(32))
    gpus: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Double)


class JobModel(Base):
    """A submitted job. ``status`` is the visible lifecycle state; attempts hold the runs."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_tenant_submitted", "tenant_id", "submitted_at"),
        # jobs whose cancellation is pending (migration 0006): the control loop reads them
        Index(
            "ix_jobs_cancel_pending",
            "id",
            sqlite_where=text(CANCEL_PENDING_SQL),
            postgresql_where=text(CANCEL_PENDING_SQL),
        ),
        CheckConstraint(check_sql("status", JobStatus), name="ck_jobs_status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(128))
    command: Mapped[list[str]] = mapped_column(JSON)
    env: Mapped[dict[str, str]] = mapped_column(JSON)
    gpus: Mapped[int] = mapped_column(Integer)
    gpu_type: Mapped[str] = mapped_column(String(32))
    tier: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    max_runtime_s: Mapped[int | None] = mapped_column(Integer)
    #: Per-rank sandbox limits asked for (``memory_mb``, ``pids``, ``cpus``); None: defaults.
    limits: Mapped[dict[str, int] | None] = mapped_column(JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[float] = mapped_column(Double)
    started_at: Mapped[float | None] = mapped_column(Double)
    ended_at: Mapped[float | None] = mapped_column(Double)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[float] = mapped_column(Double)


class AttemptModel(Base):
    """One run of a job on an allocation: billed from ``started_at`` to ``ended_at``.

    ``metered_until`` is how far usage records already cover (moved at period boundaries);
    ``handle`` is the backend's JSON handle, kept for adoption after a restart.
    """

    __tablename__ = "attempts"
    __table_args__ = (
        UniqueConstraint("job_id", "attempt", name="uq_attempts_job_attempt"),
        CheckConstraint(check_sql("status", AttemptStatus), name="ck_attempts_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    placement: Mapped[list[Any]] = mapped_column(JSON)
    gpu_indices: Mapped[list[Any]] = mapped_column(JSON)
    handle: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    started_at: Mapped[float] = mapped_column(Double)
    ended_at: Mapped[float | None] = mapped_column(Double)
    last_heartbeat_at: Mapped[float] = mapped_column(Double)
    metered_until: Mapped[float] = mapped_column(Double)
    stop_reason: Mapped[str | None] = mapped_column(String(16))
    stop_requested_at: Mapped[float | None] = mapped_column(Double)
    kill_after: Mapped[float | None] = mapped_column(Double)
    killed: Mapped[bool] = mapped_column(Boolean, default=False)
    preempting_for: Mapped[str | None] = mapped_column(String(40))
    exit_code: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")


class GpuAllocationModel(Base):
    """One GPU held by one attempt. The primary key forbids double allocation."""

    __tablename__ = "gpu_allocations"

    node_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    gpu_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"), index=True)
    job_id: Mapped[str] = mapped_column(String(40), index=True)
    site: Mapped[str] = mapped_column(String(64))
    gpu_type: Mapped[str] = mapped_column(String(32))
    tier: Mapped[str] = mapped_column(String(16))


class UsageRecordModel(Base):
    """Metered GPU time of one attempt within one invoice period."""

    __tablename__ = "usage_records"
    __table_args__ = (Index("ix_usage_tenant_period", "tenant_id", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    job_id: Mapped[str] = mapped_column(String(40), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    tenant_id: Mapped[str] = mapped_column(String(40))
    gpu_type: Mapped[str] = mapped_column(String(32))
    tier: Mapped[str] = mapped_column(String(16))
    gpus: Mapped[int] = mapped_column(Integer)
    start_ts: Mapped[float] = mapped_column(Double)
    end_ts: Mapped[float] = mapped_column(Double)
    gpu_seconds: Mapped[float] = mapped_column(Double)
    energy_kwh: Mapped[float] = mapped_column(Double)
    amount_usd: Mapped[Decimal] = mapped_column(MicroDollars)
    period: Mapped[str] = mapped_column(String(7))
    invoice_id: Mapped[str | None] = mapped_column(String(40), index=True)
    created_at: Mapped[float] = mapped_column(Double)


class CreditModel(Base):
    """A credit owed to a tenant (e.g. a preempted reserved job), shown on its invoice."""

    __tablename__ = "credits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    tenant_id: Mapped[str] = mapped_column(String(40), index=True)
    job_id: Mapped[str | None] = mapped_column(String(40))
    tier: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(7))
    amount_usd: Mapped[Decimal] = mapped_column(MicroDollars)
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[float] = mapped_column(Double)
    invoice_id: Mapped[str | None] = mapped_column(String(40), index=True)


class LedgerTransactionModel(Base):
    """A balanced double-entry transaction (its entries sum to zero)."""

    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[float] = mapped_column(Double)
    period: Mapped[str] = mapped_column(String(7))


class LedgerEntryModel(Base):
    """One leg of a transaction: a debit or a credit of one account."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account: Mapped[str] = mapped_column(String(160), index=True)
    debit_usd: Mapped[Decimal] = mapped_column(MicroDollars)
    credit_usd: Mapped[Decimal] = mapped_column(MicroDollars)


class InvoiceModel(Base):
    """A tenant's invoice for one period (``sequence`` > 1 only for late usage)."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("tenant_id", "period", "sequence", name="uq_invoices_tenant_period"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40), index=True)
    period: Mapped[str] = mapped_column(String(7))
    sequence: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[float] = mapped_column(Double)
    subtotal_usd: Mapped[Decimal] = mapped_column(MicroDollars)
    credits_usd: Mapped[Decimal] = mapped_column(MicroDollars)
    total_usd: Mapped[Decimal] = mapped_column(MicroDollars)


class InvoiceLineModel(Base):
    """One invoice line: GPU-hours of a (GPU type, tier), tokens of a model, or a credit."""

    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    gpu_type: Mapped[str | None] = mapped_column(String(32))
    tier: Mapped[str | None] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(String(128))
    #: GPU-hours, tokens or 1 (credit), to 6 decimal places (stored like money: exact)
    quantity: Mapped[Decimal] = mapped_column(MicroDollars)
    unit: Mapped[str] = mapped_column(String(16))
    amount_usd: Mapped[Decimal] = mapped_column(MicroDollars)


class ControlLeaseModel(Base):
    """Singleton row (id 1): which server process runs the control loop, locked each tick."""

    __tablename__ = "control_lease"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[float] = mapped_column(Double, default=0.0)


class IdempotencyKeyModel(Base):
    """The first request sent with an ``Idempotency-Key`` and, once answered, its response.

    ``scope`` is the caller's tenant id (``admin`` for admin keys), so two tenants' keys never
    collide. ``status_code`` is None while the first request is still being served.
    """

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    #: SHA-256 of method, path and (canonical JSON) body of the first request.
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(128))
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Double, index=True)
    completed_at: Mapped[float | None] = mapped_column(Double)
