"""Inference: an OpenAI-compatible API on the fleet, metered by tokens (see docs/inference.md).

- :mod:`~gigawatt.inference.router` — ``build_router(deps)``: the FastAPI routes (models,
  chat and text completions, limits, deployments) the control plane's app includes;
- :mod:`~gigawatt.inference.gateway` — one request: authenticate, validate, admit, forward,
  meter; :mod:`~gigawatt.inference.relay` streams; :mod:`~gigawatt.inference.upstream` and
  :mod:`~gigawatt.inference.http1` talk to upstreams;
- :mod:`~gigawatt.inference.token_accounting`, :mod:`~gigawatt.inference.limits`,
  :mod:`~gigawatt.inference.repo` — usage records, budgets and rate limits on shared counters;
- :mod:`~gigawatt.inference.deployments`, :mod:`~gigawatt.inference.balancer` — model-server
  replicas as service jobs, and routing across them;
- :mod:`gigawatt.inference.worker` — the transformers model server (a separate process).

Importing this package does not import torch or transformers; only the worker does.
"""
