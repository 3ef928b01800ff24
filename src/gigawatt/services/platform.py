"""The dependencies every use case needs, built once per process and passed in explicitly."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
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
from gigawatt.services.control_stats import ControlStats
from gigawatt.services.settings import Settings
from gigawatt.store.db import make_engine, session_factory
from gigawatt.store.migrate import upgrade

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SiteInfo:
    """A site the scheduler places on: its IT power budget and PUE.

    ``from_fleet_file`` is False for a site only the backend knows (a Ray node's ``site:``
    resource): its budget is then the power of all its GPUs, i.e. no cap.
    """

    name: str
    it_power_mw: float
    pue: float
    from_fleet_file: bool = True


@dataclass(frozen=True, slots=True)
class FleetState:
    """The fleet now: a snapshot, replaced whole when the backend's nodes change.

    ``nodes``/``sites`` are what the scheduler places on; ``known_nodes``/``known_sites``
    every node seen since this process started (submit-time checks use them, so a job is not
    refused while a node that may return is away). ``discovered`` is True when the nodes come
    from the backend (:meth:`~gigawatt.backends.base.Backend.discover_nodes`), not the file.
    """

    nodes: Mapping[str, NodeSpec]
    sites: Mapping[str, SiteInfo]
    known_nodes: Mapping[str, NodeSpec]
    known_sites: Mapping[str, SiteInfo]
    discovered: bool = False
    version: int = 0

    @classmethod
    def of_file(cls, fleet: FleetSpec) -> FleetState:
        """The fleet file's nodes and sites."""
        nodes = {n.node_id: n for n in fleet.nodes()}
        sites = {s.name: SiteInfo(s.name, s.it_power_mw, s.pue) for s in fleet.sites}
        return cls(nodes, sites, nodes, sites)

    def total_gpus(self) -> int:
        """GPUs of the current nodes."""
        return sum(n.gpus for n in self.nodes.values())


def build_scheduler(
    nodes: Iterable[NodeSpec],
    sites: Mapping[str, SiteInfo],
    catalogue: Catalogue,
    policy: SchedulingPolicy,
) -> Scheduler:
    """A scheduler over ``nodes`` with ``sites``' power budgets and the catalogue's kW/GPU."""
    listed = list(nodes)
    kw = {t: catalogue.get(t).it_kw_per_gpu for t in {n.gpu_type for n in listed}}
    caps = {name: site.it_power_mw * 1000.0 for name, site in sites.items()}
    return Scheduler(listed, caps, kw, policy)


@dataclass
class Platform:
    """Database, fleet, catalogue, prices, backend, clock and settings of one process.

    ``fleet`` is the fleet file; :attr:`state` the fleet the scheduler places on now (the
    file's nodes, or the backend's discovered nodes, see ``services/discovery.py``).
    """

    engine: Engine
    sessions: sessionmaker[Session]
    fleet: FleetSpec
    catalogue: Catalogue
    price_book: PriceBook
    backend: Backend
    clock: Clock
    settings: Settings
    #: Set to make the control loop tick now (after a submit or a cancel).
    wake: threading.Event = field(default_factory=threading.Event)
    #: What this process's control loop measured (tick durations, queue), for /metrics.
    control_stats: ControlStats = field(default_factory=ControlStats)
    state: FleetState = field(init=False)
    _checkers: dict[SchedulingPolicy, Scheduler] = field(default_factory=dict)
    _checkers_version: int = 0

    def __post_init__(self) -> None:
        self.fleet.validate_against(self.catalogue)
        self.state = FleetState.of_file(self.fleet)

    @property
    def nodes(self) -> Mapping[str, NodeSpec]:
        """The nodes the scheduler places on now, by id."""
        return self.state.nodes

    @property
    def sites(self) -> Mapping[str, SiteInfo]:
        """The sites of the current fleet, by name."""
        return self.state.sites

    def set_fleet(self, state: FleetState) -> None:
        """Replace the fleet (one reference swap; readers see the old or the new one whole)."""
        self.state = state

    def kw_per_gpu(self, gpu_type: str) -> float:
        """All-in IT power of one GPU of ``gpu_type`` (catalogue)."""
        return self.catalogue.get(gpu_type).it_kw_per_gpu

    def base_policy(self) -> SchedulingPolicy:
        """The policy knobs from settings, without reservations."""
        return SchedulingPolicy(
            internal_floor_gpus=self.settings.internal_floor_gpus,
            external_cap_gpus=self.settings.external_cap_gpus,
        )

    def scheduler(self, policy: SchedulingPolicy, state: FleetState | None = None) -> Scheduler:
        """A fresh scheduler over the current fleet (or ``state``'s)."""
        fleet = state or self.state
        return build_scheduler(fleet.nodes.values(), fleet.sites, self.catalogue, policy)

    def checker(self, policy: SchedulingPolicy) -> Scheduler:
        """An empty scheduler over every node seen, used only for submit-time checks (cached
        per policy and fleet version)."""
        state = self.state
        if self._checkers_version != state.version:
            self._checkers = {}
            self._checkers_version = state.version
        found = self._checkers.get(policy)
        if found is None:
            if len(self._checkers) > 16:
                self._checkers.clear()
            found = build_scheduler(
                state.known_nodes.values(), state.known_sites, self.catalogue, policy
            )
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
    """Connect to the database (running migrations) and assemble a :class:`Platform`; when
    the backend discovers its nodes (Ray), the fleet is read from it now."""
    from gigawatt.services.discovery import FleetRefresher

    cat = catalogue or default_catalogue()
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    platform = Platform(
        engine=engine,
        sessions=session_factory(engine),
        fleet=fleet or default_fleet(),
        catalogue=cat,
        price_book=PriceBook.from_catalogue(cat),
        backend=backend,
        clock=clock or WallClock(),
        settings=settings,
    )
    FleetRefresher(platform).refresh(force=True)
    return platform
