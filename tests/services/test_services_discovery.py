"""The fleet from the backend's nodes (Ray's discovery, played by FakeBackend), node loss,
and the backend sweep after reconcile — on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

import pytest
from prometheus_client import generate_latest
from services_support import assert_billing_invariant, status, submit, tenant

from gigawatt.backends.base import ExitStatus, Handle, LaunchSpec
from gigawatt.backends.fake import FakeBackend
from gigawatt.core.clock import ManualClock
from gigawatt.core.errors import Unschedulable
from gigawatt.core.fleet import NodeSpec
from gigawatt.core.tiers import Tier
from gigawatt.services import invoicing, jobs, tenants
from gigawatt.services.auth import ADMIN
from gigawatt.services.control import ControlLoop
from gigawatt.services.fleet_view import fleet_view
from gigawatt.services.metrics import registry_for
from gigawatt.services.platform import Platform
from gigawatt.store.db import transaction
from gigawatt.store.repositories import usage as usage_repo

NODE_LOST = ExitStatus(-1, reason="node_lost")
REFRESH_S = 5.0


def h100(node_id: str, site: str = "ray", gpus: int = 8) -> NodeSpec:
    return NodeSpec(node_id=node_id, site=site, gpu_type="H100", gpus=gpus)


class ClusterFake(FakeBackend):
    """A FakeBackend whose nodes can die and return, like a Ray cluster's: a dead node is not
    discovered, its attempts end with ``node_lost`` and nothing starts on it."""

    def __init__(self, clock: ManualClock, nodes: Sequence[NodeSpec]) -> None:
        super().__init__(clock, nodes=nodes)
        self.alive = {n.node_id for n in nodes}
        self.swept: list[set[tuple[str, int]]] = []

    def discover_nodes(self) -> list[NodeSpec] | None:
        return [n for n in super().discover_nodes() or [] if n.node_id in self.alive]

    def start(self, spec: LaunchSpec) -> Handle:
        dead = [node for node, _ in spec.placement if node not in self.alive]
        if dead:
            raise RuntimeError(f"node(s) not alive: {dead}")
        return super().start(spec)

    def poll(self, handle: Handle) -> ExitStatus | None:
        status = super().poll(handle)
        if status is None:
            placement = self.spec(handle.job_id, handle.attempt).placement
            if any(node not in self.alive for node, _ in placement):
                self.kill(handle)
                return NODE_LOST
        return status

    def sweep(self, keep: set[tuple[str, int]]) -> list[str]:
        self.swept.append(set(keep))
        return []


@pytest.fixture
def cluster(clock: ManualClock) -> ClusterFake:
    return ClusterFake(clock, [h100("ray-a"), h100("ray-b")])


@pytest.fixture
def on_cluster(make_platform: Callable[..., Platform], cluster: ClusterFake) -> Platform:
    return make_platform(backend_=cluster, fleet_refresh_s=REFRESH_S)


def node_of(platform: Platform, job_id: str, attempt: int = -1) -> str:
    view = jobs.get_job(platform, ADMIN, job_id)
    return view.attempts[attempt].placement[0].node_id


def test_scheduler_places_on_the_discovered_nodes(
    make_platform: Callable[..., Platform], clock: ManualClock
) -> None:
    # node s1/h100-0000 of the fleet file (site s1, 1 MW) is alive; "ray-x" is not in the
    # file (its site "far" gets no cap); "odd" has a GPU type the catalogue lacks
    found = [
        h100("s1/h100-0000", site="ray"),
        h100("ray-x", site="far", gpus=4),
        NodeSpec("odd", "far", "NOPE9000", 8),
    ]
    platform = make_platform(backend_=FakeBackend(clock, nodes=found))
    assert platform.state.discovered
    assert sorted(platform.nodes) == ["ray-x", "s1/h100-0000"]
    assert platform.nodes["s1/h100-0000"].site == "s1"  # declared fleet-file node: its site
    s1, far = platform.sites["s1"], platform.sites["far"]
    assert s1.from_fleet_file and s1.it_power_mw == 1.0
    assert not far.from_fleet_file
    assert far.it_power_mw * 1000 == pytest.approx(4 * platform.kw_per_gpu("H100"))

    ext = tenant(platform, "ext")
    big = submit(platform, ext, gpus=8, tier=Tier.ON_DEMAND)
    small = submit(platform, ext, gpus=4, tier=Tier.ON_DEMAND)
    with pytest.raises(Unschedulable):  # two 8-GPU nodes are not in one site
        submit(platform, ext, gpus=16)
    ControlLoop(platform, "loop").tick()
    assert node_of(platform, big.id) == "s1/h100-0000"
    assert node_of(platform, small.id) == "ray-x"

    view = fleet_view(platform)
    assert [(s.name, s.gpus_total, s.gpus_allocated) for s in view.sites] == [
        ("s1", 8, 8),
        ("far", 4, 4),
    ]
    assert [n.node_id for n in view.sites[1].nodes] == ["ray-x"]
    text = generate_latest(registry_for(platform)).decode()
    assert 'gigawatt_gpus_total{gpu_type="H100"} 12.0' in text
    assert 'gigawatt_site_power_cap_kw{site="far"}' in text


def test_file_fleet_when_the_backend_discovers_nothing(platform: Platform) -> None:
    assert not platform.state.discovered
    assert len(platform.nodes) == 2 and set(platform.sites) == {"s1"}


def test_fleet_refreshes_periodically_and_nodes_come_back(
    on_cluster: Platform, cluster: ClusterFake, clock: ManualClock
) -> None:
    loop = ControlLoop(on_cluster, "loop")
    loop.tick()
    assert sorted(on_cluster.nodes) == ["ray-a", "ray-b"]
    version = on_cluster.state.version
    cluster.alive.discard("ray-b")
    loop.tick()  # not yet due
    assert "ray-b" in on_cluster.nodes
    clock.advance(REFRESH_S)
    loop.tick()
    assert sorted(on_cluster.nodes) == ["ray-a"]
    assert on_cluster.state.version == version + 1
    (site,) = fleet_view(on_cluster).sites
    assert [n.node_id for n in site.nodes] == ["ray-a"] and site.gpus_total == 8

    # a 16-GPU gang needs both nodes: accepted (ray-b was seen and may return), waits queued
    ext = tenant(on_cluster, "ext")
    gang = submit(on_cluster, ext, gpus=16, tier=Tier.ON_DEMAND)
    loop.tick()
    assert status(on_cluster, gang.id) == "queued"
    with pytest.raises(Unschedulable):  # more than every node ever seen
        submit(on_cluster, ext, gpus=24)

    cluster.alive.add("ray-b")
    clock.advance(REFRESH_S)
    loop.tick()
    assert sorted(on_cluster.nodes) == ["ray-a", "ray-b"]
    assert status(on_cluster, gang.id) == "running"
    loop.tick()
    assert on_cluster.state.version == version + 2  # unchanged fleet: no new version


def test_spot_requeued_others_fail_when_their_node_is_lost(
    on_cluster: Platform, cluster: ClusterFake, clock: ManualClock
) -> None:
    loop = ControlLoop(on_cluster, "loop")
    ext = tenant(on_cluster, "ext")
    tenants.create_reservation(on_cluster, ext.tenant_id or "", "H100", 4)
    # four jobs on one node: best fit packs them onto the first node tried
    spot = submit(on_cluster, ext, gpus=2)
    od = submit(on_cluster, ext, gpus=2, tier=Tier.ON_DEMAND)
    res = submit(on_cluster, ext, gpus=4, tier=Tier.RESERVED)
    loop.tick()
    doomed = node_of(on_cluster, res.id)
    assert {node_of(on_cluster, j.id) for j in (spot, od)} == {doomed}
    survivor = ({"ray-a", "ray-b"} - {doomed}).pop()
    clock.advance(100)

    cluster.alive.discard(doomed)
    report = loop.tick()  # poll sees node_lost; the fleet is re-read at once
    assert sorted(report.nodes_lost) == sorted([spot.id, od.id, res.id])
    assert list(on_cluster.nodes) == [survivor]
    # the spot job went back to the queue and started again, on the surviving node
    assert spot.id in report.started and node_of(on_cluster, spot.id) == survivor
    view = jobs.get_job(on_cluster, ext, spot.id)
    first = view.attempts[0]
    assert first.status == "failed" and first.reason.startswith("node_lost")
    assert "requeued" in first.reason and first.ended_at == clock.now()
    for job in (od, res):
        failed = jobs.get_job(on_cluster, ext, job.id)
        assert failed.status == "failed" and failed.reason.startswith("node_lost")
    # billed for what ran, up to the loss
    usage = invoicing.list_usage(on_cluster, ext)
    by_job = {u.job_id: u.gpu_seconds for u in usage}
    assert by_job == {spot.id: 2 * 100, od.id: 2 * 100, res.id: 4 * 100}
    # the reserved attempt earned the reserved-preemption credit, the others none
    with transaction(on_cluster.sessions) as s:
        balances = usage_repo.balances(s)
    billed = Decimal("2.35") * 4 * 100 / 3600
    penalty = Decimal("2.35") * 4 / 10
    assert abs(balances["credits:reserved"] - (billed + penalty)) <= Decimal("0.000001")
    assert "credits:spot" not in balances and "credits:on_demand" not in balances

    clock.advance(30)
    cluster.finish(spot.id, 2)
    loop.tick()
    assert status(on_cluster, spot.id) == "succeeded"
    assert sorted(u.gpu_seconds for u in invoicing.list_usage(on_cluster, ext, job_id=spot.id)) == [
        2 * 30,
        2 * 100,
    ]
    assert assert_billing_invariant(on_cluster) == 4


def test_attempts_on_a_vanished_node_do_not_break_scheduling(
    on_cluster: Platform, cluster: ClusterFake, clock: ManualClock
) -> None:
    loop = ControlLoop(on_cluster, "loop")
    ext = tenant(on_cluster, "ext")
    first = submit(on_cluster, ext, gpus=8, tier=Tier.ON_DEMAND)
    loop.tick()
    doomed = node_of(on_cluster, first.id)
    survivor = ({"ray-a", "ray-b"} - {doomed}).pop()
    # the fleet drops the node before the backend reports the attempt ended
    cluster.alive.discard(doomed)
    clock.advance(REFRESH_S)
    loop.fleet.refresh()
    cluster.alive.add(doomed)  # ... and the attempt is still running there
    second = submit(on_cluster, ext, gpus=8, tier=Tier.ON_DEMAND)
    third = submit(on_cluster, ext, gpus=4, tier=Tier.ON_DEMAND)
    loop.tick()  # allocations on a node outside the fleet are skipped, not fatal
    assert status(on_cluster, first.id) == "running"
    assert node_of(on_cluster, second.id) == survivor
    assert status(on_cluster, third.id) == "queued"  # nothing placed on the vanished node


def test_a_gang_keeps_its_gpus_on_the_nodes_still_there(
    on_cluster: Platform, cluster: ClusterFake, clock: ManualClock
) -> None:
    loop = ControlLoop(on_cluster, "loop")
    ext = tenant(on_cluster, "ext")
    gang = submit(on_cluster, ext, gpus=16, tier=Tier.ON_DEMAND)
    loop.tick()
    assert status(on_cluster, gang.id) == "running"
    cluster.alive.discard("ray-b")
    clock.advance(REFRESH_S)
    loop.fleet.refresh()  # ray-b leaves the fleet while the gang's attempt still runs
    cluster.alive.add("ray-b")
    other = submit(on_cluster, ext, gpus=8, tier=Tier.ON_DEMAND)
    loop.tick()  # ray-a's GPUs are still the gang's: nothing may start there
    assert status(on_cluster, other.id) == "queued"
    assert status(on_cluster, gang.id) == "running"
    cluster.finish(gang.id, 1)
    loop.tick()
    loop.tick()
    assert status(on_cluster, other.id) == "running" and node_of(on_cluster, other.id) == "ray-a"


def test_a_start_on_a_node_that_just_left_requeues_the_job(
    on_cluster: Platform, cluster: ClusterFake, clock: ManualClock
) -> None:
    loop = ControlLoop(on_cluster, "loop")
    loop.tick()
    ext = tenant(on_cluster, "ext")
    blocker = submit(on_cluster, ext, gpus=8, tier=Tier.ON_DEMAND)
    loop.tick()
    free = ({"ray-a", "ray-b"} - {node_of(on_cluster, blocker.id)}).pop()
    cluster.alive.discard(free)  # dies before the next refresh is due
    job = submit(on_cluster, ext, gpus=8, tier=Tier.ON_DEMAND)
    loop.tick()
    view = jobs.get_job(on_cluster, ext, job.id)
    assert view.status == "queued" and "left the fleet" in view.attempts[0].reason
    assert free not in on_cluster.nodes  # re-read at once
    cluster.alive.add(free)
    clock.advance(REFRESH_S)
    loop.tick()
    assert status(on_cluster, job.id) == "running" and node_of(on_cluster, job.id) == free


def test_reconcile_sweeps_the_backend_keeping_the_active_attempts(
    on_cluster: Platform, cluster: ClusterFake, clock: ManualClock
) -> None:
    ext = tenant(on_cluster, "ext")
    job = submit(on_cluster, ext, gpus=2)
    old = ControlLoop(on_cluster, "old")
    old.tick()
    assert cluster.swept == [set()]  # the first leader's takeover: nothing active yet
    clock.advance(on_cluster.settings.lease_ttl_s + 1)  # old dies without resigning
    assert ControlLoop(on_cluster, "new").tick().leader
    assert cluster.swept[-1] == {(job.id, 1)}
    assert status(on_cluster, job.id) == "running"
