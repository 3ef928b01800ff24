"""The inference gateway's added latency (P50/P99) and its maximum requests per second.

Processes: an instant OpenAI-compatible upstream (a bare ASGI app under uvicorn), a real
``gigawatt serve --backend fake`` on a fresh SQLite database (or ``--db URL``), and this one as
the client. Each request is sent straight to the upstream and through the gateway; the
difference of the latency percentiles is what the gateway adds (authentication, validation,
limits, proxying, metering). ``python -m benchmarks.bench_gateway upstream PORT`` runs only the
upstream.

The gateway takes its settings from the environment as ``gigawatt serve`` does
(``GIGAWATT_INFERENCE_DB_IN_THREAD=false`` …); ``BENCH_BUDGET_USD`` gives the benchmark's
tenant a budget, so every request also reserves and settles its maximum cost.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ADMIN = "bench-admin-key"
SEQUENTIAL = 1500
WARMUP = 200
CONCURRENCY = 32
LOAD_S = 8.0
_REPLY = {
    "id": "x",
    "object": "chat.completion",
    "created": 1,
    "model": "instant",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "ok ok ok"},
        }
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
}
_BODY = json.dumps(_REPLY).encode()
_CHUNKS = b"".join(
    b'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"instant",'
    b'"choices":[{"index":0,"delta":{"content":"ok "},"finish_reason":null}]}\n\n'
    for _ in range(3)
) + (
    b'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"instant",'
    b'"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}\n\n'
    b"data: [DONE]\n\n"
)


async def upstream_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answer every POST at once: a chat completion, or its stream when ``"stream":true``."""
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    stream = b'"stream":true' in body
    kind = b"text/event-stream" if stream else b"application/json"
    payload = _CHUNKS if stream else _BODY
    headers = [(b"content-type", kind), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (Linux ``/proc``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _paired(
    client: httpx.Client, direct: str, via: str, body: bytes, headers: dict[str, str]
) -> tuple[list[float], list[float]]:
    """Latencies of the same request sent straight and through the gateway, alternately, so
    both series see the same machine load."""
    out: tuple[list[float], list[float]] = ([], [])
    plain = {"content-type": "application/json"}
    for i in range(WARMUP + SEQUENTIAL):
        for series, url, hdrs in ((out[0], direct, plain), (out[1], via, headers)):
            t0 = time.perf_counter()
            r = client.post(url, content=body, headers=hdrs)
            r.read()
            elapsed = time.perf_counter() - t0
            if r.status_code != 200:
                raise RuntimeError(f"{url}: HTTP {r.status_code} {r.text[:200]}")
            if i >= WARMUP:
                series.append(elapsed)
    return out


async def _throughput(url: str, body: bytes, headers: dict[str, str]) -> float:
    done = 0
    stop = time.perf_counter() + LOAD_S
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=30, trust_env=False) as client:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                r = await client.post(url, content=body, headers=headers)
                if r.status_code == 200:
                    done += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return done / (time.perf_counter() - t0)


def _setup(gateway: str, upstream: str) -> dict[str, str]:
    admin = httpx.Client(base_url=gateway, headers={"Authorization": f"Bearer {ADMIN}"})
    tenant = admin.post("/v1/tenants", json={"name": f"bench{os.getpid()}", "kind": "external"})
    key = admin.post(f"/v1/tenants/{tenant.json()['id']}/keys").json()["key"]
    model = {
        "id": "instant",
        "upstream_url": f"{upstream}/v1",
        "price_per_million_input_tokens": "1",
        "price_per_million_output_tokens": "2",
    }
    admin.post("/v1/models", json=model).raise_for_status()
    budget = os.environ.get("BENCH_BUDGET_USD")  # measure with budget reservations on
    if budget:
        limit = {"scope": "tenant", "id": tenant.json()["id"], "budget_usd": budget}
        admin.put("/v1/limits", json=limit).raise_for_status()
    return {"Authorization": f"Bearer {key}", "content-type": "application/json"}


def main(db: str | None = None) -> None:
    """Start the upstream and the gateway, measure, print the figures."""
    work = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    up_port, gw_port = _free_port(), _free_port()
    upstream = f"http://127.0.0.1:{up_port}"
    gateway = f"http://127.0.0.1:{gw_port}"
    env = {**os.environ, "GIGAWATT_ADMIN_KEY": ADMIN, "HOME": str(work)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bench_gateway", "upstream", str(up_port)]
        ),
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from gigawatt.cli.main import app; app()",
                "serve",
                "--port",
                str(gw_port),
                "--backend",
                "fake",
                "--log-level",
                "warning",
                "--db",
                db or f"sqlite:///{work / 'gw.db'}",
                "--state-dir",
                str(work / "state"),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
        ),
    ]
    try:
        _wait(f"{upstream}/", procs[0])
        _wait(f"{gateway}/healthz", procs[1])
        headers = _setup(gateway, upstream)
        for stream in (False, True):
            body = json.dumps(
                {
                    "model": "instant",
                    "stream": stream,
                    "max_tokens": 3,
                    "messages": [{"role": "user", "content": "hi there"}],
                }
            ).encode()
            with httpx.Client(trust_env=False, timeout=30) as client:
                cpu0 = _cpu_s(procs[1].pid)
                direct, via = _paired(
                    client,
                    f"{upstream}/v1/chat/completions",
                    f"{gateway}/v1/chat/completions",
                    body,
                    headers,
                )
                cpu = (_cpu_s(procs[1].pid) - cpu0) / (WARMUP + SEQUENTIAL)
            d50, d99 = _percentiles(direct)
            g50, g99 = _percentiles(via)
            rps = asyncio.run(_throughput(f"{gateway}/v1/chat/completions", body, headers))
            label = "streaming" if stream else "non-streaming"
            print(
                f"{label}: direct P50 {d50 * 1e3:.2f} ms P99 {d99 * 1e3:.2f} ms; "
                f"via gateway P50 {g50 * 1e3:.2f} ms P99 {g99 * 1e3:.2f} ms; "
                f"added P50 {(g50 - d50) * 1e3:.2f} ms P99 {(g99 - d99) * 1e3:.2f} ms "
                f"(mean {(statistics.fmean(via) - statistics.fmean(direct)) * 1e3:.2f} ms); "
                f"gateway CPU {cpu * 1e3:.2f} ms/request; "
                f"max {rps:.0f} req/s with {CONCURRENCY} clients"
            )
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(20)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "upstream":
        import uvicorn

        uvicorn.run(upstream_app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else None)
