"""``GET /v1/worth`` (admin): the fleet's measured worth through the economics engine."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from gigawatt.api.deps import AdminDep, PlatformDep
from gigawatt.console.worth import MAX_WINDOW_H, measure, value_measurement

router = APIRouter(tags=["worth"])


@router.get("/v1/worth")
def get_worth(
    platform: PlatformDep,
    _admin: AdminDep,
    window_h: Annotated[float, Query(gt=0, le=MAX_WINDOW_H)] = 24.0,
) -> dict[str, Any]:
    """Utilisation, tier mix and prices metered over the last ``window_h`` hours, valued by
    the economics engine for this fleet and for the same policy on one gigawatt: annual
    revenue, operating income and margin (read-only)."""
    m = measure(platform, window_h, platform.clock.now())
    return value_measurement(m, platform.catalogue)
