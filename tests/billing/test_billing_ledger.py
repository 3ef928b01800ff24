"""The double-entry ledger: balanced transactions, posting rules, trial balance."""

from __future__ import annotations

import calendar
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gigawatt.billing import (
    Account,
    Entry,
    ModelPrice,
    PriceBook,
    Transaction,
    post_credit,
    post_token_usage,
    post_usage,
    trial_balance,
)
from gigawatt.core.catalogue import default_catalogue
from gigawatt.core.errors import InvalidInput
from gigawatt.core.tiers import Tier
from gigawatt.metering import UsageRecord, meter_interval, meter_tokens

BOOK = PriceBook.from_catalogue(default_catalogue())
T0 = float(calendar.timegm((2026, 11, 3, 12, 0, 0)))


def usage(tenant: str, tier: Tier, gpus: int = 8, hours: float = 1.0) -> UsageRecord:
    (record,) = meter_interval(
        f"job-{tenant}-{tier}", 0, tenant, "H100", tier, gpus, T0, T0 + hours * 3600, BOOK, 1.4
    )
    return record


def test_transaction_refuses_to_be_unbalanced() -> None:
    with pytest.raises(InvalidInput):
        Transaction("t", T0, "m", (Entry("a", debit=Decimal(1)), Entry("b", credit=Decimal(2))))
    with pytest.raises(InvalidInput):
        Transaction("t", T0, "m", ())


def test_entry_is_debit_or_credit_never_both_or_negative() -> None:
    with pytest.raises(InvalidInput):
        Entry("a", debit=Decimal(1), credit=Decimal(1))
    with pytest.raises(InvalidInput):
        Entry("a", debit=Decimal(-1))
    with pytest.raises(InvalidInput):
        Entry("", debit=Decimal(1))


def test_external_usage_is_receivable_against_revenue_of_its_tier() -> None:
    tx = post_usage(usage("acme", Tier.RESERVED), "external")
    assert tx.txid.startswith("usage:job-acme-reserved:0:")
    assert [(e.account, e.debit, e.credit) for e in tx.entries] == [
        ("receivable:acme", Decimal("18.800000"), 0),
        ("revenue:reserved", 0, Decimal("18.800000")),
    ]
    assert tx.amount == Decimal("18.8")


def test_internal_usage_is_showback_not_revenue() -> None:
    tx = post_usage(usage("research", Tier.INTERNAL), "internal")
    accounts = {e.account for e in tx.entries}
    assert accounts == {"cost_center:research", Account.SHOWBACK}
    assert tx.amount == Decimal("1.80") * 8


def test_external_tenant_on_internal_tier_is_refused() -> None:
    with pytest.raises(InvalidInput):
        post_usage(usage("acme", Tier.INTERNAL), "external")
    with pytest.raises(InvalidInput):
        post_usage(usage("acme", Tier.SPOT), "partner")  # type: ignore[arg-type]


def test_token_usage_posts_to_inference_revenue() -> None:
    price = ModelPrice("m", Decimal("1"), Decimal("2"))
    tokens = meter_tokens("r1", "acme", "k1", price, 1_000_000, 1_000_000, T0)
    tx = post_token_usage(tokens, "external")
    assert tx.txid == "tokens:tok:r1"
    assert {(e.account, e.debit + e.credit) for e in tx.entries} == {
        ("receivable:acme", Decimal(3)),
        ("revenue:inference", Decimal(3)),
    }
    internal = post_token_usage(tokens, "internal")
    assert {e.account for e in internal.entries} == {"cost_center:acme", "showback:internal"}


def test_credit_is_contra_revenue_against_receivable() -> None:
    tx = post_credit("acme", "reserved", Decimal("5.5"), "preempted", T0, "credit:1")
    assert [(e.account, e.debit, e.credit) for e in tx.entries] == [
        ("credits:reserved", Decimal("5.5"), 0),
        ("receivable:acme", 0, Decimal("5.5")),
    ]
    with pytest.raises(InvalidInput):
        post_credit("acme", "reserved", Decimal(-1), "x", T0, "credit:2")


def test_trial_balance_of_a_month_sums_to_zero() -> None:
    txs = [
        post_usage(usage("acme", Tier.RESERVED), "external"),
        post_usage(usage("acme", Tier.SPOT, gpus=3, hours=0.37), "external"),
        post_usage(usage("beta", Tier.ON_DEMAND, gpus=16), "external"),
        post_usage(usage("research", Tier.INTERNAL), "internal"),
        post_credit("acme", Tier.RESERVED, Decimal("2.000001"), "sla", T0, "c1"),
    ]
    balance = trial_balance(txs)
    assert sum(balance.values()) == 0
    assert list(balance) == sorted(balance)
    assert balance["revenue:reserved"] == Decimal("-18.8")
    assert balance["credits:reserved"] == Decimal("2.000001")
    assert balance["receivable:acme"] == Decimal("18.8") + usage(
        "acme", Tier.SPOT, gpus=3, hours=0.37
    ).amount_usd - Decimal("2.000001")


amounts = st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False)


@given(st.lists(st.tuples(st.sampled_from(list(Tier)), amounts), max_size=30))
def test_any_set_of_postings_balances(items: list[tuple[Tier, Decimal]]) -> None:
    txs = [
        post_credit(f"t{i % 3}", tier, amount, "r", T0, f"c{i}")
        for i, (tier, amount) in enumerate(items)
    ]
    for tx in txs:
        assert sum(e.debit for e in tx.entries) == sum(e.credit for e in tx.entries)
    assert sum(trial_balance(txs).values(), Decimal(0)) == 0
