"""``python -m gigawatt.inference.worker --model-path DIR [--port 0] [--register URL …]``.

Loads the model (local files only), listens on ``--host``/``--port`` (0: a free port), prints
one JSON line ``{"event": "ready", "url": …}`` to stdout, and, with ``--register``, announces
its URL to the gateway (``X-Replica-Token`` from ``GIGAWATT_REPLICA_TOKEN``). SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator

import httpx
import uvicorn
from starlette.applications import Starlette

from gigawatt.inference.worker.engine import GenerationEngine
from gigawatt.inference.worker.server import Worker, create_worker_app

log = logging.getLogger("gigawatt.inference.worker")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m gigawatt.inference.worker")
    p.add_argument("--model-path", required=True, help="local Hugging Face model directory")
    p.add_argument("--model-id", default=None, help="name clients use (default: directory name)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--advertise-host", default=None, help="host in the registered URL")
    p.add_argument("--port", type=int, default=0, help="0: any free port")
    p.add_argument("--max-batch-size", type=int, default=8)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--register", default=None, help="gateway URL to announce this replica to")
    p.add_argument("--replica-id", default=None)
    return p.parse_args(argv)


async def announce(register: str, replica_id: str, url: str, token: str) -> None:
    """Tell the gateway this replica is ready (retrying for about a minute)."""
    async with httpx.AsyncClient(timeout=10.0, trust_env=False) as client:
        for attempt in range(30):
            try:
                r = await client.post(
                    register,
                    json={"replica_id": replica_id, "url": url},
                    headers={"x-replica-token": token},
                )
                if r.status_code < 500:
                    if r.status_code >= 400:
                        log.error("registration refused: HTTP %s %s", r.status_code, r.text)
                    return
            except httpx.HTTPError as exc:
                log.warning("registration attempt %d failed: %s", attempt + 1, exc)
            await asyncio.sleep(2.0)


def main(argv: list[str] | None = None) -> int:
    """Run the worker until SIGTERM / SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.register and not args.replica_id:
        print("--register needs --replica-id", file=sys.stderr)
        return 2
    if not os.path.isdir(args.model_path):
        print(f"no model directory {args.model_path}", file=sys.stderr)
        return 2
    model_id = args.model_id or os.path.basename(os.path.normpath(args.model_path))
    engine = GenerationEngine(args.model_path, args.max_batch_size, args.device)
    engine.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(2048)  # connections queue from now on, even before uvicorn serves them
    port = sock.getsockname()[1]
    url = f"http://{args.advertise_host or args.host}:{port}"

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        task = None
        if args.register:
            token = os.environ.get("GIGAWATT_REPLICA_TOKEN", "")
            task = asyncio.create_task(announce(args.register, args.replica_id, url, token))
        print(json.dumps({"event": "ready", "url": url, "model": model_id}), flush=True)
        yield
        if task is not None:
            task.cancel()
        engine.stop()

    app = create_worker_app(Worker(engine, model_id), lifespan)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
