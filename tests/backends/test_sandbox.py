"""The local backend's sandbox with real bubblewrap, real cgroups and real processes."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from backend_specs import make_spec
from test_backend_local import wait, wait_for_log

from gigawatt.backends import procs
from gigawatt.backends import sandbox_cgroup as cgroup
from gigawatt.backends.local import LocalBackend
from gigawatt.backends.runner import DROPPED
from gigawatt.backends.sandbox import DEFAULT_UID_BASE, SandboxPolicy

PY = sys.executable
NEEDS_BWRAP = pytest.mark.skipif(
    not SandboxPolicy(Path("/tmp/gigawatt-probe")).probe().ok,
    reason="bubblewrap cannot run here (make system-deps installs it)",
)


def marker_processes(marker: str) -> list[int]:
    """Host pids whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline:
            found.append(int(entry.name))
    return found


def sandboxed(command: list[str], tenant: str = "acme", **kw: object) -> object:
    return replace(make_spec(command, **kw), tenant_id=tenant, isolate=True)  # type: ignore[arg-type]


PROBE = r"""
import json, os, socket, sys
out = {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(), "cwd": os.getcwd(),
       "home": os.environ.get("HOME"), "host": socket.gethostname(),
       "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
       "env": sorted(os.environ), "tmp": os.listdir("/tmp")}
for name, path in json.loads(sys.argv[1]).items():
    try:
        if os.path.isdir(path):
            out[name] = "listed:" + ",".join(os.listdir(path))
        else:
            out[name] = "read:" + open(path).read()[:50]
    except OSError as exc:
        out[name] = "denied:" + type(exc).__name__
open("mine.txt", "w").write("ok")
print(json.dumps(out))
"""


@NEEDS_BWRAP
def test_sandboxed_job_is_its_tenants_user_alone_in_its_namespaces(tmp_path: Path) -> None:
    state = tmp_path / "state"
    data = tmp_path / "data"
    data.mkdir()
    (data / "gigawatt.db").write_text("SECRET-DB")
    backend = LocalBackend(state, gpus=[], hide=[data], base_env={"PATH": os.environ["PATH"]})
    other = backend.start(sandboxed([PY, "-c", "print('B-SECRET-LOG')"], "other", job_id="b"))
    assert wait(backend, other).succeeded
    (state / "jobs" / "b" / "attempt-1" / "work" / "b-file").write_text("B-SECRET-WORK")
    targets = {
        "db": str(data / "gigawatt.db"),
        "state": str(state),
        "other_log": str(state / "jobs" / "b" / "attempt-1" / "rank-0.log"),
        "other_work": str(state / "jobs" / "b" / "attempt-1" / "work" / "b-file"),
        "uids": str(state / "sandbox" / "uids.json"),
        "root": "/root",
        "shadow": "/etc/shadow",
    }
    env = {"MY_SECRET": "only-mine"}
    h = backend.start(sandboxed([PY, "-c", PROBE, json.dumps(targets)], env=env, job_id="a"))
    status = wait(backend, h)
    log = backend.logs("a", 1)
    assert status.succeeded, log
    out = json.loads(log.strip().splitlines()[-1])
    uids = json.loads((state / "sandbox" / "uids.json").read_text())
    assert out["uid"] == out["gid"] == DEFAULT_UID_BASE + uids["acme"] and out["groups"] == []
    assert uids["other"] != uids["acme"]  # one OS user per tenant
    work = state / "jobs" / "a" / "attempt-1" / "work"
    assert out["cwd"] == out["home"] == str(work)
    assert (work / "mine.txt").read_text() == "ok"  # its work dir is writable
    assert out["host"] == "gigawatt-job"
    assert len(out["pids"]) <= 3 and max(out["pids"]) < 10  # its own PID namespace
    # a private /tmp: only the skeleton of paths bound back into it (the work directory, and
    # this Python when the checkout itself lives under /tmp)
    bound = {Path(p).parts[2] for p in (work, sys.prefix) if Path(p).parts[1:2] == ("tmp",)}
    assert set(out["tmp"]) == bound
    assert "MY_SECRET" in out["env"] and "PYTEST_CURRENT_TEST" not in out["env"]
    shown = {p.parts[2] for p in backend.policy.python_paths if p.parts[1:2] == ("root",)}
    assert set(out["root"].partition(":")[2].split(",")) <= shown | {""}  # only Python
    for name in ("db", "other_log", "other_work", "uids", "shadow"):
        value = out[name]
        assert value.startswith("denied:") or value == "listed:", (name, value)
    assert out["state"] in ("listed:jobs", "listed:"), out["state"]  # only its own dir shows
    assert "SECRET" not in json.dumps({k: out[k] for k in targets if k != "state"})


