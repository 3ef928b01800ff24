"""Real escapes from inside an external tenant's job, each of which the sandbox must deny."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e_support import ADMIN_KEY, PY, Client, Server
from sandbox_support import (
    attempt_dir,
    leftover_processes,
    marker_pids,
    runner_pids,
    sweep_state,
    wait_pids,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

Start = Callable[..., tuple[Server, Client]]


@pytest.fixture(autouse=True)
def _no_job_outlives_the_test(tmp_path: Path) -> Iterator[None]:
    yield
    sweep_state(tmp_path / "state")


VICTIM = """
import os, pathlib, sys, time
pathlib.Path("b-private.txt").write_text("B-WORK-SECRET " + sys.argv[1])
print("B-LOG-SECRET", os.environ["B_SECRET"], flush=True)
time.sleep(120)
"""

ESCAPE = r"""
import glob, json, os, signal, subprocess, sys
t = json.loads(sys.argv[1])
out = {}

def attempt(name, fn):
    try:
        out[name] = "ALLOWED: " + repr(fn())[:200]
    except Exception as exc:
        out[name] = "denied: " + type(exc).__name__

def read(path):
    with open(path, "rb") as f:
        return f.read(64)

def scan_procs(needle):
    hits = []
    for path in glob.glob("/proc/[0-9]*/environ") + glob.glob("/proc/[0-9]*/cmdline"):
        try:
            if needle.encode() in open(path, "rb").read():
                hits.append(path)
        except OSError:
            pass
    return hits

