"""Fixtures of the inference tests: a tiny local model (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama and its tokenizer, saved to a directory (needs torch)."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from inference_support import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny")
