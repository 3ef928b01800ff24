"""Which build of the hot path runs: modules compiled with mypyc, or the pure-Python sources.

The scheduler and the twin's event loop (:data:`MODULES`) are plain, ``mypy --strict`` Python.
At install, ``setup.py`` compiles them with mypyc when it can (a C compiler and mypy at build
time), putting an extension module next to each source; Python then imports the extension.
The sources stay the reference: the same code runs compiled or not, and a test checks that
both make the same decisions.

Two cases must not run a compiled module: a checkout where a source was edited after the
build (the extension would be stale and shadow the edit), and ``GIGAWATT_PURE=1`` (asked for:
debugging, or comparing the two). :func:`install_guard` then makes every module of
:data:`MODULES` load from its source, all of them together: compiled modules call each other
directly, so a mix would still run the stale code.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

#: The compiled modules (setup.py compiles exactly these).
MODULES: tuple[str, ...] = (
    "gigawatt.core.clock",  # the twin's engine sets the virtual clock at every instant
    "gigawatt.scheduling.admission",
    "gigawatt.scheduling.allocations",
    "gigawatt.scheduling.backfill",
    "gigawatt.scheduling.capacity",
    "gigawatt.scheduling.model",
    "gigawatt.scheduling.preemption",
    "gigawatt.scheduling.scheduler",
    "gigawatt.scheduling.state",
    "gigawatt.scheduling.views",
    "gigawatt.sim.engine",
    "gigawatt.sim.grid",
    "gigawatt.sim.sketch",
    "gigawatt.sim.stream",
    "gigawatt.sim.twin",  # the exact twin (runs under 250,000 jobs): its handlers run per event
)

#: The shared library the compiled modules live in (setup.py's mypyc group).
RUNTIME = "gigawatt_native__mypyc"
_ROOT = Path(__file__).resolve().parent.parent  # the directory holding the gigawatt package
#: A compiled module is stale when its source is newer than this (seconds): install tools may
#: write the source a moment after the extension.
_SLACK_S = 2.0


def _source(module: str, root: Path = _ROOT) -> Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def _extension(module: str, root: Path = _ROOT) -> Path | None:
    source = _source(module, root)
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = source.with_suffix(suffix)
        if candidate.exists():
            return candidate
    return None


def stale_modules(root: Path = _ROOT) -> list[str]:
    """Modules whose extension is older than their source (edited since the build); ``root``
    is the directory that holds the ``gigawatt`` package."""
    stale = []
    for module in MODULES:
        ext = _extension(module, root)
        if ext is None:
            continue
        try:
            if _source(module, root).stat().st_mtime > ext.stat().st_mtime + _SLACK_S:
                stale.append(module)
        except OSError:
            continue
    return stale


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Loads the named modules from their ``.py`` files, whatever extension sits beside."""

    def __init__(self, modules: Sequence[str]) -> None:
        self._modules = frozenset(modules)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self._modules:
            return None
        return importlib.util.spec_from_file_location(fullname, _source(fullname))


def install_guard(environ: dict[str, str] | None = None) -> str:
    """Decide which build runs and make the imports follow; returns ``"compiled"`` or
    ``"pure"``. Called once, by ``gigawatt/__init__.py``, before any of :data:`MODULES` is
    imported."""
    env = os.environ if environ is None else environ
    compiled = [m for m in MODULES if _extension(m) is not None]
    if not compiled:
        return "pure"
    reason = ""
    if env.get("GIGAWATT_PURE", "") not in ("", "0"):
        reason = "GIGAWATT_PURE is set"
    elif len(compiled) < len(MODULES) or importlib.util.find_spec(RUNTIME) is None:
        reason = "the compiled build is incomplete; running the pure-Python sources"
        warnings.warn(reason, RuntimeWarning, stacklevel=2)
    else:
        stale = stale_modules()
        if stale:
            reason = (
                f"{stale[0]} was edited after it was compiled; running the pure-Python "
                "sources (rebuild: make build)"
            )
            warnings.warn(reason, RuntimeWarning, stacklevel=2)
    if not reason:
        return "compiled"
    if not any(isinstance(f, _SourceFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceFinder(MODULES))
    return "pure"


def build() -> str:
    """``"compiled"`` when the hot path runs compiled in this process, else ``"pure"``."""
    module = sys.modules.get("gigawatt.scheduling.scheduler")
    if module is None:
        import gigawatt.scheduling.scheduler as module
    origin = getattr(module, "__file__", "") or ""
    return "pure" if origin.endswith(".py") else "compiled"
