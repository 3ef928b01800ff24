"""The client commands (``gigawatt tenants|keys|jobs|usage|invoices``) against a real server."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from e2e_support import ADMIN_KEY, Client, Server
from typer.testing import CliRunner

from gigawatt.cli.main import app

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _cli(url: str, key: str | None, *args: str) -> tuple[int, str, str]:
    env = {"GIGAWATT_URL": url, "GIGAWATT_API_KEY": key or ""}
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def _json(url: str, key: str, *args: str) -> Any:
    # options go before "--": what follows it is the job's own command line
    cut = args.index("--") if "--" in args else len(args)
    code, out, err = _cli(url, key, *args[:cut], "--format", "json", *args[cut:])
    assert code == 0, err
    return json.loads(out)


def test_cli_tour(start_server: Callable[..., tuple[Server, Client]]) -> None:
    server, _ = start_server()
    url = server.url
    tenant = _json(url, ADMIN_KEY, "tenants", "create", "acme", "--kind", "external")
    assert tenant["name"] == "acme" and tenant["kind"] == "external"
    key = _json(url, ADMIN_KEY, "keys", "create", tenant["id"])["key"]

    job = _json(
        url, key, "jobs", "submit", "--name", "hello", "--gpus", "8", "--tier", "on_demand",
        "--env", "GREETING=hi", "--", "python", "-c",
        "import os; print(os.environ['GREETING'], os.environ['GIGAWATT_GPUS'])",
    )  # fmt: skip
    assert job["gpus"] == 8 and job["status"] in ("queued", "starting", "running", "succeeded")
    deadline = time.monotonic() + 30
    while _json(url, key, "jobs", "show", job["id"])["status"] != "succeeded":
        assert time.monotonic() < deadline, "job did not succeed"
        time.sleep(0.2)

    code, out, err = _cli(url, key, "jobs", "logs", job["id"])
    assert code == 0 and "hi 8" in out, (out, err)
    code, out, _ = _cli(url, key, "jobs", "list")
    assert code == 0 and "hello" in out and "succeeded" in out

    usage = _json(url, key, "usage")
    assert [u["job_id"] for u in usage] == [job["id"]]
    assert usage[0]["gpus"] == 8 and usage[0]["gpu_seconds"] > 0

    closed = _json(url, ADMIN_KEY, "invoices", "close")
    assert closed["created"]
    invoices = _json(url, key, "invoices", "list")
    assert len(invoices) == 1
    shown = _json(url, key, "invoices", "show", invoices[0]["id"])
    assert shown["lines"][0]["gpu_type"] == "H100" and shown["lines"][0]["tier"] == "on_demand"
    code, out, _ = _cli(url, key, "invoices", "show", invoices[0]["id"])
    assert code == 0 and "GPU-hour" in out

    # a long job is cancelled through the CLI
    sleeper = _json(url, key, "jobs", "submit", "--", "python", "-c", "import time; time.sleep(60)")
    assert _json(url, key, "jobs", "cancel", sleeper["id"])["id"] == sleeper["id"]
    deadline = time.monotonic() + 30
    while _json(url, key, "jobs", "show", sleeper["id"])["status"] != "cancelled":
        assert time.monotonic() < deadline, "job was not cancelled"
        time.sleep(0.2)


def test_cli_errors_are_one_line_and_nonzero(
    start_server: Callable[..., tuple[Server, Client]],
) -> None:
    server, _ = start_server()
    code, out, err = _cli(server.url, "not-a-key", "jobs", "list")
    assert code == 2 and "error:" in err and "Traceback" not in err + out
    code, _, err = _cli(server.url, ADMIN_KEY, "tenants", "create", "x", "--kind", "martian")
    assert code == 2 and "error:" in err
    code, _, err = _cli(server.url, ADMIN_KEY, "jobs", "submit", "--env", "NOEQUALS", "--", "true")
    assert code == 2 and "NAME=VALUE" in err
    code, _, err = _cli("http://127.0.0.1:9", ADMIN_KEY, "jobs", "list")
    assert code == 1 and "cannot reach" in err
