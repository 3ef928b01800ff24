"""Request and response bodies of the HTTP API (pydantic at the edge).

Requests forbid unknown fields, use strict integers (``"8"``, ``8.0`` and ``true`` are not
GPU counts), bound every number and string, and refuse strings that are not valid UTF-8
(lone surrogates) or carry NUL characters. Money and GPU quantities go out as JSON numbers,
times as seconds since the Unix epoch (UTC).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    field_validator,
)

from gigawatt.core.tiers import Tier

TENANT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
JOB_NAME = r"^[A-Za-z0-9][A-Za-z0-9 _.:@+-]{0,127}$"
GPU_TYPE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"
ENV_KEY = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
PERIOD = r"^\d{4}-\d{2}$"
MAX_RUNTIME_S = 366 * 24 * 3600


def _clean_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from exc
    return value


Text = Annotated[str, AfterValidator(_clean_text)]
Arg = Annotated[Text, Field(max_length=8192)]
EnvValue = Annotated[Text, Field(max_length=32768)]
Money = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantIn(_In):
    """``POST /v1/tenants``."""

    name: str = Field(pattern=TENANT_NAME, description="letters, digits, _ . - (max 64)")
    kind: Literal["internal", "external"]


MODEL_ID = r"^[A-Za-z0-9][\w.:/@-]*$"
KEY_NAME = r"^[A-Za-z0-9 _.:@+-]{0,64}$"
ModelId = Annotated[str, Field(min_length=1, max_length=128, pattern=MODEL_ID)]


class KeyIn(_In):
    """``POST /v1/tenants/{id}/keys`` (the body is optional): a name, an expiry (``ttl_s``
    from now, or ``expires_at``), and the inference models the key may call (``scopes``;
    default: all)."""

    name: str = Field(default="", pattern=KEY_NAME, description="a label (max 64)")
    expires_at: float | None = Field(default=None, ge=0, le=1e11)
    ttl_s: StrictInt | None = Field(default=None, ge=1, le=10 * 366 * 24 * 3600)
    scopes: list[ModelId] | None = Field(default=None, min_length=1, max_length=256)


class KeyCreateIn(KeyIn):
    """``POST /v1/keys``: a key of ``tenant_id`` (a tenant's key: its own tenant by default),
    or another admin key (``admin``, admin only)."""

    tenant_id: str | None = Field(default=None, max_length=64)
    admin: bool = False


class ReservationIn(_In):
    """``POST /v1/tenants/{id}/reservations``."""

    gpu_type: str = Field(pattern=GPU_TYPE)
    gpus: StrictInt = Field(ge=1, le=10_000_000)


class LimitsIn(_In):
    """Per-rank limits of a job's sandbox (cgroups, where the host has them); unset: the
    server's defaults (no memory limit, 4,096 processes, a CPU share per GPU)."""

    memory_mb: StrictInt | None = Field(default=None, ge=16, le=16_777_216)
    pids: StrictInt | None = Field(default=None, ge=8, le=1_048_576)
    cpus: StrictInt | None = Field(default=None, ge=1, le=4096)


class JobIn(_In):
    """``POST /v1/jobs``."""

    name: str = Field(pattern=JOB_NAME, description="letters, digits, space _ . : @ + - (max 128)")
    command: list[Arg] = Field(min_length=1, max_length=1024)
    gpus: StrictInt = Field(ge=1, le=1_000_000)
    gpu_type: str = Field(pattern=GPU_TYPE)
    tier: Tier
    max_runtime_s: StrictInt | None = Field(default=None, ge=1, le=MAX_RUNTIME_S)
    env: dict[Annotated[str, Field(pattern=ENV_KEY)], EnvValue] = Field(
        default_factory=dict, max_length=256
    )
    priority: StrictInt = Field(default=0, ge=-1000, le=1000)
    limits: LimitsIn | None = None

    @field_validator("command")
    @classmethod
    def _program_named(cls, command: list[str]) -> list[str]:
        if not command[0]:
            raise ValueError("the program (first element) must not be empty")
        return command


class CloseIn(_In):
    """``POST /v1/invoices/close``: the period to close (default: the current one)."""

    period: str | None = Field(default=None, pattern=PERIOD)


class TenantOut(BaseModel):
    """A tenant."""

    id: str
    name: str
    kind: str
    created_at: float


class KeyOut(BaseModel):
    """A new API key: ``key`` is shown this once and never again."""

    id: str
    tenant_id: str | None
    key: str
    prefix: str
    name: str
    is_admin: bool
    created_at: float
    expires_at: float | None
    scopes: list[str] | None


class KeyItemOut(BaseModel):
    """A key as listed: never its secret or hash."""

    id: str
    tenant_id: str | None
    prefix: str
    name: str
    is_admin: bool
    created_at: float
    last_used_at: float | None
    expires_at: float | None
    scopes: list[str] | None
    revoked_at: float | None


class ReservationOut(BaseModel):
    """A reservation."""

    id: str
    tenant_id: str
    gpu_type: str
    gpus: int
    created_at: float


class PlacementOut(BaseModel):
    """GPUs of one node."""

    node_id: str
    gpus: int
    gpu_indices: list[int]


class AttemptOut(BaseModel):
    """One run of a job."""

    attempt: int
    status: str
    started_at: float
    ended_at: float | None
    placement: list[PlacementOut]
    exit_code: int | None
    reason: str


class JobOut(BaseModel):
    """A job."""

    id: str
    name: str
    tenant_id: str
    command: list[str]
    env: dict[str, str]
    gpus: int
    gpu_type: str
    tier: str
    priority: int
    max_runtime_s: int | None
    limits: dict[str, int] | None = None
    status: str
    reason: str
    submitted_at: float
    started_at: float | None
    ended_at: float | None
    cancel_requested: bool
    attempts: list[AttemptOut]


class LogsOut(BaseModel):
    """Captured output of one attempt."""

    job_id: str
    attempt: int | None
    logs: str


class UsageOut(BaseModel):
    """One usage record: GPU time of one attempt within one invoice period."""

    kind: Literal["gpu"] = "gpu"
    id: int
    job_id: str
    attempt: int
    tenant: str
    tenant_id: str
    gpu_type: str
    tier: str
    gpus: int
    start: float
    end: float
    gpu_seconds: float
    energy_kwh: float
    amount_usd: Money
    period: str
    invoice_id: str | None


class InvoiceLineOut(BaseModel):
    """One invoice line."""

    kind: str
    description: str
    gpu_type: str | None
    tier: str | None
    model: str | None
    quantity: Money
    unit: str
    amount_usd: Money


class InvoiceOut(BaseModel):
    """An invoice of one tenant for one period."""

    id: str
    tenant_id: str
    period: str
    sequence: int
    status: str
    issued_at: float
    subtotal_usd: Money
    credits_usd: Money
    total_usd: Money
    lines: list[InvoiceLineOut]


class CloseOut(BaseModel):
    """Result of closing a period: the invoices created now and every invoice of the period."""

    period: str
    created: list[str]
    invoices: list[InvoiceOut]


class PriceOut(BaseModel):
    """Price of a GPU-hour of a type at a tier."""

    gpu_type: str
    tier: str
    price_per_gpu_hour: Money


class ErrorBody(BaseModel):
    """``{"code", "message"}``."""

    code: str
    message: str


class ErrorOut(BaseModel):
    """Every error response: ``{"error": {"code", "message"}}``."""

    error: ErrorBody
