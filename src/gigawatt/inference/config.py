"""Settings of the inference gateway: one pydantic model, one default per field.

They are part of the control plane's :class:`~gigawatt.services.settings.Settings`
(``Settings.inference``) and come from the same sources: ``gigawatt serve --inference
KEY=VALUE`` (repeatable) over the environment (``GIGAWATT_INFERENCE_<KEY>``) over the
defaults here. :func:`inference_settings` reads both sources and validates them.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gigawatt.core.errors import InvalidInput

ENV_PREFIX = "GIGAWATT_INFERENCE_"


class InferenceSettings(BaseModel):
    """Tunables of the gateway. Defaults suit production."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: URL replicas use to register with the gateway (default: the URL the deployment was
    #: created through).
    public_url: str | None = None
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=600.0, gt=0)
    #: How stale this process's copy of models, replicas and limits may be.
    cache_ttl_s: float = Field(default=1.0, ge=0)
    health_interval_s: float = Field(default=2.0, gt=0)
    reconcile_interval_s: float = Field(default=3.0, gt=0)
    max_body_bytes: int = Field(default=4 << 20, ge=1024)
    #: Output tokens a request without ``max_tokens`` is reserved for against a budget (and
    #: capped at upstream, when a budget applies, so the reservation bounds its cost).
    default_max_tokens: int = Field(default=4096, ge=1, le=1_000_000)
    #: Replica jobs that end before registering, after which a deployment is marked failed.
    max_replica_failures: int = Field(default=3, ge=1)
    #: Python that runs the worker in replica jobs.
    worker_python: str = sys.executable
    #: Extra attempts for a request whose upstream failed before answering (on other
    #: upstreams or replicas of the model, then on its fallbacks), after a backoff doubling
    #: from ``retry_backoff_s`` up to ``retry_backoff_max_s``.
    retries: int = Field(default=2, ge=0, le=10)
    retry_backoff_s: float = Field(default=0.05, ge=0)
    retry_backoff_max_s: float = Field(default=1.0, ge=0)
    #: An upstream failing this many requests in a row cools down for ``cooldown_s`` (then
    #: one request probes it; each failed probe doubles the cooldown, up to ``max_cooldown_s``).
    cooldown_after_failures: int = Field(default=3, ge=1)
    cooldown_s: float = Field(default=10.0, ge=0)
    max_cooldown_s: float = Field(default=300.0, ge=0)
    #: Run the per-request database work (admission, usage record) in a worker thread, off
    #: the event loop (the default), so a database that makes writers wait (SQLite while the
    #: control loop writes) stalls only that request. Inline saves about 0.3 ms of CPU per
    #: request and stalls every stream of the process for as long.
    db_in_thread: bool = True
    #: Start the health-probe and deployment loops with the app (off in unit tests).
    background: bool = True


def inference_settings(
    environ: Mapping[str, str], options: Sequence[str] = ()
) -> InferenceSettings:
    """Settings from ``GIGAWATT_INFERENCE_<KEY>`` variables, overridden by ``KEY=VALUE``
    options (``-`` or ``_`` in keys); :class:`InvalidInput` naming the key otherwise."""
    fields = InferenceSettings.model_fields
    values: dict[str, str] = {}
    for name, value in environ.items():
        if name.startswith(ENV_PREFIX):
            key = name[len(ENV_PREFIX) :].lower()
            if key not in fields:
                raise InvalidInput(f"unknown inference setting in {name}", "inference")
            values[key] = value
    for option in options:
        key, sep, value = option.partition("=")
        key = key.strip().replace("-", "_").lower()
        if not sep or key not in fields:
            known = ", ".join(sorted(fields))
            raise InvalidInput(
                f"--inference takes KEY=VALUE with KEY one of: {known} (got {option!r})",
                "inference",
            )
        values[key] = value.strip()
    try:
        return InferenceSettings.model_validate(values)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        key = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidInput(f"inference setting {key}: {first.get('msg')}", "inference") from None
