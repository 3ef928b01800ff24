"""The live control loop at GW scale: 500,000 GPUs, 100,000 running jobs, 10,000 queued.

For each database (SQLite file; PostgreSQL when reachable, in a scratch schema) a fleet of
62,500 nodes x 8 H100 is filled to the last GPU with 100,000 running attempts (8, 4+4 and
4+2+2 GPUs per node; internal, on-demand and spot) written straight into the tables, with
their allocation rows, and started on the fake backend with durations of up to 20 minutes;
10,000 on-demand and spot jobs wait in the queue; on PostgreSQL the tables are then analyzed,
as after any bulk load. Then the loop runs on a manual clock that
advances 0.25 s per tick (the default ``tick_s``), with churn between ticks: about 160 jobs
end per second of clock, the queue is topped up to 10,000, a few internal jobs arrive (they
preempt spot), a few queued and running jobs are cancelled, some jobs pass ``max_runtime_s``.

Printed per database: the first tick (lease takeover: reconcile and build the loop's memory),
tick duration percentiles over the timed ticks (only ``ControlLoop.tick`` is timed), SQL
statements per tick, what the ticks did, resident memory and the loop's structure sizes, and
the tick of the old loop (scheduler rebuilt from the database every tick) for comparison.

Environment: ``GIGAWATT_BENCH_TICKS`` (timed ticks, default 200); ``GIGAWATT_BENCH_DB``
(``sqlite``, ``postgresql`` or ``both``, default both); ``GIGAWATT_BENCH_CHURN_S`` (then keep
churning that many wall seconds more and print memory once a minute: the flat-memory check);
``GIGAWATT_BENCH_TOPUP``: the GPU counts of the jobs that top the queue up, ``uniform`` (1, 2,
4 or 8 alike, the default: the tick figures in docs/benchmarks.md) or ``fill`` (the fill's own
mix, 5 GPUs a job on average, so that the running population keeps its size over a long churn);
``GIGAWATT_BENCH_POSTGRES_URL`` (default the test server).
"""

from __future__ import annotations

import contextlib
import gc
import os
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine, event, insert, select, text

from gigawatt.backends.base import LaunchSpec
from gigawatt.backends.fake import ENV_DURATION, FakeBackend
from gigawatt.core.clock import ManualClock
from gigawatt.core.errors import Conflict, NotFound
from gigawatt.core.fleet import FleetSpec, NodeGroup, Site
from gigawatt.core.tiers import JobStatus, Tier
from gigawatt.services import jobs, tenants
from gigawatt.services.auth import ADMIN
from gigawatt.services.control import ControlLoop
from gigawatt.services.platform import Platform, open_platform
from gigawatt.services.settings import Settings
from gigawatt.store.db import transaction
from gigawatt.store.models import AttemptModel, GpuAllocationModel, JobModel
from gigawatt.store.repositories.ids import new_id

NODES, PER_NODE, QUEUED, TICK_S = 62_500, 8, 10_000, 0.25
T0 = 1_796_083_200.0  # 2026-12-01 00:00 UTC
MAX_DURATION_S = 1_200.0
#: GPU counts of the jobs on five nodes of the fill (three of 8, one of 4+4, one of 4+2+2)
FILL_MIX = (8, 8, 8, 4, 4, 4, 2, 2)
TOPUP_MIX = {"uniform": (1, 2, 4, 8), "fill": FILL_MIX}
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CHUNK = 5_000


def _fleet() -> FleetSpec:
    group = NodeGroup(name="h100", count=NODES, gpu_type="H100", gpus_per_node=PER_NODE)
    return FleetSpec(sites=(Site(name="gw", it_power_mw=1_000.0, node_groups=(group,)),))


