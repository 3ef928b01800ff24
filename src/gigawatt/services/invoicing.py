"""Usage listing and invoice periods.

Closing a period invoices, per tenant, every usage record and credit of the period that is
not on an invoice yet, and marks them invoiced in the same transaction. Closing it again
finds nothing new and changes nothing. A period may be closed while it is still running
(the README tour does): running attempts are first metered up to now, and usage that
arrives later in the period goes on the tenant's next invoice for it (``sequence`` 2, …).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from gigawatt.billing.invoices import build_invoice
from gigawatt.billing.periods import parse_period, period_bounds, period_of
from gigawatt.core.errors import InvalidInput
from gigawatt.inference import billing_hooks
from gigawatt.services.accounting import meter
from gigawatt.services.auth import Principal
from gigawatt.services.platform import Platform
from gigawatt.services.views import UsageView, usage_view
from gigawatt.store.db import transaction
from gigawatt.store.models import InvoiceLineModel, InvoiceModel
from gigawatt.store.pagination import Page
from gigawatt.store.repositories import attempts as attempts_repo
from gigawatt.store.repositories import invoices as repo
from gigawatt.store.repositories import lease as lease_repo
from gigawatt.store.repositories import usage as usage_repo


@dataclass(frozen=True, slots=True)
class LineView:
    """One invoice line."""

    kind: str
    description: str
    gpu_type: str | None
    tier: str | None
    model: str | None
    quantity: Decimal
    unit: str
    amount_usd: Decimal


@dataclass(frozen=True, slots=True)
class InvoiceView:
    """An invoice with its lines."""

    id: str
    tenant_id: str
    period: str
    sequence: int
    status: str
    issued_at: float
    subtotal_usd: Decimal
    credits_usd: Decimal
    total_usd: Decimal
    lines: tuple[LineView, ...]


@dataclass(frozen=True, slots=True)
class CloseResult:
    """What closing a period did: the invoices it created and all invoices of the period."""

    period: str
    created: tuple[str, ...]
    invoices: tuple[InvoiceView, ...]


def _scope(principal: Principal, tenant_id: str | None) -> str | None:
    return tenant_id if principal.is_admin else principal.tenant_id


def list_usage(
    platform: Platform,
    principal: Principal,
    tenant_id: str | None = None,
    job_id: str | None = None,
    period: str | None = None,
    limit: int = 1000,
) -> list[UsageView]:
    """The caller's usage records (admin: all, or one tenant's)."""
    if period is not None:
        parse_period(period)
    with transaction(platform.sessions) as s:
        rows = usage_repo.list_usage(s, _scope(principal, tenant_id), job_id, period, limit)
        return [usage_view(r) for r in rows]


def _view(row: InvoiceModel, lines: Sequence[InvoiceLineModel]) -> InvoiceView:
    return InvoiceView(
        row.id,
        row.tenant_id,
        row.period,
        row.sequence,
        row.status,
        row.issued_at,
        row.subtotal_usd,
        row.credits_usd,
        row.total_usd,
        tuple(
            LineView(
                line.kind,
                line.description,
                line.gpu_type,
                line.tier,
                line.model,
                line.quantity,
                line.unit,
                line.amount_usd,
            )
            for line in lines
        ),
    )


def _views(session: Session, rows: Sequence[InvoiceModel]) -> list[InvoiceView]:
    """Views of invoices with their lines, read in one query (no query per invoice)."""
    lines = repo.lines_of(session, [r.id for r in rows])
    return [_view(r, lines[r.id]) for r in rows]


def list_invoices(
    platform: Platform,
    principal: Principal,
    tenant_id: str | None = None,
    period: str | None = None,
) -> list[InvoiceView]:
    """The caller's invoices (admin: all, or one tenant's)."""
    if period is not None:
        parse_period(period)
    with transaction(platform.sessions) as s:
        return _views(s, repo.list_invoices(s, _scope(principal, tenant_id), period))


def list_invoices_page(
    platform: Platform,
    principal: Principal,
    tenant_id: str | None = None,
    period: str | None = None,
    limit: int = 1000,
    cursor: str | None = None,
) -> Page[InvoiceView]:
    """One page of the caller's invoices, newest period first (admin: all, or one tenant's)."""
    if period is not None:
        parse_period(period)
    with transaction(platform.sessions) as s:
        page = repo.page_invoices(s, _scope(principal, tenant_id), period, limit, cursor)
        return Page(_views(s, page.items), page.next_cursor)


def get_invoice(platform: Platform, principal: Principal, invoice_id: str) -> InvoiceView:
    """One invoice of the caller (admin: any); another tenant's is :class:`NotFound`."""
    with transaction(platform.sessions) as s:
        row = repo.get_invoice(s, invoice_id, None if principal.is_admin else principal.tenant_id)
        return _views(s, [row])[0]


def close_period(platform: Platform, period: str | None = None) -> CloseResult:
    """Invoice everything of ``period`` (default: the current one) not invoiced yet."""
    now = platform.clock.now()
    name = period or period_of(now)
    parse_period(name)
    start, end = period_bounds(name)
    if start > now:
        raise InvalidInput(f"period {name} has not started yet", "period")
    created: list[str] = []
    with transaction(platform.sessions) as s:
        lease_repo.lock(s)
        # Bring running attempts up to date first: to now while the period is open, to its
        # end once it has ended (the control loop may not have split them at the boundary yet).
        for attempt, job in attempts_repo.active_attempts(s):
            if period_of(attempt.metered_until) == name:
                meter(platform, s, attempt, job, min(now, end))
        usage = repo.uninvoiced_usage(s, name)
        credits = repo.uninvoiced_credits(s, name)
        tenants: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
        for row in usage:
            tenants[row.tenant_id][0].append(row.id)
        for credit_row in credits:
            tenants[credit_row.tenant_id][1].append(credit_row.id)
        tokens = billing_hooks.uninvoiced(s, name)  # inference: lines by model
        for tenant_id, items in tokens.items():
            if billing_hooks.billable(items):
                tenants.setdefault(tenant_id, ([], []))
        by_id_usage = {row.id: usage_repo.to_record(row) for row in usage}
        by_id_credit = {row.id: usage_repo.to_credit(row) for row in credits}
        for tenant_id in sorted(tenants):
            usage_ids, credit_ids = tenants[tenant_id]
            invoice = build_invoice(
                tenant_id,
                name,
                [by_id_usage[i] for i in usage_ids],
                billing_hooks.billable(tokens.get(tenant_id, [])),
                [by_id_credit[i] for i in credit_ids],
            )
            stored = repo.insert_invoice(s, invoice, usage_ids, credit_ids, "closed", now)
            billing_hooks.mark_invoiced(s, [i for i, _ in tokens.get(tenant_id, [])], stored.id)
            created.append(stored.id)
        views = tuple(_views(s, repo.list_invoices(s, None, name)))
    return CloseResult(name, tuple(created), views)