attempt("read_db", lambda: read(t["db"]))
attempt("write_db", lambda: open(t["db"], "ab").write(b"x"))
attempt("list_db_dir", lambda: os.listdir(t["db_dir"]))
attempt("read_other_log", lambda: read(t["other_log"]))
attempt("read_other_work", lambda: read(t["other_work"]))
attempt("list_other_attempt", lambda: os.listdir(t["other_attempt"]))
attempt("read_uid_table", lambda: read(t["state"] + "/sandbox/uids.json"))
attempt("read_server_environ", lambda: read(f"/proc/{t['server_pid']}/environ"))
attempt("signal_other_job", lambda: os.kill(t["other_pid"], signal.SIGKILL))
attempt("signal_server", lambda: os.kill(t["server_pid"], signal.SIGKILL))
attempt("list_state_jobs", lambda: sorted(os.listdir(t["state"] + "/jobs")))
out["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
# (the needles come reversed, so that this process's own command line does not hold them)
out["admin_key_in_procs"] = scan_procs(t["admin_key_reversed"][::-1])
out["other_secret_in_procs"] = scan_procs(t["other_secret_reversed"][::-1])
out["env"] = sorted(os.environ)
out["uid"] = os.getuid()
# leave processes behind, three ways
mark = t["marker"]
subprocess.Popen(["setsid", "sleep", mark], start_new_session=True)
subprocess.Popen(["sh", "-c", f"( sleep {mark} & ) &"])
subprocess.Popen(["nohup", "sleep", mark], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(json.dumps(out), flush=True)
"""


def test_a_job_cannot_reach_the_server_or_another_tenant(
    start_server: Start, db_url: str, tmp_path: Path
) -> None:
    server, admin = start_server()
    state = server.workdir / "state"
    _, a, _ = admin.tenant("a")
    _, b, _ = admin.tenant("b")
    health = admin.get("/healthz")
    assert health["isolation"] == "bwrap" and "warnings" not in health, health

    tag = f"victim-{random.randint(0, 1 << 30)}"
    victim = b.submit([PY, "-c", VICTIM, tag], env={"B_SECRET": "B-ENV-SECRET"})
    b.wait_status(victim["id"], "running")
    (other_pid,) = wait_pids(tag, PY)
    battempt = attempt_dir(state, victim["id"], 1)
    deadline = time.monotonic() + 20
    while "B-LOG-SECRET" not in (battempt / "rank-0.log").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)

    sqlite = db_url.startswith("sqlite:///")
    db = db_url.removeprefix("sqlite:///") if sqlite else "/var/lib/postgresql"
    assert server.proc is not None
    marker = f"{random.randint(40000, 49999)}.5"
    targets = {
        "db": db,
        "db_dir": str(Path(db).parent) if sqlite else db,
        "state": str(state),
        "other_log": str(battempt / "rank-0.log"),
        "other_work": str(battempt / "work" / "b-private.txt"),
        "other_attempt": str(battempt),
        "server_pid": server.proc.pid,
        "other_pid": other_pid,
        "admin_key_reversed": ADMIN_KEY[::-1],
        "other_secret_reversed": "B-ENV-SECRET"[::-1],
        "marker": marker,
    }
    escape = a.submit([PY, "-c", ESCAPE, json.dumps(targets)])
    done = a.wait_status(escape["id"], "succeeded", "failed")
    logs = a.get(f"/v1/jobs/{escape['id']}/logs")["logs"]
    assert done["status"] == "succeeded", logs
    out = json.loads(logs.strip().splitlines()[-1])

    for name in (
        "read_db", "write_db", "read_other_log", "read_other_work", "list_other_attempt",
        "read_uid_table", "read_server_environ", "signal_other_job", "signal_server",
    ):  # fmt: skip
        assert out[name].startswith("denied"), (name, out[name])
    assert "gigawatt.db" not in out["list_db_dir"] and "server-" not in out["list_db_dir"]
    own = f"ALLOWED: {[escape['id']]!r}"  # at most its own attempt, nobody else's
    assert out["list_state_jobs"] in (own, "denied: PermissionError"), out["list_state_jobs"]
    assert len(out["pids"]) <= 4 and max(out["pids"]) < 20  # sees only its own processes
    assert out["admin_key_in_procs"] == [] and out["other_secret_in_procs"] == []
    assert not any(
        k.startswith(("GIGAWATT_ADMIN", "GIGAWATT_DATABASE", "PYTEST")) for k in out["env"]
    )
    assert out["uid"] >= 1_000_000  # an unprivileged user of its own, not root

    # nothing it started outlived it; the other tenant's job was not touched
    deadline = time.monotonic() + 5
    while marker_pids(f"sleep {marker}") or marker_pids(marker, "sleep"):
        assert time.monotonic() < deadline, marker_pids(marker)
        time.sleep(0.05)
    assert b.job(victim["id"])["status"] == "running"
    assert server.proc.poll() is None
    assert "B-WORK-SECRET" in (battempt / "work" / "b-private.txt").read_text()

    b.post(f"/v1/jobs/{victim['id']}/cancel")
    b.wait_status(victim["id"], "cancelled")
    deadline = time.monotonic() + 10
    while leftover_processes(state) or runner_pids(state):
        assert time.monotonic() < deadline, (leftover_processes(state), runner_pids(state))
        time.sleep(0.1)


def test_isolation_none_warns_and_no_sandbox_refuses_strangers(
    start_server: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIGAWATT_ISOLATION", "none")
    server, admin = start_server()
    health = admin.get("/healthz")
    assert health["isolation"] == "none" and "unsandboxed" in health["warnings"][0], health
    assert "WARNING: --isolation none" in server.logs()
    _, ext, _ = admin.tenant("ext")
    job = ext.submit([PY, "-c", "import os; print('uid', os.getuid())"])
    assert ext.wait_status(job["id"], "succeeded", "failed")["status"] == "succeeded"
    assert "uid 0" in ext.get(f"/v1/jobs/{job['id']}/logs")["logs"]  # what none gives up
    server.stop()

    # no bubblewrap on the PATH: the sandbox cannot be set up
    monkeypatch.delenv("GIGAWATT_ISOLATION")
    monkeypatch.setenv("PATH", str(Path(PY).parent))
    server.start()
    health = admin.get("/healthz")
    assert health["isolation"] == "unavailable" and "bubblewrap" in health["warnings"][0]
    r = ext.http.post(
        "/v1/jobs",
        json={"name": "x", "command": ["true"], "gpus": 1, "gpu_type": "H100", "tier": "spot"},
    )
    assert r.status_code == 403 and "--isolation none" in r.json()["error"]["message"], r.text
    _, own, _ = admin.tenant("own", "internal")  # the owner's own jobs still run
    internal = own.submit([PY, "-c", "pass"], tier="internal")
    assert own.wait_status(internal["id"], "succeeded", "failed")["status"] == "succeeded"
