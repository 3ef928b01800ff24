"""The fleet from the cluster: when the backend discovers its nodes (Ray), place on those.

:meth:`~gigawatt.backends.base.Backend.discover_nodes` returns None when the fleet file is
authoritative (local, fake backends), else the nodes alive now. Then:

- a discovered node whose id is a node of the fleet file (a Ray node declaring
  ``gigawatt_node:<id>``) belongs to that node's site; any other keeps the site the backend
  reports (a Ray node's ``site:<name>`` resource, default ``ray``). GPU count and type are
  always the backend's. A node whose GPU type the catalogue lacks is left out (logged once);
- a site of the fleet file keeps its IT power budget and PUE; a site the file does not name
  gets no cap: its budget is the power of all its GPUs (GPUs x catalogue kW), PUE 1.2,
  logged when it first appears;
- a node that disappears leaves the fleet (no new placements; its attempts end through the
  backend's poll, ``node_lost``) and comes back when it returns. Every node seen since the
  start stays *known*, so submit-time checks do not refuse a job while a node is away.

:class:`FleetRefresher` asks the backend every ``settings.fleet_refresh_s`` (and at once when
forced, e.g. after an attempt lost its node) and swaps the platform's fleet when it changed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence

from gigawatt.core.catalogue import Catalogue
from gigawatt.core.fleet import FleetSpec, NodeSpec
from gigawatt.services.platform import FleetState, Platform, SiteInfo

log = logging.getLogger(__name__)

#: PUE of a site the fleet file does not describe.
DEFAULT_PUE = 1.2


def site_infos(
    nodes: Iterable[NodeSpec], fleet: FleetSpec, catalogue: Catalogue
) -> dict[str, SiteInfo]:
    """The sites of ``nodes``: the fleet file's budget when it names the site, else the power
    of all the site's GPUs (no cap). File sites first, in file order, then the others by name."""
    power_kw: dict[str, float] = {}
    for node in nodes:
        kw = node.gpus * catalogue.get(node.gpu_type).it_kw_per_gpu
        power_kw[node.site] = power_kw.get(node.site, 0.0) + kw
    out: dict[str, SiteInfo] = {}
    for site in fleet.sites:
        if site.name in power_kw:
            out[site.name] = SiteInfo(site.name, site.it_power_mw, site.pue)
    for name in sorted(power_kw):
        if name not in out:
            budget_mw = power_kw[name] / 1000.0
            out[name] = SiteInfo(name, budget_mw, DEFAULT_PUE, from_fleet_file=False)
    return out


def discovered_state(
    found: Sequence[NodeSpec],
    fleet: FleetSpec,
    file_sites_by_node: Mapping[str, str],
    catalogue: Catalogue,
    previous: FleetState,
) -> tuple[FleetState, list[NodeSpec]]:
    """The fleet state for the backend's ``found`` nodes, and the nodes left out (unknown GPU
    type). ``file_sites_by_node``: fleet-file node id -> its site. Pure."""
    nodes: dict[str, NodeSpec] = {}
    skipped: list[NodeSpec] = []
    for node in found:
        if node.gpu_type not in catalogue or node.gpus <= 0:
            skipped.append(node)
            continue
        site = file_sites_by_node.get(node.node_id, node.site)
        gpu_type = catalogue.get(node.gpu_type).name
        nodes[node.node_id] = NodeSpec(node.node_id, site, gpu_type, node.gpus)
    known = {**previous.known_nodes, **nodes} if previous.discovered else dict(nodes)
    state = FleetState(
        nodes=nodes,
        sites=site_infos(nodes.values(), fleet, catalogue),
        known_nodes=known,
        known_sites=site_infos(known.values(), fleet, catalogue),
        discovered=True,
        version=previous.version,
    )
    return state, skipped


def _same(a: FleetState, b: FleetState) -> bool:
    return (a.discovered, a.nodes, a.sites, a.known_nodes) == (
        b.discovered,
        b.nodes,
        b.sites,
        b.known_nodes,
    )


class FleetRefresher:
    """Keeps ``platform.state`` in step with the backend's discovered nodes (see the module
    docstring). Used by one thread (the control loop's, or ``open_platform``)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._next_at = -math.inf
        self._warned: set[str] = set()
        self._file_sites: dict[str, str] | None = None

    def refresh(self, force: bool = False) -> bool:
        """Ask the backend for its nodes when due (or ``force``); True when the fleet changed.

        A backend that returns None (fleet file authoritative) or fails leaves the fleet as is.
        """
        p = self.platform
        now = p.clock.now()
        if not force and now < self._next_at:
            return False
        self._next_at = now + p.settings.fleet_refresh_s
        try:
            found = p.backend.discover_nodes()
        except Exception as exc:
            log.warning("discovering the %s backend's nodes failed: %s", p.backend.name, exc)
            return False
        if found is None:
            return False
        if self._file_sites is None:
            self._file_sites = {n.node_id: n.site for n in p.fleet.nodes()}
        previous = p.state
        state, skipped = discovered_state(found, p.fleet, self._file_sites, p.catalogue, previous)
        self._report(previous, state, skipped)
        if _same(previous, state):
            return False
        p.set_fleet(
            FleetState(
                state.nodes,
                state.sites,
                state.known_nodes,
                state.known_sites,
                discovered=True,
                version=previous.version + 1,
            )
        )
        return True

    def _report(self, previous: FleetState, state: FleetState, skipped: list[NodeSpec]) -> None:
        for node in skipped:
            if node.node_id not in self._warned:
                self._warned.add(node.node_id)
                log.warning(
                    "node %s: GPU type %r is not in the catalogue; left out of the fleet",
                    node.node_id,
                    node.gpu_type,
                )
        before = previous.nodes if previous.discovered else {}
        gone = sorted(set(before) - set(state.nodes))
        came = sorted(set(state.nodes) - set(before))
        if came or gone:
            log.info(
                "fleet from the %s backend: %d node(s), %d GPU(s); joined: %s; left: %s",
                self.platform.backend.name,
                len(state.nodes),
                state.total_gpus(),
                ", ".join(came) or "-",
                ", ".join(gone) or "-",
            )
        for site in state.sites.values():
            new = not previous.discovered or site.name not in previous.sites
            if new and not site.from_fleet_file:
                log.info(
                    "site %s is not in the fleet file: no power cap (budget = its GPUs x "
                    "catalogue kW per GPU, now %.1f kW)",
                    site.name,
                    site.it_power_mw * 1000.0,
                )
