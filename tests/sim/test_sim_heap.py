"""Giving the C heap's free memory back: the trimmer really lowers resident memory (in a process
of its own: its settings are process-wide), and the streaming twin calls it between chunks."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from test_sim_stream import CHURN

from gigawatt.core.catalogue import Catalogue
from gigawatt.core.fleet import uniform_fleet
from gigawatt.scheduling.model import SchedulingPolicy
from gigawatt.scheduling.scheduler import Scheduler
from gigawatt.sim.generator import generate_chunks
from gigawatt.sim.heap import HeapTrimmer
from gigawatt.sim.stream import StreamTwin
from gigawatt.sim.workload_file import parse_workload

DAY = 86_400.0

# 600 blocks of 200 KB, below the fixed mmap threshold, so they come from the heap; the last
# one stays allocated so that the heap cannot shrink from its top when the others are freed.
_FRAGMENTED_HEAP = textwrap.dedent(
    """
    import sys
    from gigawatt.sim.heap import HeapTrimmer

    def rss_mb():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) / 1024

    trimmer = HeapTrimmer()
    assert trimmer.available and trimmer.threshold_fixed
    blocks = [bytearray(200_000) for _ in range(600)]
    for b in blocks:
        b[::4096] = b"x" * len(b[::4096])  # touch every page
    keep = blocks[-1]
    del blocks[:-1]
    before = rss_mb()
    released = trimmer()
    after = rss_mb()
    print(before, after, released, trimmer.trims)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_a_trim_gives_the_heaps_free_pages_back_to_the_system() -> None:
    if not HeapTrimmer().available:
        pytest.skip("this C library has no malloc_trim (not glibc)")
    out = subprocess.run(
        [sys.executable, "-c", _FRAGMENTED_HEAP], capture_output=True, text=True, check=True
    )
    before, after, released, trims = out.stdout.split()
    # about 120 MB were freed inside the heap: without the trim they stay resident
    assert float(before) - float(after) > 80, out.stdout
    assert released == "True" and trims == "1"


def test_the_streaming_twin_calls_the_hook_between_chunks(catalogue: Catalogue) -> None:
    spec = parse_workload(CHURN)
    fleet = uniform_fleet(64, "H100", catalogue)
    calls: list[int] = []
    sched = Scheduler.for_fleet(fleet, catalogue, SchedulingPolicy())
    chunks = generate_chunks(spec, fleet, catalogue, seed=1, days=2.0, chunk_days=0.5)
    twin = StreamTwin(
        chunks,
        fleet,
        catalogue,
        sched,
        horizon_s=2 * DAY,
        seed=1,
        between_chunks=lambda: calls.append(twin.n),
    )
    twin.run()
    # four chunks: after each one has been played, before the next is made (and after the last)
    assert len(calls) == 4
    assert calls == sorted(calls) and calls[0] > 0 and calls[-1] == twin.n
