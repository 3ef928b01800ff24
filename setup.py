"""Build hook: compile the scheduler and the twin's event loop with mypyc when possible.

Everything else about the package is in pyproject.toml. The modules listed in
``gigawatt.native.MODULES`` are compiled to C extensions (about 3x faster on the twin's
per-job path); the pure-Python sources remain the reference and the fallback:

- ``GIGAWATT_COMPILE=0`` skips compiling;
- without mypy (the ``build-system`` requirement brings it) or a working C compiler, the
  extensions are optional: the build warns and the package runs from its sources.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent
#: The shared library of the compiled modules: ``gigawatt_native__mypyc`` (see gigawatt.native).
GROUP = "gigawatt_native"


def _native_modules() -> list[str]:
    """``MODULES`` read from src/gigawatt/native.py without importing the package."""
    tree = ast.parse((HERE / "src" / "gigawatt" / "native.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "MODULES":
            return list(ast.literal_eval(node.value))  # type: ignore[arg-type]
    raise RuntimeError("gigawatt.native.MODULES not found")


def _extensions() -> list[object]:
    if os.environ.get("GIGAWATT_COMPILE", "1") == "0":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("gigawatt: mypy is not installed; installing the pure-Python build", file=sys.stderr)
        return []
    paths = [str(Path("src", *m.split(".")).with_suffix(".py")) for m in _native_modules()]
    # No config file: the project's mypy settings name a plugin that is not installed in an
    # isolated build; type-checking the code is `make lint`'s job, not the build's.
    options = ["--config-file=", "--ignore-missing-imports", "--follow-imports=silent"]
    try:
        extensions = mypycify(options + paths, opt_level="3", group_name=GROUP)
    except Exception as exc:  # any failure here means: build the pure-Python package
        print(f"gigawatt: not compiling ({exc}); installing the pure-Python build", file=sys.stderr)
        return []
    for ext in extensions:
        ext.optional = True  # a compiler error leaves the sources in charge, not a failed install
    return list(extensions)


setup(ext_modules=_extensions())
