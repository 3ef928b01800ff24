"""Job execution backends: the interface, an in-memory fake and local processes.

``FakeBackend`` ships in the package so unit tests, API tests and users can run the control
plane without starting anything; ``LocalBackend`` runs real processes on this machine.
"""

from gigawatt.backends.base import Backend, ExitStatus, Handle, LaunchSpec
from gigawatt.backends.fake import FakeBackend
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
