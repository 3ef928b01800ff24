"""``/v1/usage`` and ``/v1/invoices``: a tenant sees its own; the admin sees all and closes."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query

from gigawatt.api.deps import AdminDep, CallerDep, PlatformDep
from gigawatt.api.schemas import PERIOD, CloseIn, CloseOut, InvoiceOut, UsageOut
from gigawatt.inference import billing_hooks
from gigawatt.inference.billing_hooks import TokenUsageOut
from gigawatt.services import invoicing
from gigawatt.services.invoicing import InvoiceView

router = APIRouter(tags=["billing"])

TenantQ = Annotated[str | None, Query(max_length=64)]
PeriodQ = Annotated[str | None, Query(pattern=PERIOD)]


def invoice_out(view: InvoiceView) -> InvoiceOut:
    """Response body of an invoice."""
    return InvoiceOut.model_validate(asdict(view))


@router.get("/v1/usage", response_model=list[UsageOut | TokenUsageOut])
def list_usage(
    platform: PlatformDep,
    caller: CallerDep,
    tenant_id: TenantQ = None,
    tenant: TenantQ = None,
    job_id: Annotated[str | None, Query(max_length=64)] = None,
    period: PeriodQ = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
    kind: Annotated[Literal["gpu", "inference"] | None, Query()] = None,
) -> list[UsageOut | TokenUsageOut]:
    """Usage records of the caller's tenant, oldest first (admin: all, or one tenant's): GPU
    time of jobs, then inference tokens (``kind`` keeps one of the two)."""
    who = tenant_id or tenant
    views = (
        []
        if kind == "inference"
        else invoicing.list_usage(platform, caller, who, job_id, period, limit)
    )
    out: list[UsageOut | TokenUsageOut] = [UsageOut(tenant=v.tenant_id, **asdict(v)) for v in views]
    if kind != "gpu" and job_id is None:
        out += billing_hooks.list_for(platform.sessions, caller, who, period, limit)
    return out


@router.get("/v1/invoices", response_model=list[InvoiceOut])
def list_invoices(
    platform: PlatformDep,
    caller: CallerDep,
    tenant_id: TenantQ = None,
    tenant: TenantQ = None,
    period: PeriodQ = None,
) -> list[InvoiceOut]:
    """The caller's invoices (admin: all, or one tenant's)."""
    views = invoicing.list_invoices(platform, caller, tenant_id or tenant, period)
    return [invoice_out(v) for v in views]


@router.get("/v1/invoices/{invoice_id}", response_model=InvoiceOut)
def get_invoice(invoice_id: str, platform: PlatformDep, caller: CallerDep) -> InvoiceOut:
    """One invoice with its lines (404 for another tenant's)."""
    return invoice_out(invoicing.get_invoice(platform, caller, invoice_id))


@router.post("/v1/invoices/close", response_model=CloseOut)
def close_period(
    platform: PlatformDep, _admin: AdminDep, body: CloseIn | None = Body(default=None)
) -> CloseOut:
    """Invoice every tenant's not-yet-invoiced usage and credits of ``period`` (default: the
    current month). Closing the same period again changes nothing."""
    result = invoicing.close_period(platform, body.period if body else None)
    return CloseOut(
        period=result.period,
        created=list(result.created),
        invoices=[invoice_out(v) for v in result.invoices],
    )
