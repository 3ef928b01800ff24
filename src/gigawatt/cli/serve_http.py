"""The HTTP side of ``gigawatt serve``: bind the port first, then run uvicorn on that socket.

Binding before anything is printed lets ``serve`` say "port already in use" and exit non-zero
instead of announcing a server that never listens. uvicorn's keep-alive timeout defaults to
75 s, longer than common clients' 5 s pool expiry, so the server never closes an idle
kept-alive connection under a request a client has just sent on it.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

#: Seconds an idle kept-alive connection stays open (clients such as httpx or urllib3 expire
#: pooled connections after 5 s; the server must outlast them).
DEFAULT_KEEP_ALIVE_S = 75
DEFAULT_THREADS = 40
DEFAULT_BACKLOG = 2048


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """uvicorn and worker-pool knobs of ``gigawatt serve``."""

    host: str = "127.0.0.1"
    port: int = 8000
    keep_alive_s: int = DEFAULT_KEEP_ALIVE_S
    threads: int = DEFAULT_THREADS
    limit_concurrency: int | None = None
    backlog: int = DEFAULT_BACKLOG
    graceful_shutdown_s: int | None = None
    log_level: str = "info"
    #: One log line per request (uvicorn's access log); off for benchmarks and busy servers.
    access_log: bool = True


class PortInUse(Exception):
    """The address cannot be bound (already in use, or not ours to bind)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def bind(host: str, port: int, backlog: int = DEFAULT_BACKLOG) -> socket.socket:
    """A listening socket on ``host:port``; :class:`PortInUse` with a readable message else."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortInUse(f"cannot resolve host {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            message = (
                f"port {port} on {host} is already in use (another gigawatt serve?); "
                "stop it or choose another port with --port or GIGAWATT_PORT"
            )
        elif exc.errno == errno.EACCES:
            message = f"not allowed to listen on {host}:{port} (ports below 1024 need root)"
        else:
            message = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        raise PortInUse(message) from None
    return sock


def run(app: FastAPI, sock: socket.socket, http: HttpSettings) -> None:
    """Serve ``app`` on the bound ``sock`` until SIGINT/SIGTERM."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=http.host,
        port=http.port,
        log_level=http.log_level.lower(),
        timeout_keep_alive=http.keep_alive_s,
        limit_concurrency=http.limit_concurrency,
        backlog=http.backlog,
        timeout_graceful_shutdown=http.graceful_shutdown_s,
        access_log=http.access_log,
    )
    server = uvicorn.Server(config)

    async def serve() -> None:
        import anyio.to_thread

        # Synchronous endpoints (the API's database work) run in this many threads.
        anyio.to_thread.current_default_thread_limiter().total_tokens = http.threads
        await server.serve(sockets=[sock])

    asyncio.run(serve())
