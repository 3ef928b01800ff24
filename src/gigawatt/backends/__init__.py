"""Job execution backends: the interface, an in-memory fake and local processes.

``FakeBackend`` ships in the package so unit tests, API tests and users can run the control
plane without starting anything; ``LocalBackend`` runs real processes on this machine.

The local backend is imported on first use, so that ``python -m gigawatt.backends.runner``
does not import the runner twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gigawatt.backends.base import Backend, ExitStatus, Handle, LaunchSpec
from gigawatt.backends.fake import FakeBackend

if TYPE_CHECKING:
    from gigawatt.backends.local import LocalBackend
    from gigawatt.backends.nvml import GpuInfo, gpu_inventory

__all__ = [
    "Backend",
    "ExitStatus",
    "FakeBackend",
    "GpuInfo",
    "Handle",
    "LaunchSpec",
    "LocalBackend",
    "gpu_inventory",
]


def __getattr__(name: str) -> object:
    if name == "LocalBackend":
        from gigawatt.backends.local import LocalBackend

        return LocalBackend
    if name in ("GpuInfo", "gpu_inventory"):
        from gigawatt.backends import nvml

        return getattr(nvml, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
