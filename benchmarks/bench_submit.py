"""Job submissions through two ``gigawatt serve`` processes on one PostgreSQL database.

Two real API servers (``--backend fake``, ``--no-control-loop``, 16,000 H100 in the fleet
file) and a third ``gigawatt serve`` that is sent no requests and holds the control lease (the
control loop in a process of its own, as docs/operations.md recommends for high submission
rates) share a scratch PostgreSQL schema. Clients (asyncio, keep-alive) send ``POST /v1/jobs``
to the two servers in turn for ``GIGAWATT_BENCH_SUBMIT_S`` seconds (default 20) after a 3 s
warm-up, paced to ``GIGAWATT_BENCH_RATE`` submissions a second in all (default 1,000, the
issue's target): client ``n``'s ``k``-th request is due at ``(k * clients + n) / rate`` seconds,
and each latency is counted from the moment the request was due, not from when it was sent,
so a server that falls behind is charged for the wait it caused (no coordinated omission).
``GIGAWATT_BENCH_RATE=0`` is a closed loop instead: each client sends its next request as soon
as the last is answered, so the throughput is the servers' capacity and the latency the one at
saturation. The jobs (1–8 GPUs, spot and on-demand) end on their own after 5–30 s, so the loop
keeps starting and ending attempts meanwhile. Printed: accepted submissions a second, latency
percentiles against the target (P99 under 100 ms at 1,000 a second), errors, every process's
CPU, and the double-allocation check over every attempt ever made: no GPU held by two attempts
at any instant (intervals per GPU from the attempts' start and end) and, now, the allocation
rows are exactly the GPUs of the active attempts.

Environment: ``GIGAWATT_BENCH_CLIENTS`` (concurrent clients, default 64),
``GIGAWATT_BENCH_POSTGRES_URL``, ``GIGAWATT_BENCH_SUBMIT_LOOP``: ``separate`` (default, as
above), ``1`` (the first API server runs the control loop in a thread, the second is its
standby: the default deployment of a single ``gigawatt serve``), or ``0`` (no control loop:
the request path alone; nothing is scheduled, the queue only grows).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
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


def _postgres_cpu_s() -> dict[int, float]:
    """CPU seconds of each of this machine's ``postgres`` processes, by pid (none when the
    database is elsewhere). Other users of the same server count too."""
    found: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text_ = stat.read_text()
        except OSError:
            continue
        if "(postgres)" in text_:
            fields = text_.rsplit(")", 1)[1].split()
            ticks = int(fields[11]) + int(fields[12])
            found[int(stat.parent.name)] = ticks / os.sysconf("SC_CLK_TCK")
    return found


def _cpu_since(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU the processes of ``after`` used since ``before`` (those that ended are not
    counted; a process that started meanwhile counts whole)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def _serve(url: str, fleet: Path, port: int, work: Path, loop: bool) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GIGAWATT_ADMIN_KEY": ADMIN, "HOME": str(work)}
    args = ["serve", "--port", str(port), "--backend", "fake", "--db", url, "--fleet", str(fleet)]
    args += [] if loop else ["--no-control-loop"]
    args += ["--log-level", "warning", "--no-access-log", "--state-dir", str(work / f"state{port}")]
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


def _request(host: str, key: str, body: Mapping[str, object]) -> bytes:
    payload = json.dumps(body, separators=(",", ":")).encode()
    head = (
        f"POST /v1/jobs HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


class _Connection:
    """One kept-alive HTTP/1.1 connection: send a prepared request, read status and body."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, request: bytes) -> int:
        """The response's status code (0: the connection failed; it reopens next time)."""
        try:
            if self.streams is None:
                self.streams = await asyncio.open_connection(self.host, self.port)
            reader, writer = self.streams
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lower = head.lower()
            at = lower.find(b"content-length:")
            length = int(lower[at + 15 : lower.index(b"\r\n", at)]) if at >= 0 else 0
            await reader.readexactly(length)
            if b"connection: close" in lower:
                await self.close()
            return int(head[9:12])
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            await self.close()
            return 0

    async def close(self) -> None:
        """Close the connection (it reopens on the next request)."""
        if self.streams is not None:
            writer = self.streams[1]
            self.streams = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _load(
    ports: list[int], key: str, seconds: float, clients: int, rate: float | None = None
) -> tuple[list[tuple[int, float]], dict[int, int], int]:
    """``clients`` workers, each with a kept-alive connection to each server, sending to both
    in turn: a raw asyncio HTTP/1.1 client, so that the generator, which shares the machine's
    cores with the servers, costs little CPU a request. A closed loop, or paced to ``rate``
    requests a second in all (latency then counted from each request's due time). Returns the
    measured ``(server index, latency)`` pairs, status codes, and how many requests were sent
    in all."""
    latencies: list[tuple[int, float]] = []
    codes: dict[int, int] = {}
    sent = 0
    start = time.monotonic()
    measure_from = start + 3.0
    end = measure_from + seconds

    async def worker(n: int) -> None:
        nonlocal sent
        rng = random.Random(n)
        connections = [_Connection("127.0.0.1", port) for port in ports]
        i = n
        k = 0
        while time.monotonic() < end:
            due = None
            if rate is not None:
                due = start + (k * clients + n) / rate
                k += 1
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            body = {
                "name": f"b{n}",
                "command": ["true"],
                "gpus": rng.choice((1, 2, 4, 8)),
                "gpu_type": "H100",
                "tier": rng.choice(("spot", "on_demand")),
                "env": {"GIGAWATT_FAKE_DURATION_S": str(rng.randint(5, 30))},
            }
            which = i % len(connections)
            connection = connections[which]
            request = _request(f"127.0.0.1:{connection.port}", key, body)
            t = time.monotonic() if due is None else due
            code = await connection.post(request)
            done = time.monotonic()
            i += 1
            sent += 1
            if t >= measure_from and done <= end:
                latencies.append((which, done - t))
                codes[code] = codes.get(code, 0) + 1
            if code == 0:
                await asyncio.sleep(0.05)
        for connection in connections:
            await connection.close()

    await asyncio.gather(*(worker(n) for n in range(clients)))
    return latencies, codes, sent


