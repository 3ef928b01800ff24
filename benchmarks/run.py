"""Run every ``benchmarks/bench_*.py`` module's ``main()`` in turn (``make bench``).

``python -m benchmarks.run NAME ...`` runs only the named ones (e.g. ``montecarlo``).
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
from datetime import date
from pathlib import Path


def main(argv: list[str]) -> int:
    """Discover and run the benchmarks; print the machine line the figures belong to."""
    here = Path(__file__).parent
    names = sorted(p.stem.removeprefix("bench_") for p in here.glob("bench_*.py"))
    chosen = [n for n in names if not argv or n in argv]
    print(
        f"# {date.today()} · {platform.processor() or platform.machine()} · "
        f"{os.cpu_count()} cores · Python {platform.python_version()}"
    )
    for name in chosen:
        print(f"\n## {name}")
        module = importlib.import_module(f"benchmarks.bench_{name}")
        module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
