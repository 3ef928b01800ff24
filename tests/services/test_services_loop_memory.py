"""The leader's long-lived objects are frozen out of the collector's full passes only on a
large fleet, re-frozen as new objects become long-lived, and thawed for a full pass now and
then (so reference cycles among them are still reclaimed)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from gigawatt.services.loop_memory import GcFreezer


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


class Cycle:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_a_small_fleet_leaves_the_collector_alone() -> None:
    freezer = GcFreezer(min_attempts=10_000)
    freezer.after_tick(9_999, rebuilt=True)
    assert gc.get_freeze_count() == 0 and not freezer.frozen


def _frozen(objects: list[Cycle]) -> list[bool]:
    """Whether each object is in the collector's permanent generation. (Not from
    ``gc.get_freeze_count()``: frozen objects elsewhere in the process may die meanwhile.)"""
    visible = {id(o) for o in gc.get_objects()}  # generations 0-2, not the permanent one
    return [id(o) not in visible for o in objects]


def test_freezes_after_a_rebuild_then_young_objects_then_thaws() -> None:
    freezer = GcFreezer(min_attempts=1, every_ticks=3, thaw_ticks=7)
    kept = [Cycle() for _ in range(1_000)]
    freezer.after_tick(1, rebuilt=True)
    assert freezer.frozen and all(_frozen(kept))
    more = [Cycle() for _ in range(1_000)]
    freezer.after_tick(1, rebuilt=False)
    freezer.after_tick(1, rebuilt=False)
    assert not any(_frozen(more))  # not yet: every third tick
    freezer.after_tick(1, rebuilt=False)
    assert all(_frozen(more)) and all(_frozen(kept))
    # cycles frozen then dropped are reclaimed by the thaw's full pass, not before
    refs = [weakref.ref(o) for o in kept]
    kept.clear()
    freezer.after_tick(1, rebuilt=False)
    assert all(r() is not None for r in refs)  # frozen: no pass sees them
    for _ in range(3):
        freezer.after_tick(1, rebuilt=False)
    assert all(r() is None for r in refs)
    assert len(more) == 1_000
