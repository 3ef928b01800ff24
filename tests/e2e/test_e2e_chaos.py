"""Chaos: SIGKILL the server at random points of submit, start, run, preempt and invoice
close, restart it, and check that every job ran at most once at a time, ended exactly once,
was billed for what really ran, that the ledger balances and that no process outlived its
attempt.

Bounded: ``GIGAWATT_CHAOS_KILLS`` kills per database (default 15), seed ``GIGAWATT_CHAOS_SEED``
(default: random, printed so that a failure can be replayed).
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import PY, Client, Server
from sandbox_support import leftover_processes, rank_record, runner_pids, sweep_state
from sqlalchemy import func, select

from gigawatt.store.db import make_engine, session_factory
from gigawatt.store.models import LedgerEntryModel

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

Start = Callable[..., tuple[Server, Client]]
TERMINAL = ("succeeded", "failed", "cancelled")
CRASH_POINTS = ("launch.before_start", "launch.after_start", "stop.before", "tick.before_commit")


@pytest.fixture(autouse=True)
def _no_job_outlives_the_test(tmp_path: Path) -> Iterator[None]:
    yield
    sweep_state(tmp_path / "state")


def _start(server: Server) -> bool:
    """Start the server; False when it died on its way up (a crash point hit at once)."""
    try:
        server.start()
    except AssertionError:
        server.proc = None
        return False
    return True


def _try(fn: Callable[[], Any]) -> Any:
    """A request to a server that may die under it: its answer, or None."""
    try:
        return fn()
    except (httpx.HTTPError, AssertionError):
        return None


def _job(rng: random.Random) -> tuple[list[str], dict[str, Any]]:
    seconds = round(rng.uniform(0.4, 2.5), 2)
    command = [PY, "-c", f"import time; time.sleep({seconds})"]
    fields = {"gpus": rng.choice((2, 4, 8)), "tier": rng.choice(("spot", "spot", "on_demand"))}
    return command, fields


def _round(
    rng: random.Random, server: Server, ext: Client, own: Client, admin: Client, ids: set[str]
) -> None:
    """Some submits, maybe a preemption, a cancel and an invoice close, then SIGKILL."""
    for _ in range(rng.randint(1, 3)):
        command, fields = _job(rng)
        job = _try(lambda: ext.submit(command, **fields))  # noqa: B023
        if job is not None:
            ids.add(job["id"])
    if rng.random() < 0.35:  # the owner's own work preempts spot jobs
        job = _try(
            lambda: own.submit([PY, "-c", "import time; time.sleep(1)"], gpus=16, tier="internal")
        )
        if job is not None:
            ids.add(job["id"])
    time.sleep(rng.uniform(0.1, 1.2))
    if ids and rng.random() < 0.3:
        victim = rng.choice(sorted(ids))
        client = ext if _try(lambda: ext.job(victim)) is not None else own
        _try(lambda: client.post(f"/v1/jobs/{victim}/cancel"))
    if rng.random() < 0.3:
        _try(lambda: admin.post("/v1/invoices/close", {}))
    time.sleep(rng.uniform(0.0, 1.0))
    if server.proc is not None and server.proc.poll() is None:
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(10)
    server.proc = None


def _check_attempts(state: Path, admin: Client, job: dict[str, Any]) -> int:
    """No overlapping runs; each attempt billed for what really ran (1 s per GPU)."""
    usage = admin.get("/v1/usage", params={"job_id": job["id"]})
    previous_end = 0.0
    checked = 0
    for attempt in job["attempts"]:
        n = attempt["attempt"]
        assert attempt["ended_at"] is not None, (job["id"], attempt)
        gpus = sum(p["gpus"] for p in attempt["placement"])
        billed = sum(u["gpu_seconds"] for u in usage if u["attempt"] == n)
        ranks = [rank_record(state, job["id"], n, r) for r in range(len(attempt["placement"]))]
        started = [r.started_at for r in ranks if r.started_at is not None]
        if not started:  # never ran: nothing billed
            assert billed <= gpus * 1.0, (job["id"], attempt, billed)
            continue
        ends = [r.ended_at for r in ranks if r.ended_at is not None]
        # killed (no exit record): the end is when the server saw it gone
        real_end = max(ends) if len(ends) == len(ranks) else attempt["ended_at"]
        real_start = min(started)
        assert real_start >= previous_end - 0.05, ("overlapping runs", job["id"], attempt)
        previous_end = real_end
        real = gpus * (real_end - real_start)
        assert abs(billed - real) <= gpus * 1.0, (job["id"], attempt, billed, real)
        checked += 1
    return checked


def _ledger_balances(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with session_factory(engine)() as s:
            rows = s.execute(
                select(
                    LedgerEntryModel.transaction_id,
                    func.sum(LedgerEntryModel.debit_usd),
                    func.sum(LedgerEntryModel.credit_usd),
                ).group_by(LedgerEntryModel.transaction_id)
            ).all()
    finally:
        engine.dispose()
    assert rows, "nothing was billed"
    for tx, debit, credit in rows:
        assert Decimal(debit) == Decimal(credit), (tx, debit, credit)


def test_chaos_kill_9_anywhere_runs_each_job_once_and_bills_what_ran(
    start_server: Start, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kills = int(os.environ.get("GIGAWATT_CHAOS_KILLS", "15"))
    seed = int(os.environ.get("GIGAWATT_CHAOS_SEED", str(random.randrange(1 << 30))))
    print(f"chaos seed {seed}, {kills} kills")
    rng = random.Random(seed)
    server, admin = start_server()
    state = server.workdir / "state"
    _, ext, _ = admin.tenant("ext")
    _, own, _ = admin.tenant("own", "internal")
    ids: set[str] = set()
    crashed_at: list[str] = []
    for i in range(kills):
        if i > 0:
            point = rng.choice((*CRASH_POINTS, None, None, None)) if i % 2 else None
            if point == "tick.before_commit" and rng.random() < 0.6:
                point = None  # it kills at the very first tick: keep it rare
            if point is None:
                monkeypatch.delenv("GIGAWATT_CRASH_POINT", raising=False)
            else:
                monkeypatch.setenv("GIGAWATT_CRASH_POINT", point)
                crashed_at.append(point)
            if not _start(server):
                continue
        _round(rng, server, ext, own, admin, ids)
    monkeypatch.delenv("GIGAWATT_CRASH_POINT", raising=False)
    server.start()
    every = admin.get("/v1/jobs", params={"limit": 1000})
    ids |= {j["id"] for j in every}
    deadline = time.monotonic() + 90
    while True:
        jobs = [admin.job(i) for i in sorted(ids)]
        if all(j["status"] in TERMINAL for j in jobs) or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert all(j["status"] in TERMINAL for j in jobs), [
        (j["id"], j["status"]) for j in jobs if j["status"] not in TERMINAL
    ]
    checked = 0
    for job in jobs:
        statuses = [a["status"] for a in job["attempts"]]
        if job["status"] == "succeeded":  # one terminal state: the last attempt's
            assert statuses[-1] == "succeeded" and statuses.count("succeeded") == 1, job
        checked += _check_attempts(state, admin, job)
    assert checked >= kills // 2, (checked, len(jobs))
    assert admin.get("/v1/fleet")["gpus_allocated"] == 0
    deadline = time.monotonic() + 10
    while leftover_processes(state) or runner_pids(state):
        assert time.monotonic() < deadline, (leftover_processes(state), runner_pids(state))
        time.sleep(0.1)
    server.stop()
    _ledger_balances(db_url)
    print(f"chaos: {len(jobs)} jobs, {checked} attempts checked, crash points {crashed_at}")