@NEEDS_BWRAP
@pytest.mark.parametrize("isolate", [True, False], ids=["sandboxed", "unsandboxed"])
def test_no_process_outlives_its_attempt(tmp_path: Path, isolate: bool) -> None:
    marker = f"{31000 + os.getpid() % 1000}.{int(isolate)}"
    script = (
        f"setsid sleep {marker} & "
        f"( ( sleep {marker} & ) & ) ; "
        f"nohup sleep {marker} >/dev/null 2>&1 & "
        "sleep 0.3; echo started"
    )
    backend = LocalBackend(tmp_path, gpus=[])
    spec = make_spec(["sh", "-c", script])
    h = backend.start(replace(spec, tenant_id="acme", isolate=isolate))
    wait_for_log(backend, "started")
    assert wait(backend, h).succeeded
    deadline = time.monotonic() + 5
    while marker_processes(f"sleep {marker}"):
        assert time.monotonic() < deadline, marker_processes(f"sleep {marker}")
        time.sleep(0.05)
    dirs = [str(d) for d in backend._cgroup_dirs("job-1", 1, 0)]
    assert cgroup.members(dirs) == set()


@NEEDS_BWRAP
def test_terminate_reaches_the_sandboxed_job_which_may_clean_up(tmp_path: Path) -> None:
    code = (
        "import signal, sys, time\n"
        "def bye(*a):\n    print('cleaning up', flush=True); sys.exit(7)\n"
        "signal.signal(signal.SIGTERM, bye)\nprint('ready', flush=True)\ntime.sleep(60)\n"
    )
    backend = LocalBackend(tmp_path, gpus=[])
    h = backend.start(sandboxed([PY, "-c", code]))
    wait_for_log(backend, "ready")
    backend.terminate(h)
    status = wait(backend, h)
    assert status.exit_code == 7 and "cleaning up" in backend.logs("job-1", 1)
    assert status.started_at is not None and status.ended_at is not None
    assert 0 < status.ended_at - status.started_at < 10


@NEEDS_BWRAP
def test_kill_ends_the_whole_sandbox(tmp_path: Path) -> None:
    marker = f"{32000 + os.getpid() % 1000}"
    backend = LocalBackend(tmp_path, gpus=[])
    h = backend.start(sandboxed(["sh", "-c", f"setsid sleep {marker} & echo up; sleep {marker}"]))
    wait_for_log(backend, "up")
    assert marker_processes(f"sleep {marker}")
    backend.kill(h)
    status = wait(backend, h)
    assert status.signalled and status.reason == "killed"
    assert not marker_processes(f"sleep {marker}")


def test_log_is_capped_on_disk_with_the_tail_and_a_marker(tmp_path: Path) -> None:
    cap = 256 * 1024
    backend = LocalBackend(tmp_path, gpus=[], log_cap_bytes=cap)
    code = "for i in range(60000): print(f'line {i:06d} ' + 'x' * 80)"  # ~5.5 MB
    h = backend.start(make_spec([PY, "-c", code]))
    assert wait(backend, h, timeout=30).succeeded
    log = tmp_path / "jobs" / "job-1" / "attempt-1" / "rank-0.log"
    size = log.stat().st_size
    assert size <= cap, size
    text = log.read_text()
    first = text.splitlines()[0]
    assert first.startswith("[gigawatt: ") and "bytes of earlier output dropped" in first
    dropped = int(first.split()[1])
    assert dropped + size - len(first) - 1 >= 60000 * 93  # what was dropped + kept = written
    assert text.rstrip().endswith("line 059999 " + "x" * 80)
    assert backend.logs("job-1", 1).rstrip().endswith("line 059999 " + "x" * 80)
    assert DROPPED.startswith("[gigawatt: ")