def _double_allocations(url: str) -> tuple[int, int, int]:
    """``(attempts checked, overlapping GPU intervals, allocation rows that differ from the
    active attempts' GPUs)``. Both tables are read in one snapshot (``REPEATABLE READ``): the
    servers still run, and a tick committing between two reads would look like a mismatch."""
    engine = create_engine(url, isolation_level="REPEATABLE READ")
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


def _job_statuses(url: str) -> dict[str, int]:
    """How many jobs are in each status (the queue left behind shows whether the leader kept
    up with the submissions)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status, count(*) FROM jobs GROUP BY status")).all()
    engine.dispose()
    return {str(status): int(n) for status, n in rows}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    """Two servers on one PostgreSQL, concurrent submissions, the double-allocation check."""
    seconds = float(os.environ.get("GIGAWATT_BENCH_SUBMIT_S", "20"))
    clients = int(os.environ.get("GIGAWATT_BENCH_CLIENTS", "64"))
    mode = os.environ.get("GIGAWATT_BENCH_SUBMIT_LOOP", "separate")
    paced = float(os.environ.get("GIGAWATT_BENCH_RATE", "1000") or 0)
    rate = paced if paced > 0 else None
    separate = mode == "separate"
    loop = mode not in ("0", "separate")  # the first server runs the loop
    with _postgres_schema() as url:
        if url is None:
            return
        work = Path(tempfile.mkdtemp(prefix="bench-submit-"))
        fleet = work / "fleet.yaml"
        fleet.write_text(FLEET)
        ports = [_free_port(), _free_port(), _free_port()]
        first = _serve(url, fleet, ports[0], work, loop)
        _wait(f"http://127.0.0.1:{ports[0]}/healthz", first)  # migrations run once
        procs = [first, _serve(url, fleet, ports[1], work, loop)]  # loop: a standby
        if separate:
            procs.append(_serve(url, fleet, ports[2], work, True))
        try:
            bases = [f"http://127.0.0.1:{p}" for p in ports]
            for base, proc in zip(bases[1:], procs[1:], strict=False):
                _wait(f"{base}/healthz", proc)
            admin = httpx.Client(base_url=bases[0], headers={"Authorization": f"Bearer {ADMIN}"})
            tenant = admin.post("/v1/tenants", json={"name": "bench", "kind": "external"}).json()
            key = admin.post(f"/v1/tenants/{tenant['id']}/keys").json()["key"]
            cpu0 = [_cpu_s(p.pid) for p in procs]
            db0 = _postgres_cpu_s()
            own0 = time.process_time()
            latencies, codes, total = asyncio.run(_load(ports[:2], key, seconds, clients, rate))
            own = time.process_time() - own0
            cpu = [_cpu_s(p.pid) - c for p, c in zip(procs, cpu0, strict=True)]
            db_cpu = _cpu_since(db0, _postgres_cpu_s())
            time.sleep(3)  # let the loop place what it can
            checked, overlaps, mismatched = _double_allocations(url)
            statuses = _job_statuses(url)
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
    ms = [x * 1000 for _, x in latencies]
    where = {
        "0": "no control loop (request path only)",
        "separate": "the control loop in a third process",
    }.get(mode, "the first one runs the control loop")
    print(
        f"two servers on one PostgreSQL ({where}), {clients} concurrent clients, "
        f"{seconds:.0f} s measured"
        + (f", paced to {rate:,.0f} submissions a second" if rate else ", closed loop")
    )
    print(f"accepted {ok:,} submissions: {ok / seconds:,.0f}/s; status codes {codes}")
    print(
        f"latency P50 {_pct(ms, 0.5):.1f} ms, P90 {_pct(ms, 0.9):.1f} ms, "
        f"P99 {_pct(ms, 0.99):.1f} ms, max {max(ms, default=0):.1f} ms"
    )
    names = ("first server (leader)", "second server") if loop else ("first", "second")
    for which, name in enumerate(names):
        one = [x * 1000 for w, x in latencies if w == which]
        print(f"  {name}: P50 {_pct(one, 0.5):.1f} ms, P99 {_pct(one, 0.99):.1f} ms")
    print(
        f"CPU during the run ({seconds + 3:.0f} s with the warm-up): servers {cpu[0]:.1f} s "
        f"(first) + {cpu[1]:.1f} s"
        + (f" + loop process {cpu[2]:.1f} s" if separate else "")
        + f", load generator {own:.1f} s; "
        f"{(sum(cpu) + own) / max(1, total) * 1000:.2f} ms of CPU per request sent; "
        f"PostgreSQL on this machine (every client's) {db_cpu:.1f} s"
    )
    print(f"jobs by status 3 s after the run: {dict(sorted(statuses.items()))}")
    print(
        f"double allocation: {checked:,} attempts checked, {overlaps} overlapping GPU "
        f"intervals, {mismatched} allocation rows differing from the active attempts"
    )
    met = (
        ok / seconds >= 1000 * 0.99
        and _pct(ms, 0.99) < 100
        and codes == {201: ok}
        and overlaps == mismatched == 0
    )
    print(
        "target (at least 1,000 submissions a second, P99 under 100 ms, no errors, no double "
        "allocation): " + ("met" if met else "not met")
    )


if __name__ == "__main__":
    main()
