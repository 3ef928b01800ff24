"""Helpers for API tests: an ``Api`` handle on the real app over a real database, FakeBackend
and a manual clock. The control loop does not run in a thread; tests call ``api.tick()`` so
that every step is deterministic (the e2e tests run the real thing)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from gigawatt.backends.fake import FakeBackend
from gigawatt.core.clock import ManualClock
from gigawatt.core.fleet import FleetSpec, NodeGroup, Site
from gigawatt.services.control import ControlLoop
from gigawatt.services.platform import Platform

T0 = 1_794_268_800.0  # 2026-11-10 00:00 UTC
ADMIN_KEY = "test-admin-key"


@dataclass
class Api:
    """A client plus the knobs behind it."""

    client: TestClient
    platform: Platform
    clock: ManualClock
    backend: FakeBackend
    loop: ControlLoop
    admin: dict[str, str] = field(default_factory=lambda: {"Authorization": f"Bearer {ADMIN_KEY}"})

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            self.loop.tick()

    def tenant(self, name: str, kind: str = "external") -> tuple[str, dict[str, str]]:
        """Create a tenant and a key; returns ``(tenant_id, auth headers)``."""
        r = self.client.post("/v1/tenants", json={"name": name, "kind": kind}, headers=self.admin)
        assert r.status_code == 201, r.text
        tid = r.json()["id"]
        k = self.client.post(f"/v1/tenants/{tid}/keys", headers=self.admin)
        assert k.status_code == 201, k.text
        return tid, {"Authorization": f"Bearer {k.json()['key']}"}

    def submit(self, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": "train",
            "command": ["python", "-c", "pass"],
            "gpus": 1,
            "gpu_type": "H100",
            "tier": "spot",
        }
        body.update(fields)
        r = self.client.post("/v1/jobs", json=body, headers=headers)
        assert r.status_code == 201, r.text
        job: dict[str, Any] = r.json()
        return job


def api_fleet() -> FleetSpec:
    group = NodeGroup(name="h100", count=2, gpu_type="H100", gpus_per_node=8)
    return FleetSpec(sites=(Site(name="s1", it_power_mw=1.0, node_groups=(group,)),))
