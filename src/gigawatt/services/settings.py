"""Settings of a control-plane process (read from the command line / environment by the CLI)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from gigawatt.inference.config import InferenceSettings


class Settings(BaseModel):
    """Everything tunable about a running control plane. Defaults suit production."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str
    #: Seconds between SIGTERM and SIGKILL when a job is preempted, cancelled or times out.
    grace_s: float = Field(default=10.0, ge=0, le=3600)
    #: Seconds between control-loop ticks (a submit or cancel also wakes the loop at once).
    tick_s: float = Field(default=0.25, gt=0, le=60)
    #: Seconds between two reads of the backend's nodes (Ray: the fleet from the cluster).
    fleet_refresh_s: float = Field(default=5.0, gt=0, le=3600)
    #: How long the control lease lasts without renewal before another process may take over.
    lease_ttl_s: float = Field(default=5.0, gt=0, le=600)
    #: Requests with a larger body are refused with 413.
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    #: Admin key from GIGAWATT_ADMIN_KEY; None: generate one on first start.
    admin_key: str | None = None
    internal_floor_gpus: int = Field(default=0, ge=0)
    external_cap_gpus: int | None = Field(default=None, ge=0)
    #: Where the local backend keeps logs and exit files.
    state_dir: Path | None = None
    #: Run the control loop in this process (API-only replicas may turn it off).
    run_control_loop: bool = True
    #: The inference gateway's settings (``gigawatt serve --inference KEY=VALUE``,
    #: ``GIGAWATT_INFERENCE_<KEY>``; see :mod:`gigawatt.inference.config`).
    inference: InferenceSettings = Field(default_factory=InferenceSettings)
    #: Tests only: SIGKILL this process at this point of the control loop (see
    #: ``services/control.py``, ``CRASH_POINTS``); None in production.
    crash_point: str | None = None
