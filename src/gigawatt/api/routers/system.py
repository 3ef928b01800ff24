"""``/healthz``, ``/metrics``, ``/v1/fleet``, ``/v1/prices``, ``/v1/me``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import text

from gigawatt.api.deps import CallerDep, PlatformDep
from gigawatt.api.schemas import PriceOut
from gigawatt.services.fleet_view import fleet_view

router = APIRouter()


@router.get("/healthz", tags=["system"])
def healthz(platform: PlatformDep) -> dict[str, Any]:
    """Liveness, database reachability, and how jobs are isolated (``isolation``: ``bwrap``,
    ``none`` or ``unavailable``, the last two with a ``warnings`` entry)."""
    with platform.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    out: dict[str, Any] = {"status": "ok", "database": "ok", "backend": platform.backend.name}
    isolation = platform.backend.isolation()
    if isolation is not None:
        out["isolation"] = isolation
    if isolation == "none":
        out["warnings"] = ["isolation none: jobs run unsandboxed, as the server's OS user"]
    elif isolation == "unavailable":
        out["warnings"] = [platform.backend.refusal(True) or "no sandbox"]
    return out


@router.get("/metrics", tags=["system"], response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text exposition of the control plane's gauges and counters."""
    registry: CollectorRegistry = request.app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/fleet", tags=["fleet"])
def get_fleet(platform: PlatformDep, _caller: CallerDep, nodes: bool = True) -> dict[str, Any]:
    """Sites with power budget and use, GPUs by type, nodes and what is allocated now."""
    return asdict(fleet_view(platform, with_nodes=nodes))


@router.get("/v1/prices", tags=["fleet"], response_model=list[PriceOut])
def get_prices(platform: PlatformDep, _caller: CallerDep) -> list[PriceOut]:
    """The price book: US dollars per GPU-hour by GPU type and tier."""
    return [
        PriceOut(
            gpu_type=e["gpu_type"], tier=e["tier"].value, price_per_gpu_hour=e["price_per_gpu_hour"]
        )
        for e in platform.price_book.entries()
    ]


@router.get("/v1/me", tags=["tenants"])
def whoami(caller: CallerDep) -> dict[str, Any]:
    """Who the key belongs to."""
    return {
        "admin": caller.is_admin,
        "tenant_id": caller.tenant_id,
        "tenant_kind": caller.tenant_kind,
        "key_id": caller.key_id,
    }
