"""``/v1/usage`` and ``/v1/invoices``: a tenant sees its own; the admin sees all and closes."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Response

from gigawatt.api.deps import AdminDep, CallerDep, PlatformDep
from gigawatt.api.paging import CursorQ, set_next_cursor
from gigawatt.api.schemas import PERIOD, CloseIn, CloseOut, InvoiceOut, UsageOut
from gigawatt.inference.billing_hooks import TokenUsageOut
from gigawatt.services import invoicing, usage_pages
from gigawatt.services.invoicing import InvoiceView
from gigawatt.services.views import UsageView

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
    response: Response,
    tenant_id: TenantQ = None,
    tenant: TenantQ = None,
    job_id: Annotated[str | None, Query(max_length=64)] = None,
    period: PeriodQ = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
    kind: Annotated[Literal["gpu", "inference"] | None, Query()] = None,
    cursor: CursorQ = None,
) -> list[UsageOut | TokenUsageOut]:
    """Usage records of the caller's tenant, oldest first (admin: all, or one tenant's): GPU
    time of jobs, then inference tokens (``kind`` keeps one of the two). More pages: pass
    the ``X-Next-Cursor`` response header back as ``cursor``."""
    who = tenant_id or tenant
    page = usage_pages.list_usage_page(platform, caller, who, job_id, period, limit, cursor, kind)
    set_next_cursor(response, page.next_cursor)
    return [
        UsageOut(tenant=v.tenant_id, **asdict(v)) if isinstance(v, UsageView) else v
        for v in page.items
    ]


@router.get("/v1/invoices", response_model=list[InvoiceOut])
def list_invoices(
    platform: PlatformDep,
    caller: CallerDep,
    response: Response,
    tenant_id: TenantQ = None,
    tenant: TenantQ = None,
    period: PeriodQ = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    cursor: CursorQ = None,
) -> list[InvoiceOut]:
    """The caller's invoices, newest period first (admin: all, or one tenant's). More pages:
    pass the ``X-Next-Cursor`` response header back as ``cursor``."""
    who = tenant_id or tenant
    page = invoicing.list_invoices_page(platform, caller, who, period, limit, cursor)
    set_next_cursor(response, page.next_cursor)
    return [invoice_out(v) for v in page.items]


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
