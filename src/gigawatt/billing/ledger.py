"""A double-entry ledger: balanced transactions, posting rules and the trial balance.

Accounts are strings (see :class:`Account`). Balances are ``debits - credits``: receivables
and cost centres carry positive balances, revenue and showback negative ones, credits
(contra-revenue) positive ones. Posting rules (docs/billing.md):

* external GPU usage: debit ``receivable:<tenant>``, credit ``revenue:<tier>``;
* external token usage: debit ``receivable:<tenant>``, credit ``revenue:inference``;
* internal usage of either kind: debit ``cost_center:<tenant>``, credit ``showback:internal``
  (transfer-priced showback, never revenue);
* a credit: debit ``credits:<tier>``, credit ``receivable:<tenant>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from gigawatt.billing.checks import parse_money, parse_tier, require_text, require_time
from gigawatt.core.errors import InvalidInput
from gigawatt.core.money import ZERO, to_money
from gigawatt.core.tiers import Tier

if TYPE_CHECKING:
    from gigawatt.metering.records import TokenUsage, UsageRecord

TenantKind = Literal["internal", "external"]


class Account:
    """Names of ledger accounts (plain strings, ``<kind>:<name>``)."""

    SHOWBACK = "showback:internal"
    INFERENCE_REVENUE = "revenue:inference"

    @staticmethod
    def receivable(tenant: str) -> str:
        """What an external tenant owes."""
        return f"receivable:{require_text(tenant, 'tenant')}"

    @staticmethod
    def revenue(tier: Tier | str) -> str:
        """Revenue from GPU time sold at ``tier``."""
        return f"revenue:{parse_tier(tier).value}"

    @staticmethod
    def credits(tier: Tier | str) -> str:
        """Contra-revenue: credits granted on ``tier`` (e.g. reserved preemption)."""
        return f"credits:{parse_tier(tier).value}"

    @staticmethod
    def cost_center(tenant: str) -> str:
        """Transfer-priced cost of an internal tenant (showback)."""
        return f"cost_center:{require_text(tenant, 'tenant')}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a transaction: a debit or a credit (never both) of an account."""

    account: str
    debit: Decimal = ZERO
    credit: Decimal = ZERO

    def __post_init__(self) -> None:
        require_text(self.account, "account")
        object.__setattr__(self, "debit", parse_money(self.debit, "debit"))
        object.__setattr__(self, "credit", parse_money(self.credit, "credit"))
        if self.debit and self.credit:
            raise InvalidInput("an entry is a debit or a credit, not both", "entries")


@dataclass(frozen=True, slots=True)
class Transaction:
    """A balanced set of entries: it refuses to exist unless debits equal credits."""

    txid: str
    at: float
    memo: str
    entries: tuple[Entry, ...]

    def __post_init__(self) -> None:
        require_text(self.txid, "txid")
        require_time(self.at, "at")
        entries = tuple(self.entries)
        if not entries or not all(isinstance(entry, Entry) for entry in entries):
            raise InvalidInput("a transaction needs at least one Entry", "entries")
        debits = sum((entry.debit for entry in entries), ZERO)
        credits = sum((entry.credit for entry in entries), ZERO)
        if debits != credits:
            raise InvalidInput(f"unbalanced: debits {debits} != credits {credits}", "entries")
        object.__setattr__(self, "entries", entries)

    @property
    def amount(self) -> Decimal:
        """Total of the debits (equal to the total of the credits)."""
        return sum((entry.debit for entry in self.entries), ZERO)


def _pair(debit_account: str, credit_account: str, amount: Decimal) -> tuple[Entry, ...]:
    return (Entry(debit_account, debit=amount), Entry(credit_account, credit=amount))


def _check_kind(kind: object) -> TenantKind:
    if kind == "internal":
        return "internal"
    if kind == "external":
        return "external"
    raise InvalidInput(f"must be 'internal' or 'external', got {kind!r}", "tenant_kind")


def post_usage(record: UsageRecord, tenant_kind: TenantKind) -> Transaction:
    """Post one GPU usage record; ``txid`` is ``usage:<idempotency_key>``.

    External tenants owe revenue at the record's tier; internal tenants are charged to their
    cost centre against showback. An external tenant on the ``internal`` tier is refused
    (:class:`InvalidInput`): that tier is not for sale.
    """
    kind = _check_kind(tenant_kind)
    tier = parse_tier(record.tier)
    if kind == "internal":
        entries = _pair(Account.cost_center(record.tenant), Account.SHOWBACK, record.amount_usd)
    elif tier is Tier.INTERNAL:
        raise InvalidInput("the internal tier is only for internal tenants", "tier")
    else:
        entries = _pair(Account.receivable(record.tenant), Account.revenue(tier), record.amount_usd)
    memo = (
        f"{record.gpus}x {record.gpu_type} {tier.value} job {record.job_id} "
        f"attempt {record.attempt} {record.gpu_seconds:.3f} GPU-s"
    )
    return Transaction(f"usage:{record.idempotency_key}", record.end, memo, entries)


def post_token_usage(usage: TokenUsage, tenant_kind: TenantKind) -> Transaction:
    """Post one inference request; ``txid`` is ``tokens:<idempotency_key>``."""
    kind = _check_kind(tenant_kind)
    if kind == "internal":
        entries = _pair(Account.cost_center(usage.tenant), Account.SHOWBACK, usage.amount_usd)
    else:
        entries = _pair(
            Account.receivable(usage.tenant), Account.INFERENCE_REVENUE, usage.amount_usd
        )
    memo = f"{usage.model}: {usage.prompt_tokens} in + {usage.completion_tokens} out tokens"
    return Transaction(f"tokens:{usage.idempotency_key}", usage.at, memo, entries)


def post_credit(
    tenant: str,
    tier: Tier | str,
    amount: Decimal,
    reason: str,
    at: float,
    txid: str,
) -> Transaction:
    """Grant ``tenant`` a credit of ``amount`` (≥ 0) on ``tier``: contra-revenue, less owed."""
    value = parse_money(amount, "amount")
    entries = _pair(Account.credits(tier), Account.receivable(tenant), value)
    return Transaction(txid, at, f"credit: {require_text(reason, 'reason')}", entries)


def trial_balance(transactions: Iterable[Transaction]) -> dict[str, Decimal]:
    """Balance (debits - credits) of every account touched, sorted by account; sums to zero."""
    balances: dict[str, Decimal] = {}
    for transaction in transactions:
        for entry in transaction.entries:
            balance = balances.get(entry.account, ZERO)
            balances[entry.account] = balance + entry.debit - entry.credit
    return {account: to_money(balances[account]) for account in sorted(balances)}
