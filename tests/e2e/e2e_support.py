"""A real ``gigawatt serve`` process on a free port, driven over real HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

ADMIN_KEY = "e2e-admin-key"
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_fleet(path: Path, nodes: int = 2, per_node: int = 8, power_mw: float = 1.0) -> Path:
    """A one-site H100 fleet file."""
    fleet = {
        "sites": [
            {
                "name": "e2e",
                "it_power_mw": power_mw,
                "pue": 1.2,
                "node_groups": [
                    {"name": "h100", "count": nodes, "gpu_type": "H100", "gpus_per_node": per_node}
                ],
            }
        ]
    }
    path.write_text(yaml.safe_dump(fleet), encoding="utf-8")
    return path


@dataclass
class Server:
    """One server process; restartable on the same database and state directory."""

    db_url: str
    workdir: Path
    fleet: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"server-{self.starts}.log"

    def start(self, timeout: float = 60.0) -> None:
        self.starts += 1
        args = [
            PY, "-c", "from gigawatt.cli.main import app; app()", "serve",
            "--port", str(self.port), "--db", self.db_url,
            "--state-dir", str(self.workdir / "state"), "--fleet", str(self.fleet),
            "--grace-s", "1", "--tick-s", "0.1", "--lease-ttl-s", "2",
        ]  # fmt: skip
        env = {**os.environ, "GIGAWATT_ADMIN_KEY": ADMIN_KEY, "HOME": str(self.workdir)}
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server did not come up: {self.log_path.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def logs(self) -> str:
        return "".join(
            (self.workdir / f"server-{i}.log").read_text(errors="replace")
            for i in range(1, self.starts + 1)
        )


class Client:
    """An HTTP client bound to one key."""

    def __init__(self, url: str, key: str) -> None:
        self.url = url
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    def get(self, path: str, **kw: Any) -> Any:
        r = self.http.get(path, **kw)
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r.json()

    def post(self, path: str, json: Any = None, expect: int = 200) -> Any:
        r = self.http.post(path, json=json)
        assert r.status_code == expect, (path, r.status_code, r.text)
        return r.json()

    def tenant(self, name: str, kind: str = "external") -> tuple[str, Client, str]:
        """(admin only) create a tenant and a key: ``(tenant_id, client, key)``."""
        tid = self.post("/v1/tenants", {"name": name, "kind": kind}, expect=201)["id"]
        key = self.post(f"/v1/tenants/{tid}/keys", expect=201)["key"]
        return tid, Client(self.url, key), key

    def submit(self, command: list[str], **fields: Any) -> dict[str, Any]:
        body = {"name": "e2e", "command": command, "gpus": 1, "gpu_type": "H100", "tier": "spot"}
        body.update(fields)
        job: dict[str, Any] = self.post("/v1/jobs", body, expect=201)
        return job

    def job(self, job_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.get(f"/v1/jobs/{job_id}")
        return found

    def wait(
        self, job_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 30.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        job = self.job(job_id)
        while not done(job):
            assert time.monotonic() < deadline, f"timed out; job is {job}"
            time.sleep(0.1)
            job = self.job(job_id)
        return job

    def wait_status(self, job_id: str, *statuses: str, timeout: float = 30.0) -> dict[str, Any]:
        return self.wait(job_id, lambda j: j["status"] in statuses, timeout)


def assert_billed_as_allocated(
    client: Client, job: dict[str, Any], tolerance_s: float = 1.0
) -> None:
    """Billed GPU-seconds = GPUs x allocated seconds, per ended attempt (within 1 s)."""
    usage = client.get("/v1/usage", params={"job_id": job["id"]})
    assert job["attempts"], job
    for attempt in job["attempts"]:
        if attempt["ended_at"] is None:
            continue
        gpus = sum(p["gpus"] for p in attempt["placement"])
        allocated = gpus * (attempt["ended_at"] - attempt["started_at"])
        billed = sum(u["gpu_seconds"] for u in usage if u["attempt"] == attempt["attempt"])
        assert abs(billed - allocated) <= gpus * tolerance_s, (attempt, billed, allocated)
