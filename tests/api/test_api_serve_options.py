"""``gigawatt serve`` options of the submission path, on real server processes over one
SQLite database: ``--no-control-loop`` serves the API only (what it queues waits for a
server with the loop), ``--no-access-log`` logs no line per request."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from server_thread import free_port

ADMIN = "serve-options-admin"
CLI = [sys.executable, "-c", "from gigawatt.cli.main import app; app()", "serve"]


def _serve(tmp_path: Path, *options: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    args = [*CLI, "--port", str(port), "--db", f"sqlite:///{tmp_path / 'g.db'}"]
    args += ["--backend", "fake", "--state-dir", str(tmp_path / f"state{port}"), *options]
    env = {**os.environ, "HOME": str(tmp_path), "GIGAWATT_ADMIN_KEY": ADMIN}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes]) -> str:
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    return out.decode(errors="replace")


def _status(base: str, key: str, job_id: str) -> str:
    job = httpx.get(f"{base}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"})
    assert job.status_code == 200, job.text
    status: str = job.json()["status"]
    return status


@pytest.mark.slow
def test_an_api_only_server_queues_and_a_server_with_the_loop_runs(tmp_path: Path) -> None:
    api_only, base = _serve(tmp_path, "--no-control-loop", "--no-access-log")
    admin = {"Authorization": f"Bearer {ADMIN}"}
    try:
        tenant = httpx.post(
            f"{base}/v1/tenants", json={"name": "t", "kind": "internal"}, headers=admin
        )
        key = httpx.post(f"{base}/v1/tenants/{tenant.json()['id']}/keys", headers=admin).json()[
            "key"
        ]
        body = {"name": "x", "command": ["true"], "gpus": 1, "gpu_type": "H100", "tier": "spot"}
        submitted = httpx.post(
            f"{base}/v1/jobs", json=body, headers={"Authorization": f"Bearer {key}"}
        )
        assert submitted.status_code == 201, submitted.text
        job_id = submitted.json()["id"]
        time.sleep(1.0)  # four ticks' worth: no loop here, so it stays queued
        assert _status(base, key, job_id) == "queued"
        with_loop, other = _serve(tmp_path)  # and the access log, by default
        try:
            deadline = time.monotonic() + 30
            while _status(other, key, job_id) == "queued":
                assert time.monotonic() < deadline, "the server with the loop did not start it"
                time.sleep(0.2)
        finally:
            logged = _stop(with_loop)
    finally:
        quiet = _stop(api_only)
    assert f'"GET /v1/jobs/{job_id} HTTP/1.1" 200' in logged, logged[-2000:]
    assert '"POST /v1/jobs HTTP/1.1"' not in quiet and 'HTTP/1.1" 200' not in quiet, quiet
    assert "Traceback" not in quiet + logged
