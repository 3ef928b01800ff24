"""LocalBackend multi-node placements: one process per node entry, torch.distributed env."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from backend_specs import make_spec
from test_backend_local import wait

from gigawatt.backends.local import LocalBackend

PY = sys.executable
SHOW = (
    "import os; print(' '.join(os.environ[k] for k in "
    "('RANK', 'WORLD_SIZE', 'NODE_RANK', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT', "
    "'GIGAWATT_NODE', 'GIGAWATT_GPUS')))"
)


def test_each_rank_sees_its_rank_and_the_rendezvous(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path, gpus=[])
    h = backend.start(make_spec([PY, "-c", SHOW], nodes=3, gpus_per_node=8))
    assert wait(backend, h).succeeded
    text = backend.logs("job-1", 1)
    blocks = text.split("==> rank ")[1:]
    assert len(blocks) == 3
    ports = set()
    for rank, block in enumerate(blocks):
        header, line = block.splitlines()[:2]
        assert header == f"{rank} <=="
        r, world, node_rank, local, addr, port, node, gpus = line.split()
        assert (r, world, node_rank, local, addr) == (str(rank), "3", str(rank), "0", "127.0.0.1")
        assert node == f"local/h100-{rank:04d}" and gpus == "24"
        ports.add(port)
    assert len(ports) == 1


def test_ranks_can_rendezvous_over_tcp(tmp_path: Path) -> None:
    # Rank 0 listens on MASTER_PORT, rank 1 connects: what torch.distributed's TCPStore does.
    code = (
        "import os, socket, time\n"
        "port = int(os.environ['MASTER_PORT'])\n"
        "if os.environ['RANK'] == '0':\n"
        "    s = socket.create_server(('127.0.0.1', port)); c, _ = s.accept()\n"
        "    print('got', c.recv(10).decode())\n"
        "else:\n"
        "    for _ in range(200):\n"
        "        try: c = socket.create_connection(('127.0.0.1', port)); break\n"
        "        except OSError: time.sleep(0.05)\n"
        "    c.sendall(b'hello')\n"
    )
    backend = LocalBackend(tmp_path, gpus=[])
    h = backend.start(make_spec([PY, "-c", code], nodes=2))
    assert wait(backend, h).succeeded
    assert "got hello" in backend.logs("job-1", 1)


def test_one_failing_rank_fails_the_attempt_and_stops_the_others(tmp_path: Path) -> None:
    code = "import os, sys, time\nif os.environ['RANK'] == '1': sys.exit(3)\ntime.sleep(60)"
    backend = LocalBackend(tmp_path, gpus=[])
    h = backend.start(make_spec([PY, "-c", code], nodes=2))
    t0 = time.monotonic()
    status = wait(backend, h, timeout=5)
    assert time.monotonic() - t0 < 5
    assert (status.exit_code, status.signalled) == (3, False)
    assert status.reason == "rank 1: exit code 3"
    assert not backend.adopt(h)


def test_stubborn_rank_is_killed_after_the_rank_grace(tmp_path: Path) -> None:
    code = (
        "import os, signal, sys, time\n"
        "if os.environ['RANK'] == '1': time.sleep(0.5); sys.exit(2)\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    )
    backend = LocalBackend(tmp_path, gpus=[], rank_grace_s=0.5)
    h = backend.start(make_spec([PY, "-c", code], nodes=2))
    status = wait(backend, h, timeout=10)
    assert status.exit_code == 2 and status.reason == "rank 1: exit code 2"


def test_logs_of_many_ranks_are_bounded(tmp_path: Path) -> None:
    code = "for i in range(20000): print('y' * 99)"
    backend = LocalBackend(tmp_path, gpus=[], max_log_bytes=64 * 1024)
    h = backend.start(make_spec([PY, "-c", code], nodes=2))
    assert wait(backend, h).succeeded
    text = backend.logs("job-1", 1)
    assert len(text.encode()) <= 64 * 1024
    assert text.count("==> rank ") == 2
