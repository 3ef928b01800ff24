"""Billing: price book, invoice periods, double-entry ledger, credits and invoices (pure).

Public API: :class:`PriceBook`, :class:`ModelPrice`, :func:`rate_tokens`, the ``periods``
functions, :class:`Account`, :class:`Entry`, :class:`Transaction`, :func:`post_usage`,
:func:`post_token_usage`, :func:`post_credit`, :func:`trial_balance`, :class:`Credit`,
:func:`reserved_preemption_credit`, :func:`preemption_credit`, :class:`InvoiceLine`,
:class:`Invoice`, :func:`build_invoice`.
"""

from gigawatt.billing import invoices, ledger, periods
from gigawatt.billing.credits import (
    PREEMPTION_PENALTY_RATE,
    Credit,
    preemption_credit,
    preemption_credit_key,
    reserved_preemption_credit,
)
from gigawatt.billing.invoices import Invoice, InvoiceLine, build_invoice
from gigawatt.billing.ledger import (
    Account,
    Entry,
    TenantKind,
    Transaction,
    post_credit,
    post_token_usage,
    post_usage,
    trial_balance,
)
from gigawatt.billing.periods import (
    next_period,
    parse_period,
    period_bounds,
    period_of,
    split_at_period_boundaries,
)
from gigawatt.billing.prices import ModelPrice, PriceBook, PriceEntry, rate_tokens

__all__ = [
    "PREEMPTION_PENALTY_RATE",
    "Account",
    "Credit",
    "Entry",
    "Invoice",
    "InvoiceLine",
    "ModelPrice",
    "PriceBook",
    "PriceEntry",
    "TenantKind",
    "Transaction",
    "build_invoice",
    "invoices",
    "ledger",
    "next_period",
    "parse_period",
    "period_bounds",
    "period_of",
    "periods",
    "post_credit",
    "post_token_usage",
    "post_usage",
    "preemption_credit",
    "preemption_credit_key",
    "rate_tokens",
    "reserved_preemption_credit",
    "split_at_period_boundaries",
    "trial_balance",
]
