"""Trace loaders; the format of a file is detected from its header line."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from gigawatt.sim.traces.alibaba import alibaba_fleet, alibaba_nodes, load_alibaba_pods
from gigawatt.sim.traces.azure import (
    InferenceModel,
    Requests,
    inference_workload,
    load_azure_requests,
)
from gigawatt.sim.traces.common import TraceError, read_header
from gigawatt.sim.traces.philly import load_philly

__all__ = [
    "InferenceModel",
    "Requests",
    "TraceError",
    "TraceFormat",
    "alibaba_fleet",
    "alibaba_nodes",
    "detect_format",
    "inference_workload",
    "load_alibaba_pods",
    "load_azure_requests",
    "load_philly",
]


class TraceFormat(StrEnum):
    """Trace formats the twin reads."""

    PHILLY = "philly"
    ALIBABA_PODS = "alibaba_pods"
    ALIBABA_NODES = "alibaba_nodes"
    AZURE_LLM = "azure_llm"


_SIGNATURES: tuple[tuple[TraceFormat, frozenset[str]], ...] = (
    (TraceFormat.PHILLY, frozenset({"timestamp", "duration", "num_gpus"})),
    (TraceFormat.ALIBABA_PODS, frozenset({"num_gpu", "gpu_milli", "qos", "creation_time"})),
    (TraceFormat.ALIBABA_NODES, frozenset({"sn", "gpu", "model"})),
    (TraceFormat.AZURE_LLM, frozenset({"TIMESTAMP", "ContextTokens", "GeneratedTokens"})),
)


def detect_format(path: Path | str) -> TraceFormat:
    """The format whose columns the header has (best match, at least half of a format's
    signature, so that a file missing a column gets the loader's message naming it);
    :class:`TraceError` naming the formats otherwise."""
    header = set(read_header(path))
    score, fmt = max((len(columns & header) / len(columns), f) for f, columns in _SIGNATURES)
    if score >= 0.5:
        return fmt
    raise TraceError(
        path,
        "unrecognised trace header; expected Philly (timestamp,duration,num_gpus,...), "
        "Alibaba v2023 pods or nodes, or Azure LLM (TIMESTAMP,ContextTokens,GeneratedTokens)",
        1,
    )
