"""A real gateway (the control plane's app with the inference router) in a thread, over a real
database, in front of the fake upstream; plus helpers to read the usage records it writes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import openai
from inference_support import FakeUpstream, ServerThread
from sqlalchemy import select

from gigawatt.api import create_app
from gigawatt.backends.fake import FakeBackend
from gigawatt.billing.prices import ModelPrice, rate_tokens
from gigawatt.core.fleet import FleetSpec, NodeGroup, Site
from gigawatt.inference.settings import InferenceSettings
from gigawatt.services.platform import Platform, open_platform
from gigawatt.services.settings import Settings
from gigawatt.store.db import transaction
from gigawatt.store.inference_models import TokenUsageModel

ADMIN_KEY = "inference-admin-key"


@dataclass
class Tenant:
    """A tenant with one key."""

    id: str
    key: str
    key_id: str

    def openai(self, gateway: Gateway) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=self.key, max_retries=0)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class Gateway:
    """The running gateway and what stands behind it."""

    url: str
    platform: Platform
    upstream: FakeUpstream
    upstream_url: str
    admin: httpx.Client

    def tenant(self, name: str, kind: str = "external") -> Tenant:
        r = self.admin.post("/v1/tenants", json={"name": name, "kind": kind})
        assert r.status_code == 201, r.text
        tid = r.json()["id"]
        k = self.admin.post(f"/v1/tenants/{tid}/keys")
        assert k.status_code == 201, k.text
        return Tenant(tid, k.json()["key"], k.json()["id"])

    def register(self, model_id: str, **fields: Any) -> dict[str, Any]:
        body = {
            "id": model_id,
            "upstream_url": f"{self.upstream_url}/v1",
            "price_per_million_input_tokens": "1.50",
            "price_per_million_output_tokens": "4.00",
        }
        body.update(fields)
        r = self.admin.post("/v1/models", json=body)
        assert r.status_code == 201, r.text
        found: dict[str, Any] = r.json()
        return found

    def limits(self, scope: str, subject: str, **limits: Any) -> None:
        r = self.admin.put("/v1/limits", json={"scope": scope, "id": subject, **limits})
        assert r.status_code == 200, r.text

    def records(self, tenant_id: str | None = None) -> list[TokenUsageModel]:
        with transaction(self.platform.sessions) as s:
            query = select(TokenUsageModel).order_by(TokenUsageModel.id)
            if tenant_id is not None:
                query = query.where(TokenUsageModel.tenant_id == tenant_id)
            return list(s.scalars(query))


def amount(prompt: int, completion: int) -> Decimal:
    """What the default registration charges for these tokens (rounded like a record)."""
    return rate_tokens(prompt, completion, ModelPrice("m", Decimal("1.50"), Decimal("4.00")))


def max_cost(prompt_bytes: int, max_tokens: int) -> Decimal:
    """What admission reserves for a text prompt of ``prompt_bytes`` bytes (a 16-token
    allowance added) and ``max_tokens`` at the default registration's prices."""
    return rate_tokens(
        16 + prompt_bytes, max_tokens, ModelPrice("m", Decimal("1.50"), Decimal("4.00"))
    )


def fleet() -> FleetSpec:
    group = NodeGroup(name="h100", count=1, gpu_type="H100", gpus_per_node=8)
    return FleetSpec(sites=(Site(name="s1", it_power_mw=1.0, node_groups=(group,)),))


@contextmanager
def running_gateway(db_url: str, **inference: Any) -> Iterator[Gateway]:
    """The gateway on a free port with a fake upstream beside it."""
    settings = Settings(database_url=db_url, admin_key=ADMIN_KEY, run_control_loop=False)
    platform = open_platform(settings, FakeBackend(), fleet=fleet())
    knobs = {"background": False, "cache_ttl_s": 0.0, **inference}
    app = create_app(platform, run_control_loop=False, inference=InferenceSettings(**knobs))
    upstream = FakeUpstream()
    with ExitStack() as stack:
        up = stack.enter_context(ServerThread(upstream.app))
        gw = stack.enter_context(ServerThread(app))
        admin = stack.enter_context(
            httpx.Client(base_url=gw.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        )
        yield Gateway(gw.url, platform, upstream, up.url, admin)
    platform.engine.dispose()
