"""FakeBackend: deterministic, caller-driven, records every call."""

from __future__ import annotations

import pytest
from backend_specs import make_spec

from gigawatt.backends import Backend, ExitStatus, FakeBackend, Handle
from gigawatt.backends.fake import ENV_DURATION, ENV_EXIT_CODE, ENV_IGNORE_SIGTERM
from gigawatt.core.clock import ManualClock
from gigawatt.core.fleet import NodeSpec


def test_runs_until_finished() -> None:
    fake = FakeBackend()
    assert isinstance(fake, Backend)
    h = fake.start(make_spec(["train"]))
    assert fake.poll(h) is None
    assert fake.running() == [("job-1", 1)]
    fake.finish("job-1", 1, exit_code=0)
    status = fake.poll(h)
    assert status == ExitStatus(0)
    assert status is not None and status.succeeded
    assert fake.running() == []
    assert fake.calls[:2] == [("start", "job-1", 1), ("poll", "job-1", 1)]
    assert fake.calls_of("poll") == [("job-1", 1), ("job-1", 1)]


def test_finish_with_failure_code() -> None:
    fake = FakeBackend()
    h = fake.start(make_spec(["train"]))
    fake.finish("job-1", 1, exit_code=3)
    status = fake.poll(h)
    assert status is not None
    assert (status.exit_code, status.signalled, status.succeeded) == (3, False, False)


def test_finish_unknown_attempt_raises() -> None:
    with pytest.raises(KeyError):
        FakeBackend().finish("nope", 1)


def test_automatic_duration_on_manual_clock() -> None:
    clock = ManualClock(100.0)
    fake = FakeBackend(clock, duration_s=10)
    h = fake.start(make_spec(["x"]))
    clock.advance(9.9)
    assert fake.poll(h) is None
    clock.advance(0.1)
    assert fake.poll(h) == ExitStatus(0)


def test_env_overrides_duration_and_exit_code() -> None:
    clock = ManualClock(0.0)
    fake = FakeBackend(clock)
    env = {ENV_DURATION: "5", ENV_EXIT_CODE: "2"}
    h = fake.start(make_spec(["x"], env=env))
    other = fake.start(make_spec(["y"], job_id="job-2"))
    clock.advance(5)
    status = fake.poll(h)
    assert status is not None and status.exit_code == 2
    assert fake.poll(other) is None  # no duration: runs forever


def test_terminate_ends_with_sigterm_and_is_idempotent() -> None:
    fake = FakeBackend()
    h = fake.start(make_spec(["x"]))
    fake.terminate(h)
    fake.terminate(h)
    fake.kill(h)  # already gone: no change
    status = fake.poll(h)
    assert status == ExitStatus(-15, signalled=True, reason="signal SIGTERM")
    assert fake.calls_of("terminate") == [("job-1", 1), ("job-1", 1)]


def test_ignores_sigterm_survives_terminate_dies_on_kill() -> None:
    fake = FakeBackend()
    h = fake.start(make_spec(["x"], env={ENV_IGNORE_SIGTERM: "1"}))
    fake.terminate(h)
    assert fake.poll(h) is None
    fake.kill(h)
    status = fake.poll(h)
    assert status is not None and (status.exit_code, status.signalled) == (-9, True)
    assert "SIGTERM ignored" in fake.logs("job-1", 1)


def test_constructor_ignores_sigterm_flag() -> None:
    fake = FakeBackend(ignores_sigterm=True)
    h = fake.start(make_spec(["x"]))
    fake.terminate(h)
    assert fake.adopt(h)


def test_adopt_and_lose() -> None:
    fake = FakeBackend()
    h = fake.start(make_spec(["x"]))
    assert fake.adopt(h)
    fake.lose("job-1", 1)
    assert not fake.adopt(h)
    status = fake.poll(h)
    assert status is not None and status.reason == "lost"
    # A fresh backend (a restart without shared state) knows nothing.
    assert not FakeBackend().adopt(Handle("job-1", 1))


def test_logs_one_line_per_event() -> None:
    fake = FakeBackend()
    assert fake.logs("job-1", 1) == ""
    h = fake.start(make_spec(["python", "train.py"]))
    fake.finish("job-1", 1)
    fake.poll(h)
    lines = fake.logs("job-1", 1).splitlines()
    assert len(lines) == 2
    assert "start job-1 attempt 1" in lines[0]
    assert "exit 0" in lines[1]


def test_spec_energy_and_nodes() -> None:
    node = NodeSpec(node_id="n/0", site="n", gpu_type="H100", gpus=8)
    fake = FakeBackend(nodes=[node])
    assert fake.discover_nodes() == [node]
    assert FakeBackend().discover_nodes() is None
    h = fake.start(make_spec(["x"], env={"A": "b"}))
    assert fake.spec("job-1", 1).env["A"] == "b"
    assert fake.energy_kwh(h) is None
    fake.set_energy("job-1", 1, 1.5)
    assert fake.energy_kwh(h) == 1.5


def test_call_record_is_bounded() -> None:
    fake = FakeBackend(max_calls=10)
    h = fake.start(make_spec(["x"]))
    for _ in range(100):
        fake.poll(h)
    assert 5 <= len(fake.calls) <= 10
    assert fake.calls[-1] == ("poll", "job-1", 1)
