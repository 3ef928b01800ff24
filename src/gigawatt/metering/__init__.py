"""Metering: usage records from allocated GPU time and inference tokens (pure, no I/O).

Public API: :class:`UsageRecord`, :class:`TokenUsage`, :class:`Checkpoint`,
:func:`meter_interval`, :func:`meter_segment`, :func:`meter_tokens`, :func:`usage_key`,
:func:`token_key`.
"""

from gigawatt.metering.keys import token_key, usage_key
from gigawatt.metering.meter import Checkpoint, meter_interval, meter_segment
from gigawatt.metering.records import TokenUsage, UsageRecord
from gigawatt.metering.tokens import meter_tokens

__all__ = [
    "Checkpoint",
    "TokenUsage",
    "UsageRecord",
    "meter_interval",
    "meter_segment",
    "meter_tokens",
    "token_key",
    "usage_key",
]
