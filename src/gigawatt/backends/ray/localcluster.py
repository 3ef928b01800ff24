"""A real Ray cluster of several nodes on this one machine, for tests and demos.

Each node is ``ray start --block`` run as the leader of its own session, with its own
``--temp-dir`` and ports, so that one node can be stopped alone (a node loss) and the whole
cluster torn down without touching any other Ray on the machine (``ray stop`` would stop
them all). GPUs are logical (``--num-gpus``) with the ``gpu_type:<TYPE>`` resource, and each
node carries the label ``gigawatt.dev/node=<name>`` to find its Ray node id.

    with LocalRayCluster() as cluster:
        cluster.add_node("head", head=True)
        cluster.add_node("w1", site="west")
        print(cluster.address)
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from gigawatt.backends.ray.placement import FLEET_NODE_PREFIX

NODE_LABEL = "gigawatt.dev/node"
READY_MARK = "block forever"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_block(width: int) -> int:
    """The first port of ``width`` consecutive ports that are free now (below the
    ephemeral range, so that ports picked by the kernel do not collide with it)."""
    for _ in range(200):
        base = random.randrange(20000, 32000 - width)
        with contextlib.ExitStack() as stack:
            try:
                for port in (base, base + width // 2, base + width - 1):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return base
    raise RuntimeError("no free block of ports for Ray workers")


def _session_members(sid: int) -> list[int]:
    """Pids of the processes in session ``sid`` (Linux /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2 :].split()
        with contextlib.suppress(IndexError, ValueError):
            if int(fields[3]) == sid:
                out.append(int(entry.name))
    return out


@dataclass
class LocalNode:
    """One ``ray start --block`` process and its files."""

    name: str
    head: bool
    temp_dir: Path
    log: Path
    proc: subprocess.Popen[bytes]

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM the node's processes (Ray notices a graceful node exit at once), SIGKILL
        what is left after ``grace_s``."""
        sid = self.proc.pid
        with contextlib.suppress(OSError):
            os.killpg(sid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and _session_members(sid):
            time.sleep(0.2)
        for pid in _session_members(sid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


@dataclass
class LocalRayCluster:
    """Start nodes with :meth:`add_node` (the first one with ``head=True``)."""

    num_cpus: int = 1
    object_store_bytes: int = 100_000_000
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="gwray-")))
    ray_exe: str = field(default_factory=lambda: str(Path(sys.executable).with_name("ray")))
    nodes: dict[str, LocalNode] = field(default_factory=dict)
    port: int = field(default_factory=_free_port)

    @property
    def address(self) -> str:
        """``HOST:PORT`` of the head (the GCS)."""
        return f"127.0.0.1:{self.port}"

    def add_node(
        self,
        name: str,
        *,
        head: bool = False,
        gpus: int = 8,
        gpu_type: str = "H100",
        site: str | None = None,
        fleet_node: str | None = None,
        timeout_s: float = 120.0,
    ) -> LocalNode:
        """Start a node with ``gpus`` logical GPUs of ``gpu_type`` and wait until it is up;
        ``fleet_node``: the fleet-file node id it stands for (see :mod:`.discovery`)."""
        temp_dir = self.root / name
        temp_dir.mkdir(parents=True, exist_ok=True)
        resources: dict[str, int] = {f"gpu_type:{gpu_type}": gpus}
        if site:
            resources[f"site:{site}"] = gpus
        if fleet_node:
            resources[f"{FLEET_NODE_PREFIX}{fleet_node}"] = 1
        workers = _port_block(100)
        args = [
            self.ray_exe, "start", "--block", "--disable-usage-stats",
            "--node-ip-address", "127.0.0.1",
            "--num-cpus", str(self.num_cpus), "--num-gpus", str(gpus),
            "--resources", json.dumps(resources),
            "--labels", f"{NODE_LABEL}={name}",
            "--object-store-memory", str(self.object_store_bytes),
            "--temp-dir", str(temp_dir),
            "--node-manager-port", str(_free_port()),
            "--object-manager-port", str(_free_port()),
            "--min-worker-port", str(workers), "--max-worker-port", str(workers + 99),
            "--dashboard-agent-listen-port", str(_free_port()),
            "--dashboard-agent-grpc-port", str(_free_port()),
            "--runtime-env-agent-port", str(_free_port()),
            "--metrics-export-port", str(_free_port()),
            "--include-log-monitor=false",
        ]  # fmt: skip
        if head:
            args += ["--head", "--port", str(self.port), "--include-dashboard=false"]
            args += ["--dashboard-port", str(_free_port())]
        else:
            args += ["--address", self.address]
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        env["GIGAWATT_RAY_WORKDIR"] = str(self.root / "work")  # the ranks' logs (actor.py)
        log = temp_dir / "ray-start.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        node = LocalNode(name, head, temp_dir, log, proc)
        self.nodes[name] = node
        deadline = time.monotonic() + timeout_s
        while READY_MARK not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:]
                node.stop(grace_s=1)
                raise RuntimeError(f"ray node {name} did not start:\n{tail}")
            time.sleep(0.2)
        return node

    def stop_node(self, name: str) -> None:
        """Stop one node alone (a node loss, from the cluster's point of view)."""
        self.nodes.pop(name).stop()

    def shutdown(self) -> None:
        """Stop every node (workers first) and delete the temp dirs."""
        for name in sorted(self.nodes, key=lambda n: self.nodes[n].head):
            self.nodes.pop(name).stop(grace_s=2)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalRayCluster:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()