def test_find_fences_an_attempt_that_never_started(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path, gpus=[])
    assert backend.find("job-1", 1, 2) is None  # nothing started: both ranks fenced
    h = backend.start(make_spec([PY, "-c", "print('RAN-IT')"], nodes=2))  # a late launch
    status = wait(backend, h)
    assert not status.succeeded  # the runners refused to start a fenced attempt
    assert "RAN-IT" not in backend.logs("job-1", 1)
    assert "fenced" in backend.logs("job-1", 1)


def test_find_returns_what_a_dead_control_plane_started(tmp_path: Path) -> None:
    from test_backend_local_adopt import start_and_crash

    started = start_and_crash(tmp_path, [PY, "-c", "import time; time.sleep(1.5)"], nodes=2)
    adir = tmp_path / "jobs" / "job-1" / "attempt-1"
    deadline = time.monotonic() + 5
    while not all((adir / f"rank-{r}.claim").exists() for r in range(2)):  # runners claimed
        assert time.monotonic() < deadline
        time.sleep(0.01)
    backend = LocalBackend(tmp_path, gpus=[])
    found = backend.find("job-1", 1, 2)
    assert found is not None
    assert [r["pid"] for r in found.data["ranks"]] == [  # type: ignore[attr-defined]
        r["pid"]
        for r in started.data["ranks"]  # type: ignore[attr-defined]
    ]
    assert backend.adopt(found)
    status = wait(backend, found)
    assert status.succeeded and status.started_at is not None and status.ended_at is not None
    assert 1.4 <= status.ended_at - status.started_at < 5


def test_sweep_kills_attempts_the_database_does_not_know(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path, gpus=[])
    sleep = [PY, "-c", "import time; print('up', flush=True); time.sleep(60)"]
    keep = backend.start(make_spec(sleep, job_id="keep"))
    orphan = backend.start(make_spec(sleep, job_id="orph"))
    wait_for_log(backend, "up", "keep")
    wait_for_log(backend, "up", "orph")
    late = backend.start(make_spec(sleep, job_id="late"))  # spawned, not claimed yet
    removed = backend.sweep({("keep", 1)})
    # fenced before it claimed (the usual case: never starts), or killed after
    assert removed in (["orph/1"], ["late/1", "orph/1"]), removed
    assert not wait(backend, late).succeeded
    assert wait(backend, orphan).signalled
    assert backend.poll(keep) is None
    backend.kill(keep)
    assert wait(backend, keep).signalled
    assert backend.sweep(set()) == []
    for r in keep.data["ranks"]:  # type: ignore[attr-defined]
        assert not procs.is_alive(procs.ProcessId(r["pid"], r["start_time"], procs.boot_id()))


def test_refusal_and_isolation_modes(tmp_path: Path) -> None:
    none = LocalBackend(tmp_path / "a", gpus=[], isolation="none")
    assert none.isolation() == "none" and none.refusal(True) is None
    broken = LocalBackend(tmp_path / "b", gpus=[])
    broken.policy = replace(broken.policy, bwrap="/nonexistent/bwrap")
    assert broken.isolation() == "unavailable"
    refusal = broken.refusal(True)
    assert refusal is not None and "--isolation none" in refusal
    assert broken.refusal(False) is None  # internal tenants' jobs still run


def test_no_descriptor_of_the_control_plane_reaches_the_job(tmp_path: Path) -> None:
    """The runner closes what it inherits (a kill -9'd server's listening socket once stayed
    open in every runner, so the restarted server could not bind its port)."""
    secret = tmp_path / "server-secret"
    secret.write_text("x")
    fd = os.open(secret, os.O_RDONLY)
    os.set_inheritable(fd, True)  # as the server's listening socket is
    try:
        backend = LocalBackend(tmp_path / "state", gpus=[])
        code = "import os, time; print(os.listdir('/proc/self/fd'), flush=True); time.sleep(30)"
        h = backend.start(make_spec([PY, "-c", code]))
    finally:
        os.close(fd)
    wait_for_log(backend, "[")
    runner_pid = h.data["ranks"][0]["pid"]  # type: ignore[index]
    held = [os.readlink(f) for f in Path(f"/proc/{runner_pid}/fd").iterdir()]
    backend.kill(h)
    wait(backend, h)
    assert str(secret) not in held, held
    assert "server-secret" not in backend.logs("job-1", 1)
