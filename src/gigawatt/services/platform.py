"""The dependencies every use case needs, built once per process and passed in explicitly."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from gigawatt.backends.base import Backend
from gigawatt.billing.prices import PriceBook
from gigawatt.core.catalogue import Catalogue, default_catalogue
from gigawatt.core.clock import Clock, WallClock
from gigawatt.core.fleet import FleetSpec, NodeSpec, default_fleet
from gigawatt.scheduling.model import SchedulingPolicy
from gigawatt.scheduling.scheduler import Scheduler
from gigawatt.services.settings import Settings
from gigawatt.store.db import make_engine, session_factory
from gigawatt.store.migrate import upgrade


@dataclass
class Platform:
    """Database, fleet, catalogue, prices, backend, clock and settings of one process."""

    engine: Engine
    sessions: sessionmaker[Session]
    fleet: FleetSpec
    catalogue: Catalogue
    price_book: PriceBook
    backend: Backend
    clock: Clock
    settings: Settings
    nodes: dict[str, NodeSpec] = field(default_factory=dict)
    #: Set to make the control loop tick now (after a submit or a cancel).
    wake: threading.Event = field(default_factory=threading.Event)
    _checkers: dict[SchedulingPolicy, Scheduler] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.fleet.validate_against(self.catalogue)
        if not self.nodes:
            self.nodes = {n.node_id: n for n in self.fleet.nodes()}

    def kw_per_gpu(self, gpu_type: str) -> float:
        """All-in IT power of one GPU of ``gpu_type`` (catalogue)."""
        return self.catalogue.get(gpu_type).it_kw_per_gpu

    def base_policy(self) -> SchedulingPolicy:
        """The policy knobs from settings, without reservations."""
        return SchedulingPolicy(
            internal_floor_gpus=self.settings.internal_floor_gpus,
            external_cap_gpus=self.settings.external_cap_gpus,
        )

    def checker(self, policy: SchedulingPolicy) -> Scheduler:
        """An empty scheduler used only for submit-time checks (cached per policy)."""
        found = self._checkers.get(policy)
        if found is None:
            if len(self._checkers) > 16:
                self._checkers.clear()
            found = Scheduler.for_fleet(self.fleet, self.catalogue, policy)
            self._checkers[policy] = found
        return found


def open_platform(
    settings: Settings,
    backend: Backend,
    *,
    fleet: FleetSpec | None = None,
    catalogue: Catalogue | None = None,
    clock: Clock | None = None,
    migrate: bool = True,
) -> Platform:
    """Connect to the database (running migrations) and assemble a :class:`Platform`."""
    cat = catalogue or default_catalogue()
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    return Platform(
        engine=engine,
        sessions=session_factory(engine),
        fleet=fleet or default_fleet(),
        catalogue=cat,
        price_book=PriceBook.from_catalogue(cat),
        backend=backend,
        clock=clock or WallClock(),
        settings=settings,
    )
