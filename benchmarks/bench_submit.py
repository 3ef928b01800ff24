"""Job submissions through two ``gigawatt serve`` processes on one PostgreSQL database.

Two real servers (``--backend fake``, control loop on, 16,000 H100 in the fleet file) share a
scratch PostgreSQL schema; one holds the control lease and schedules, both serve the API.
Concurrent clients (asyncio, keep-alive) send ``POST /v1/jobs`` to both in turn for
``GIGAWATT_BENCH_SUBMIT_S`` seconds (default 20) after a 3 s warm-up; the jobs (1–8 GPUs,
spot and on-demand) end on their own after 5–30 s, so the loop keeps starting and ending
attempts meanwhile. Printed: accepted submissions a second, latency percentiles, errors, the
servers' CPU, and the double-allocation check over every attempt ever made: no GPU held by
two attempts at any instant (intervals per GPU from the attempts' start and end) and, now,
the allocation rows are exactly the GPUs of the active attempts.

Environment: ``GIGAWATT_BENCH_CLIENTS`` (concurrent clients, default 64),
``GIGAWATT_BENCH_POSTGRES_URL``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from benchmarks.bench_control import _postgres_schema

ADMIN = "bench-submit-admin-key"
FLEET = """sites:
  - name: s1
    it_power_mw: 100
    node_groups:
      - {name: h100, count: 2000, gpu_type: H100, gpus_per_node: 8}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _serve(url: str, fleet: Path, port: int, work: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GIGAWATT_ADMIN_KEY": ADMIN, "HOME": str(work)}
    args = ["serve", "--port", str(port), "--backend", "fake", "--db", url, "--fleet", str(fleet)]
    args += ["--log-level", "warning", "--state-dir", str(work / f"state{port}")]
    code = "from gigawatt.cli.main import app; app()"
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env)


def _wait(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


async def _load(
    bases: list[str], key: str, seconds: float, clients: int
) -> tuple[list[float], dict[int, int]]:
    latencies: list[float] = []
    codes: dict[int, int] = {}
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=clients * 2, max_keepalive_connections=clients * 2)
    start = time.monotonic()
    measure_from = start + 3.0
    end = measure_from + seconds

    async def worker(n: int, client: httpx.AsyncClient) -> None:
        rng = random.Random(n)
        i = n
        while time.monotonic() < end:
            body = {
                "name": f"b{n}",
                "command": ["true"],
                "gpus": rng.choice((1, 2, 4, 8)),
                "gpu_type": "H100",
                "tier": rng.choice(("spot", "on_demand")),
                "env": {"GIGAWATT_FAKE_DURATION_S": str(rng.randint(5, 30))},
            }
            t = time.monotonic()
            try:
                r = await client.post(f"{bases[i % 2]}/v1/jobs", json=body, headers=headers)
                code = r.status_code
            except httpx.HTTPError:
                code = 0
            done = time.monotonic()
            i += 1
            if t >= measure_from and done <= end:
                latencies.append(done - t)
                codes[code] = codes.get(code, 0) + 1

    async with httpx.AsyncClient(limits=limits, timeout=30, trust_env=False) as client:
        await asyncio.gather(*(worker(n, client) for n in range(clients)))
    return latencies, codes


def _double_allocations(url: str) -> tuple[int, int, int]:
    """``(attempts checked, overlapping GPU intervals, allocation rows that differ from the
    active attempts' GPUs)``."""
    engine = create_engine(url)
    with engine.connect() as conn:
        attempts = conn.execute(
            text("SELECT id, placement, gpu_indices, started_at, ended_at, status FROM attempts")
        ).all()
        rows = set(conn.execute(text("SELECT node_id, gpu_index, attempt_id FROM gpu_allocations")))
    engine.dispose()

    spans: dict[tuple[str, int], list[tuple[float, float]]] = {}
    active: set[tuple[str, int, int]] = set()
    for attempt_id, placement, indices, started, ended, status in attempts:
        placement = json.loads(placement) if isinstance(placement, str) else placement
        indices = json.loads(indices) if isinstance(indices, str) else indices
        for (node, _), ix in zip(placement, indices, strict=True):
            for gpu in ix:
                spans.setdefault((node, gpu), []).append((started, ended or float("inf")))
                if status in ("starting", "running"):
                    active.add((node, gpu, attempt_id))
    overlaps = 0
    for intervals in spans.values():
        intervals.sort()
        for (_, end), (start, _) in itertools.pairwise(intervals):
            overlaps += start < end
    return len(attempts), overlaps, len(active ^ rows)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    """Two servers on one PostgreSQL, concurrent submissions, the double-allocation check."""
    seconds = float(os.environ.get("GIGAWATT_BENCH_SUBMIT_S", "20"))
    clients = int(os.environ.get("GIGAWATT_BENCH_CLIENTS", "64"))
    with _postgres_schema() as url:
        if url is None:
            return
        work = Path(tempfile.mkdtemp(prefix="bench-submit-"))
        fleet = work / "fleet.yaml"
        fleet.write_text(FLEET)
        ports = [_free_port(), _free_port()]
        first = _serve(url, fleet, ports[0], work)
        _wait(f"http://127.0.0.1:{ports[0]}/healthz", first)  # migrations run once
        second = _serve(url, fleet, ports[1], work)
        procs = [first, second]
        try:
            bases = [f"http://127.0.0.1:{p}" for p in ports]
            _wait(f"{bases[1]}/healthz", second)
            admin = httpx.Client(base_url=bases[0], headers={"Authorization": f"Bearer {ADMIN}"})
            tenant = admin.post("/v1/tenants", json={"name": "bench", "kind": "external"}).json()
            key = admin.post(f"/v1/tenants/{tenant['id']}/keys").json()["key"]
            cpu0 = [_cpu_s(p.pid) for p in procs]
            latencies, codes = asyncio.run(_load(bases, key, seconds, clients))
            cpu = [_cpu_s(p.pid) - c for p, c in zip(procs, cpu0, strict=True)]
            time.sleep(3)  # let the loop place what it can
            checked, overlaps, mismatched = _double_allocations(url)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(10)
    ok = codes.get(201, 0) + codes.get(200, 0)
    ms = [x * 1000 for x in latencies]
    print(f"two servers on one PostgreSQL, {clients} concurrent clients, {seconds:.0f} s measured")
    print(f"accepted {ok:,} submissions: {ok / seconds:,.0f}/s; status codes {codes}")
    print(
        f"latency P50 {_pct(ms, 0.5):.1f} ms, P90 {_pct(ms, 0.9):.1f} ms, "
        f"P99 {_pct(ms, 0.99):.1f} ms, max {max(ms, default=0):.1f} ms"
    )
    print(f"server CPU during the run: {cpu[0]:.1f} s + {cpu[1]:.1f} s")
    print(
        f"double allocation: {checked:,} attempts checked, {overlaps} overlapping GPU "
        f"intervals, {mismatched} allocation rows differing from the active attempts"
    )


if __name__ == "__main__":
    main()
