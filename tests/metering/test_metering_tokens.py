"""Token metering for inference requests."""

from __future__ import annotations

import calendar
from decimal import Decimal

import pytest

from gigawatt.billing import ModelPrice
from gigawatt.core.errors import InvalidInput
from gigawatt.metering import meter_tokens

PRICE = ModelPrice("tiny-llama", Decimal("0.20"), Decimal("0.60"))
AT = float(calendar.timegm((2026, 11, 30, 23, 59, 59)))


def test_one_request_is_rated_and_keyed_by_its_id() -> None:
    usage = meter_tokens("req-1", "acme", "key-1", PRICE, 1500, 500, AT)
    assert usage.amount_usd == Decimal("0.000600")
    assert usage.idempotency_key == "tok:req-1"
    assert usage.period == "2026-11"
    assert usage.model == "tiny-llama" and usage.total_tokens == 2000
    assert meter_tokens("req-1", "acme", "key-1", PRICE, 1500, 500, AT) == usage


def test_disconnected_stream_bills_generated_tokens_only() -> None:
    usage = meter_tokens("req-2", "acme", None, PRICE, 10, 0, AT + 1)
    assert usage.amount_usd == Decimal("0.000002")
    assert usage.period == "2026-12"


@pytest.mark.parametrize(
    ("request_id", "prompt", "completion", "at"),
    [("", 1, 1, AT), ("r", -1, 1, AT), ("r", 1, -5, AT), ("r", 1, 1, float("inf"))],
)
def test_bad_values_are_invalid_input(
    request_id: str, prompt: int, completion: int, at: float
) -> None:
    with pytest.raises(InvalidInput):
        meter_tokens(request_id, "acme", "k", PRICE, prompt, completion, at)
