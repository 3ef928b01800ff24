"""Gigawatt's gateway side by side with LiteLLM's proxy, in front of the same upstream.

Not part of ``make bench`` (LiteLLM is not a dependency): install it in its own virtual
environment and point ``LITELLM_BIN`` at its ``litellm`` command::

    python3 -m venv /tmp/llv && /tmp/llv/bin/pip install 'litellm[proxy]'
    LITELLM_BIN=/tmp/llv/bin/litellm .venv/bin/python -m benchmarks.compare_litellm

Both proxies get the same instant upstream (``bench_gateway``'s) and the same requests:
added latency at P50/P99 (each request sent straight and through the proxy, alternately),
proxy CPU per request, and the most requests per second 32 clients get through.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from benchmarks.bench_gateway import (
    ADMIN,
    SEQUENTIAL,
    WARMUP,
    _cpu_s,
    _free_port,
    _paired,
    _percentiles,
    _setup,
    _throughput,
    _wait,
)

LITELLM_KEY = "sk-bench-master"


def _litellm(port: int, upstream: str, work: Path) -> subprocess.Popen[bytes]:
    config = work / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: instant\n"
        "    litellm_params:\n"
        "      model: openai/instant\n"
        f"      api_base: {upstream}/v1\n"
        "      api_key: none\n"
        f"general_settings:\n  master_key: {LITELLM_KEY}\n",
        encoding="utf-8",
    )
    binary = os.environ.get("LITELLM_BIN", "litellm")
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
    return subprocess.Popen(
        [binary, "--config", str(config), "--port", str(port), "--num_workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _measure(name: str, url: str, upstream: str, headers: dict[str, str], pid: int) -> None:
    body = json.dumps(
        {"model": "instant", "max_tokens": 3, "messages": [{"role": "user", "content": "hi"}]}
    ).encode()
    with httpx.Client(trust_env=False, timeout=30) as client:
        cpu0 = _cpu_s(pid)
        direct, via = _paired(
            client, f"{upstream}/v1/chat/completions", f"{url}/v1/chat/completions", body, headers
        )
        cpu = (_cpu_s(pid) - cpu0) / (WARMUP + SEQUENTIAL)
    d50, d99 = _percentiles(direct)
    g50, g99 = _percentiles(via)
    rps = asyncio.run(_throughput(f"{url}/v1/chat/completions", body, headers))
    print(
        f"{name}: added P50 {(g50 - d50) * 1e3:.2f} ms P99 {(g99 - d99) * 1e3:.2f} ms; "
        f"CPU {cpu * 1e3:.2f} ms/request; max {rps:.0f} req/s with 32 clients"
    )


def main() -> None:
    """Start the upstream, both proxies; measure each; print the figures."""
    work = Path(tempfile.mkdtemp(prefix="compare-litellm-"))
    up, gw, ll = _free_port(), _free_port(), _free_port()
    upstream, gateway, litellm = (f"http://127.0.0.1:{p}" for p in (up, gw, ll))
    env = {**os.environ, "GIGAWATT_ADMIN_KEY": ADMIN, "HOME": str(work)}
    serve = [sys.executable, "-c", "from gigawatt.cli.main import app; app()", "serve"]
    procs = [
        subprocess.Popen([sys.executable, "-m", "benchmarks.bench_gateway", "upstream", str(up)]),
        subprocess.Popen(
            [
                *serve,
                "--port",
                str(gw),
                "--backend",
                "fake",
                "--log-level",
                "warning",
                "--db",
                f"sqlite:///{work / 'gw.db'}",
                "--state-dir",
                str(work / "state"),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
        ),
        _litellm(ll, upstream, work),
    ]
    try:
        _wait(f"{upstream}/", procs[0])
        _wait(f"{gateway}/healthz", procs[1])
        _wait(f"{litellm}/health/liveliness", procs[2])
        _measure("gigawatt", gateway, upstream, _setup(gateway, upstream), procs[1].pid)
        bearer = {"Authorization": f"Bearer {LITELLM_KEY}", "content-type": "application/json"}
        _measure("litellm", litellm, upstream, bearer, procs[2].pid)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(20)


if __name__ == "__main__":
    main()
