"""Gigawatt's model worker: a separate process serving a local Hugging Face model through an
OpenAI-compatible HTTP API, batching concurrent requests (``python -m gigawatt.inference.worker``).

Imports torch and transformers; the gateway never imports this package.
"""