def _layout(rng: random.Random) -> Iterator[tuple[int, tuple[int, ...]]]:
    """Per node, the GPU counts of the jobs on it: 100,000 jobs filling every GPU."""
    for node in range(NODES):
        kind = node % 5
        sizes = (8,) if kind < 3 else (4, 4) if kind == 3 else (4, 2, 2)
        yield node, sizes


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _job_row(
    tenant: str, tier: Tier, gpus: int, now: float, duration: float, **kw: object
) -> dict[str, object]:
    return {
        "id": new_id("job"),
        "tenant_id": tenant,
        "name": "bench",
        "command": ["true"],
        "env": {ENV_DURATION: f"{duration:.1f}"},
        "gpus": gpus,
        "gpu_type": "H100",
        "tier": tier.value,
        "priority": 0,
        "max_runtime_s": kw.get("max_runtime_s"),
        "status": kw.get("status", JobStatus.QUEUED.value),
        "reason": "",
        "submitted_at": now,
        "started_at": kw.get("started_at"),
        "ended_at": None,
        "attempts": kw.get("attempts", 0),
        "cancel_requested": False,
        "updated_at": now,
    }


class Bench:
    """One database's platform, filled, with the churn that runs between ticks."""

    def __init__(self, url: str) -> None:
        self.rng = random.Random(7)
        self.clock = ManualClock(T0)
        self.backend = FakeBackend(self.clock)
        settings = Settings(database_url=url, grace_s=5.0, admin_key="adm")
        self.platform: Platform = open_platform(
            settings, self.backend, fleet=_fleet(), clock=self.clock
        )
        self.own = tenants.create_tenant(self.platform, "own", "internal").id
        self.ext = [tenants.create_tenant(self.platform, f"c{i}", "external").id for i in range(20)]
        self.statements = 0
        mix = os.environ.get("GIGAWATT_BENCH_TOPUP", "uniform")
        if mix not in TOPUP_MIX:
            raise SystemExit(f"GIGAWATT_BENCH_TOPUP must be one of {', '.join(TOPUP_MIX)}")
        self.topup_mix = TOPUP_MIX[mix]
        event.listen(self.platform.engine, "before_cursor_execute", self._count)

    def _count(self, *_args: object) -> None:
        self.statements += 1

    def fill(self) -> None:
        """100,000 running attempts with allocation rows, on the backend too; 10,000 queued."""
        rng, now = self.rng, self.clock.now()
        node_ids = [n.node_id for n in _fleet().nodes()]
        jobs_rows: list[dict[str, object]] = []
        places: list[tuple[str, tuple[int, ...]]] = []
        for node, sizes in _layout(rng):
            first = 0
            for gpus in sizes:
                tier = rng.choice((Tier.INTERNAL, Tier.ON_DEMAND, Tier.SPOT, Tier.SPOT))
                owner = self.own if tier is Tier.INTERNAL else rng.choice(self.ext)
                limit = 300 if rng.random() < 0.05 else rng.choice((None, 86_400))
                row = _job_row(
                    owner,
                    tier,
                    gpus,
                    now,
                    rng.uniform(1, MAX_DURATION_S),
                    status=JobStatus.RUNNING.value,
                    started_at=now,
                    attempts=1,
                    max_runtime_s=limit,
                )
                jobs_rows.append(row)
                places.append((node_ids[node], tuple(range(first, first + gpus))))
                first += gpus
        with transaction(self.platform.sessions) as s:
            for k in range(0, len(jobs_rows), CHUNK):
                s.execute(insert(JobModel), jobs_rows[k : k + CHUNK])
            attempts = [
                {
                    "job_id": r["id"],
                    "attempt": 1,
                    "status": "running",
                    "placement": [[node, len(ix)]],
                    "gpu_indices": [list(ix)],
                    "handle": {"backend": "fake"},
                    "started_at": now,
                    "ended_at": None,
                    "last_heartbeat_at": now,
                    "metered_until": now,
                    "killed": False,
                    "reason": "",
                }
                for r, (node, ix) in zip(jobs_rows, places, strict=True)
            ]
            for k in range(0, len(attempts), CHUNK):
                s.execute(insert(AttemptModel), attempts[k : k + CHUNK])
            ids = dict(s.execute(select(AttemptModel.job_id, AttemptModel.id)).tuples().all())
            allocs = [
                {
                    "node_id": node_id,
                    "gpu_index": i,
                    "attempt_id": ids[str(r["id"])],
                    "job_id": r["id"],
                    "site": "gw",
                    "gpu_type": "H100",
                    "tier": r["tier"],
                }
                for r, (node_id, ix) in zip(jobs_rows, places, strict=True)
                for i in ix
            ]
            for k in range(0, len(allocs), CHUNK * 4):
                s.execute(insert(GpuAllocationModel), allocs[k : k + CHUNK * 4])
        for r, (node_id, ix) in zip(jobs_rows, places, strict=True):
            spec = LaunchSpec(
                job_id=str(r["id"]),
                attempt=1,
                command=("true",),
                env=dict(r["env"]),  # type: ignore[call-overload]
                placement=((node_id, len(ix)),),
                gpu_indices=(ix,),
                gpu_type="H100",
                max_runtime_s=None,
                tenant_id=str(r["tenant_id"]),
                isolate=False,
            )
            self.backend.start(spec)
        self.top_up(QUEUED)
        self.analyze()

    def analyze(self) -> None:
        """Planner statistics after the bulk load, as PostgreSQL's documentation asks for and as
        autovacuum would gather within a minute or two of it. Without them the planner takes
        the freshly filled ``gpu_allocations`` for tiny and deletes an ended attempt's rows by
        a bitmap scan (25 ms a tick instead of 2 ms)."""
        if self.platform.engine.dialect.name == "postgresql":
            with self.platform.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))

    def top_up(self, count: int) -> None:
        """Queue ``count`` on-demand and spot jobs (rows written as ``POST /v1/jobs`` does)."""
        rng, now = self.rng, self.clock.now()
        rows = [
            _job_row(
                rng.choice(self.ext),
                rng.choice((Tier.ON_DEMAND, Tier.SPOT)),
                rng.choice(self.topup_mix),
                now,
                rng.uniform(1, MAX_DURATION_S),
                max_runtime_s=rng.choice((None, 3_600)),
            )
            for _ in range(count)
        ]
        if rows:
            with transaction(self.platform.sessions) as s:
                for k in range(0, len(rows), CHUNK):
                    s.execute(insert(JobModel), rows[k : k + CHUNK])

    def churn(self, loop: ControlLoop) -> None:
        """Between two ticks: the clock moves on, the queue is topped up, a few internal jobs
        arrive and a few jobs are cancelled."""
        self.clock.advance(TICK_S)
        live = loop.live
        waiting = len(live.queued) if live is not None else QUEUED
        self.top_up(max(0, QUEUED - waiting))
        rng = self.rng
        for _ in range(rng.choice((0, 0, 1, 2))):
            job = _job_row(self.own, Tier.INTERNAL, rng.choice((1, 4, 8)), self.clock.now(), 600.0)
            with transaction(self.platform.sessions) as s:
                s.execute(insert(JobModel), [job])
        if live is not None and rng.random() < 0.5:
            targets = rng.sample(sorted(live.queued), 2) + rng.sample(sorted(live.by_job), 1)
            for job_id in targets:
                with contextlib.suppress(Conflict, NotFound):  # already ended: fine
                    jobs.cancel(self.platform, ADMIN, job_id)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _run(name: str, url: str) -> None:
    t0 = time.perf_counter()
    bench = Bench(url)
    bench.fill()
    print(
        f"\n### {name}: fleet {NODES * PER_NODE:,} GPUs, 100,000 running, {QUEUED:,} queued "
        f"(setup {time.perf_counter() - t0:.0f} s, RSS {_rss_mb():,.0f} MB)"
    )
    loop = ControlLoop(bench.platform, "bench")
    t1 = time.perf_counter()
    first = loop.tick()
    print(
        f"first tick (takeover: reconcile + build): {time.perf_counter() - t1:.2f} s, "
        f"{len(first.started)} started, {len(first.preempted)} preempted"
    )
    ticks = int(os.environ.get("GIGAWATT_BENCH_TICKS", "200"))
    times, statements = [], []
    counts = {"started": 0, "ended": 0, "preempted": 0}
    rss0 = _rss_mb()
    for _ in range(ticks):
        bench.churn(loop)
        before = bench.statements
        t = time.perf_counter()
        report = loop.tick()
        times.append(time.perf_counter() - t)
        statements.append(bench.statements - before)
        for key in counts:
            counts[key] += len(getattr(report, key))
    live = loop.live
    assert live is not None and loop.leader
    ms = [x * 1000 for x in times]
    print(
        f"{ticks} ticks: P50 {_pct(ms, 0.5):.1f} ms, P90 {_pct(ms, 0.9):.1f} ms, "
        f"P99 {_pct(ms, 0.99):.1f} ms, max {max(ms):.1f} ms, mean {statistics.mean(ms):.1f} ms"
    )
    print(
        f"per tick: {statistics.mean(statements):.1f} SQL statements (max {max(statements)}); "
        + ", ".join(f"{k} {v / ticks:.1f}" for k, v in counts.items())
    )
    print(
        f"running {len(live.attempts):,}, queued {len(live.queued):,}; RSS {rss0:,.0f} -> "
        f"{_rss_mb():,.0f} MB; structures {live.sizes()}"
    )
    _churn_for(bench, loop, float(os.environ.get("GIGAWATT_BENCH_CHURN_S", "0")))
    old = ControlLoop(bench.platform, "bench", incremental=False)
    old.tick()  # takes the loop over (reconcile) and rebuilds
    t = time.perf_counter()
    for _ in range(2):
        bench.churn(old)
        old.tick()
    print(
        f"old loop (scheduler rebuilt from the database every tick): "
        f"{(time.perf_counter() - t) / 2 * 1000:.0f} ms per tick"
    )
    old.resign()
    loop.resign()  # gives the frozen memory of its state back to the garbage collector
    bench.platform.engine.dispose()


