"""Pure parts of the Ray backend: bundles, strategy, pinning, names, node parsing, combining."""

from __future__ import annotations

import pytest

pytest.importorskip("ray")

from ray_specs import ray_spec

from gigawatt.backends.base import ExitStatus
from gigawatt.backends.ray.backend import combine
from gigawatt.backends.ray.discovery import fleet_nodes, node_spec
from gigawatt.backends.ray.placement import (
    actor_name,
    group_name,
    parse_group_name,
    plan_group,
)
from gigawatt.core.errors import InvalidInput
from gigawatt.core.fleet import NodeSpec

A, B = "a" * 56, "b" * 56


def test_single_node_plan_is_strict_pack_pinned_to_its_node() -> None:
    plan = plan_group(ray_spec(["true"], [A], gpus_per_node=4, job_id="j1", attempt=3))
    assert plan.name == "gw:j1:3"
    assert plan.strategy == "STRICT_PACK"
    assert plan.bundles == ({"GPU": 4.0, "gpu_type:H100": 4.0},)
    assert plan.selectors == ({"ray.io/node-id": A},)
    assert plan.world == 1


def test_gang_plan_is_strict_spread_one_bundle_per_node() -> None:
    plan = plan_group(ray_spec(["true"], [A, B], gpus_per_node=8, gpu_type="B200"))
    assert plan.strategy == "STRICT_SPREAD"
    assert plan.bundles == ({"GPU": 8.0, "gpu_type:B200": 8.0},) * 2
    assert plan.selectors == ({"ray.io/node-id": A}, {"ray.io/node-id": B})
    assert plan.gpus == (8, 8)


@pytest.mark.parametrize(
    ("nodes", "gpus", "kwargs", "field"),
    [
        ([], 1, {}, "placement"),
        ([A, A], 1, {}, "placement"),
        ([A], 0, {}, "placement"),
        ([A], 1, {"job_id": "../x"}, "job_id"),
        ([A], 1, {"gpu_type": "H:100"}, "gpu_type"),
        ([A], 1, {"attempt": -1}, "attempt"),
    ],
)
def test_bad_placements_are_refused(
    nodes: list[str], gpus: int, kwargs: dict[str, object], field: str
) -> None:
    spec = ray_spec(["true"], nodes, gpus_per_node=gpus, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as err:
        plan_group(spec)
    assert err.value.field == field


def test_names_round_trip() -> None:
    assert group_name("job-1", 2) == "gw:job-1:2"
    assert actor_name("job-1", 2, 5) == "gw:job-1:2:5"
    assert parse_group_name("gw:job-1:2") == ("job-1", 2)
    assert parse_group_name("gw:job-1:2:5") is None
    assert parse_group_name("other:job:1") is None


def _node(node_id: str, alive: bool = True, **resources: float) -> dict[str, object]:
    return {"NodeID": node_id, "Alive": alive, "Resources": resources}


def test_node_spec_reads_type_site_and_gpus() -> None:
    raw = _node(A, GPU=8.0, **{"gpu_type:H100": 8.0, "site:west": 8.0, "CPU": 2.0})
    assert node_spec(raw) == NodeSpec(A, "west", "H100", 8)
    real = _node(B, GPU=4.0, **{"accelerator_type:A100": 1.0})
    assert node_spec(real) == NodeSpec(B, "ray", "A100", 4)
    assert node_spec(_node(A, GPU=2.0)) == NodeSpec(A, "ray", "unknown", 2)


def test_dead_and_cpu_only_nodes_are_not_in_the_fleet() -> None:
    nodes = [
        _node(B, GPU=8.0, **{"gpu_type:H100": 8.0}),
        _node(A, alive=False, GPU=8.0, **{"gpu_type:H100": 8.0}),
        _node("c" * 56, CPU=16.0),
        _node("d" * 56, GPU=8.0, **{"gpu_type:H100": 8.0, "site:east": 1.0}),
    ]
    assert [n.node_id for n in fleet_nodes(nodes)] == ["d" * 56, B]  # by site, then id


def test_combine_prefers_the_rank_that_failed_on_its_own() -> None:
    ok = ExitStatus(0)
    term = ExitStatus(-15, signalled=True, reason="signal SIGTERM")
    own = ExitStatus(2, reason="exit code 2")
    assert combine([ok, ok]) == ok
    assert combine([term, own]) == ExitStatus(2, reason="rank 1: exit code 2")
    assert combine([term, ok]) == ExitStatus(-15, True, "rank 0: signal SIGTERM")
    assert combine([own]) == own
