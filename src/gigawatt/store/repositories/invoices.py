"""Invoices and their lines; which usage records and credits are still to be invoiced."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gigawatt.billing.invoices import Invoice
from gigawatt.core.errors import NotFound
from gigawatt.store.models import CreditModel, InvoiceLineModel, InvoiceModel, UsageRecordModel
from gigawatt.store.pagination import Page, SortKey, paginate
from gigawatt.store.repositories.ids import looks_like_id, new_id

#: Newest period first, then by tenant and sequence (unique together: a total order).
INVOICE_ORDER = (
    SortKey(InvoiceModel.period, str, descending=True),
    SortKey(InvoiceModel.tenant_id, str),
    SortKey(InvoiceModel.sequence, int),
)


def uninvoiced_usage(session: Session, period: str) -> Sequence[UsageRecordModel]:
    """Usage records of ``period`` not yet on an invoice."""
    query = select(UsageRecordModel).where(
        UsageRecordModel.period == period, UsageRecordModel.invoice_id.is_(None)
    )
    return session.scalars(query.order_by(UsageRecordModel.id)).all()


def uninvoiced_credits(session: Session, period: str) -> Sequence[CreditModel]:
    """Credits of ``period`` not yet on an invoice."""
    query = select(CreditModel).where(
        CreditModel.period == period, CreditModel.invoice_id.is_(None)
    )
    return session.scalars(query.order_by(CreditModel.id)).all()


def insert_invoice(
    session: Session,
    invoice: Invoice,
    usage_ids: Sequence[int],
    credit_ids: Sequence[int],
    status: str,
    now: float,
) -> InvoiceModel:
    """Store ``invoice`` as the tenant's next invoice of its period and mark its items invoiced."""
    last = session.scalar(
        select(func.max(InvoiceModel.sequence)).where(
            InvoiceModel.tenant_id == invoice.tenant, InvoiceModel.period == invoice.period
        )
    )
    row = InvoiceModel(
        id=new_id("inv"),
        tenant_id=invoice.tenant,
        period=invoice.period,
        sequence=int(last or 0) + 1,
        status=status,
        issued_at=now,
        subtotal_usd=invoice.subtotal,
        credits_usd=invoice.credits,
        total_usd=invoice.total,
    )
    session.add(row)
    session.flush()
    for position, line in enumerate(invoice.lines):
        session.add(
            InvoiceLineModel(
                invoice_id=row.id,
                position=position,
                kind=line.kind,
                description=line.description,
                gpu_type=line.gpu_type,
                tier=None if line.tier is None else line.tier.value,
                model=line.model,
                quantity=line.quantity,
                unit=line.unit,
                amount_usd=line.amount_usd,
            )
        )
    if usage_ids:
        session.execute(
            update(UsageRecordModel)
            .where(UsageRecordModel.id.in_(list(usage_ids)))
            .values(invoice_id=row.id)
            .execution_options(synchronize_session=False)
        )
    if credit_ids:
        session.execute(
            update(CreditModel)
            .where(CreditModel.id.in_(list(credit_ids)))
            .values(invoice_id=row.id)
            .execution_options(synchronize_session=False)
        )
    session.flush()
    return row


def list_invoices(
    session: Session, tenant_id: str | None = None, period: str | None = None
) -> Sequence[InvoiceModel]:
    """Invoices newest period first."""
    if tenant_id is not None and not looks_like_id(tenant_id):
        return []
    query = select(InvoiceModel).order_by(
        InvoiceModel.period.desc(), InvoiceModel.tenant_id, InvoiceModel.sequence
    )
    if tenant_id is not None:
        query = query.where(InvoiceModel.tenant_id == tenant_id)
    if period is not None:
        query = query.where(InvoiceModel.period == period)
    return session.scalars(query).all()


def page_invoices(
    session: Session,
    tenant_id: str | None,
    period: str | None,
    limit: int,
    cursor: str | None = None,
) -> Page[InvoiceModel]:
    """One page of invoices in the order of :func:`list_invoices`."""
    if tenant_id is not None and not looks_like_id(tenant_id):
        return Page([], None)
    query = select(InvoiceModel)
    if tenant_id is not None:
        query = query.where(InvoiceModel.tenant_id == tenant_id)
    if period is not None:
        query = query.where(InvoiceModel.period == period)
    return paginate(
        session,
        query,
        "invoices",
        INVOICE_ORDER,
        lambda r: (r.period, r.tenant_id, r.sequence),
        limit,
        cursor,
    )


def lines_of(session: Session, invoice_ids: Sequence[str]) -> dict[str, list[InvoiceLineModel]]:
    """Lines of several invoices in one query, each invoice's in order."""
    out: dict[str, list[InvoiceLineModel]] = {i: [] for i in invoice_ids}
    if invoice_ids:
        query = select(InvoiceLineModel).where(InvoiceLineModel.invoice_id.in_(list(invoice_ids)))
        query = query.order_by(InvoiceLineModel.invoice_id, InvoiceLineModel.position)
        for line in session.scalars(query):
            out[line.invoice_id].append(line)
    return out


def get_invoice(session: Session, invoice_id: str, tenant_id: str | None = None) -> InvoiceModel:
    """The invoice; :class:`NotFound` if absent or another tenant's."""
    row = session.get(InvoiceModel, invoice_id) if looks_like_id(invoice_id) else None
    if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
        raise NotFound(f"no invoice {invoice_id!r}")
    return row


def invoice_lines(session: Session, invoice_id: str) -> Sequence[InvoiceLineModel]:
    """Lines of an invoice in order."""
    query = select(InvoiceLineModel).where(InvoiceLineModel.invoice_id == invoice_id)
    return session.scalars(query.order_by(InvoiceLineModel.position)).all()