def _churn_for(bench: Bench, loop: ControlLoop, seconds: float) -> None:
    """Keep ticking with churn for ``seconds`` of wall time; memory once a minute."""
    if seconds <= 0:
        return
    end, next_at, n, times = time.monotonic() + seconds, time.monotonic(), 0, []
    while time.monotonic() < end:
        if time.monotonic() >= next_at:
            gc.collect()
            live = loop.live
            sizes = live.sizes() if live is not None else {}
            print(f"  churn {n:6d} ticks: RSS {_rss_mb():,.0f} MB, {sizes}", flush=True)
            next_at += 60
        bench.churn(loop)
        t = time.perf_counter()
        loop.tick()
        times.append((time.perf_counter() - t) * 1000)
        n += 1
    gc.collect()
    print(
        f"  churn end {n} ticks ({seconds:.0f} s): RSS {_rss_mb():,.0f} MB; tick P50 "
        f"{_pct(times, 0.5):.1f} ms, P99 {_pct(times, 0.99):.1f} ms"
    )


@contextmanager
def _postgres_schema() -> Iterator[str | None]:
    url = os.environ.get("GIGAWATT_BENCH_POSTGRES_URL", PG_URL)
    schema = f"bench_control_{os.getpid()}"
    try:
        admin = create_engine(url, connect_args={"connect_timeout": 3})
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        print(f"\n### postgresql: skipped ({type(exc).__name__}: {exc})")
        yield None
        return
    try:
        sep = "&" if "?" in url else "?"
        yield f"{url}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    """Fill, tick and print, on SQLite and PostgreSQL."""
    which = os.environ.get("GIGAWATT_BENCH_DB", "both")
    if which in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            _run("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}")
        gc.collect()
    if which in ("postgresql", "both"):
        with _postgres_schema() as url:
            if url is not None:
                _run("postgresql", url)


if __name__ == "__main__":
    main()
