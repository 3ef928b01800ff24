"""Real NVIDIA GPUs through NVML (``pynvml`` from the ``nvidia-ml-py`` package).

Every function degrades quietly: with no driver, no GPU or no ``pynvml`` the inventory is empty
and energy readings are None, and the fleet is then purely logical. NVML is initialised and
shut down around each call (it is reference counted), so nothing global stays open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class GpuInfo:
    """One physical GPU as NVML numbers it (PCI bus order)."""

    index: int
    name: str
    uuid: str


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@contextmanager
def _session() -> Iterator[Any]:
    """Yield the initialised ``pynvml`` module; raise (any exception) when unavailable."""
    import pynvml

    pynvml.nvmlInit()
    try:
        yield pynvml
    finally:
        with suppress(Exception):
            pynvml.nvmlShutdown()


def _query(fn: Callable[[Any], T], default: T) -> T:
    try:
        with _session() as nv:
            return fn(nv)
    except Exception:  # NVML raises its own NVMLError family, import can fail in many ways
        return default


def gpu_inventory() -> list[GpuInfo]:
    """The machine's NVIDIA GPUs, or ``[]`` when there are none or NVML is unavailable."""

    def read(nv: Any) -> list[GpuInfo]:
        out = []
        for i in range(int(nv.nvmlDeviceGetCount())):
            h = nv.nvmlDeviceGetHandleByIndex(i)
            out.append(GpuInfo(i, _text(nv.nvmlDeviceGetName(h)), _text(nv.nvmlDeviceGetUUID(h))))
        return out

    return _query(read, [])


def energy_counters_mj(indices: Sequence[int]) -> dict[int, int] | None:
    """Total energy (millijoules since driver load) of each GPU in ``indices``, or None when
    any cannot be read (no NVML, or a GPU older than Volta)."""

    def read(nv: Any) -> dict[int, int]:
        return {
            i: int(nv.nvmlDeviceGetTotalEnergyConsumption(nv.nvmlDeviceGetHandleByIndex(i)))
            for i in indices
        }

    return _query(read, None) if indices else None


def mj_to_kwh(millijoules: float) -> float:
    """Millijoules to kilowatt-hours (1 kWh = 3.6e9 mJ)."""
    return millijoules / 3.6e9
