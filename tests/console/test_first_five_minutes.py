"""The first five minutes with ``gigawatt serve``: the port from the environment, the
console URL printed, a busy port refused before "serving", idle kept-alive connections that
outlive a client's 5 s pool, and ``invoices close`` printing a whole table when piped."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from e2e_support import ADMIN_KEY, Client, free_port, write_fleet

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CLI = [sys.executable, "-c", "from gigawatt.cli.main import app; app()"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIGAWATT_")}
    env.update(HOME=str(tmp_path), GIGAWATT_ADMIN_KEY=ADMIN_KEY, GIGAWATT_ISOLATION="none", **extra)
    return env


def _get(sock: socket.socket) -> bytes:
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_serve_from_env_keep_alive_busy_port_and_invoice_table(tmp_path: Path) -> None:
    port = free_port()
    fleet = write_fleet(tmp_path / "fleet.yaml")
    args = [*CLI, "serve", "--db", f"sqlite:///{tmp_path / 'g.db'}", "--fleet", str(fleet)]
    args += ["--state-dir", str(tmp_path / "state"), "--tick-s", "0.1", "--grace-s", "1"]
    env = _env(tmp_path, GIGAWATT_PORT=str(port), GIGAWATT_HOST="127.0.0.1")
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        admin = Client(f"http://127.0.0.1:{port}", ADMIN_KEY)
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                admin.get("/healthz")
                break
            except Exception:
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.1)
        out = (tmp_path / "serve.log").read_text()
        assert f"serving on http://127.0.0.1:{port}" in out
        assert f"Console: http://127.0.0.1:{port}/" in out

        # An idle kept-alive connection is still open after a client pool's 5 s expiry.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            assert _get(conn).startswith(b"HTTP/1.1 200")
            time.sleep(6)
            assert _get(conn).startswith(b"HTTP/1.1 200")

        # A second server on the same port says so and exits before "serving".
        busy = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
        assert busy.returncode == 1
        assert f"port {port} on 127.0.0.1 is already in use" in busy.stderr
        assert "Traceback" not in busy.stderr and "serving" not in busy.stdout
        assert busy.stderr.count("\n") == 1

        # invoices close prints a table (not JSON), whole when piped, even with COLUMNS=80.
        _, tenant, _ = admin.tenant("a-tenant-with-a-rather-long-name-for-columns")
        job = tenant.submit([sys.executable, "-c", "pass"], tier="on_demand")
        tenant.wait_status(job["id"], "succeeded")
        cli_env = _env(
            tmp_path,
            GIGAWATT_URL=f"http://127.0.0.1:{port}",
            GIGAWATT_API_KEY=ADMIN_KEY,
            COLUMNS="80",
        )
        closed = subprocess.run(
            [*CLI, "invoices", "close"], env=cli_env, capture_output=True, text=True, timeout=60
        )
        assert closed.returncode == 0, closed.stderr
        text = closed.stdout
        assert not text.lstrip().startswith("{"), text
        assert "1 new invoice(s)" in text and "total_usd" in text, text
        invoice = admin.get("/v1/invoices")[0]
        row = next(line for line in text.splitlines() if invoice["id"] in line)
        assert invoice["tenant_id"] in row and invoice["period"] in row, row
        assert len(row) > 80 and "…" not in text
    finally:
        server.terminate()
        server.wait(20)
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
