"""The gateway's settings come with the control plane's: ``gigawatt serve --inference KEY=VALUE``
over ``GIGAWATT_INFERENCE_<KEY>`` over one default per field."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from inference_support import PY

from gigawatt.core.errors import InvalidInput
from gigawatt.inference.config import InferenceSettings, inference_settings
from gigawatt.services.settings import Settings

pytestmark = pytest.mark.inference


def test_defaults_environment_and_options_in_that_order() -> None:
    assert inference_settings({}) == InferenceSettings()
    assert Settings(database_url="sqlite://").inference == InferenceSettings()
    env = {"GIGAWATT_INFERENCE_RETRIES": "4", "GIGAWATT_INFERENCE_DB_IN_THREAD": "false"}
    found = inference_settings(env, ["retries=1", "cooldown-s=2.5"])
    assert (found.retries, found.db_in_thread, found.cooldown_s) == (1, False, 2.5)
    assert found.default_max_tokens == InferenceSettings().default_max_tokens


@pytest.mark.parametrize(
    ("env", "options", "words"),
    [
        ({}, ["nope=1"], "KEY one of"),
        ({}, ["retries"], "KEY=VALUE"),
        ({}, ["retries=-1"], "retries"),
        ({"GIGAWATT_INFERENCE_SURPRISE": "1"}, [], "GIGAWATT_INFERENCE_SURPRISE"),
        ({"GIGAWATT_INFERENCE_COOLDOWN_S": "soon"}, [], "cooldown_s"),
    ],
)
def test_bad_settings_are_invalid_input(
    env: dict[str, str], options: list[str], words: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        inference_settings(env, options)
    assert words in info.value.message


def test_serve_refuses_a_bad_inference_setting_in_one_line(tmp_path: Path) -> None:
    args = [PY, "-c", "from gigawatt.cli.main import app; app()", "serve", "--port", "0"]
    args += ["--db", f"sqlite:///{tmp_path / 'g.db'}", "--backend", "fake"]
    args += ["--state-dir", str(tmp_path / "state"), "--inference", "retries=many"]
    env = {**os.environ, "HOME": str(tmp_path), "GIGAWATT_ADMIN_KEY": "k"}
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and "retries" in done.stderr
    assert "Traceback" not in done.stderr


def test_openapi_documents_inference_requests_responses_and_streaming(tmp_path: Path) -> None:
    from gigawatt.api import create_app
    from gigawatt.backends.fake import FakeBackend
    from gigawatt.services.platform import open_platform

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'g.db'}", run_control_loop=False)
    platform = open_platform(settings, FakeBackend())
    app = create_app(
        platform, run_control_loop=False, inference=InferenceSettings(background=False)
    )
    spec = app.openapi()
    chat = spec["paths"]["/v1/chat/completions"]["post"]
    body = chat["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ChatCompletionRequest"}
    ok = chat["responses"]["200"]["content"]
    assert ok["application/json"]["schema"] == {"$ref": "#/components/schemas/ChatCompletion"}
    assert "[DONE]" in ok["text/event-stream"]["description"]
    assert chat["responses"]["402"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }
    schemas = spec["components"]["schemas"]
    for name in ("CompletionRequest", "Completion", "ModelList", "ModelSpec", "LimitView"):
        assert name in schemas
    assert "upstreams" in schemas["ModelSpec"]["properties"]
    assert spec["paths"]["/v1/models"]["post"]["responses"]["201"]
    platform.engine.dispose()


def test_serve_keeps_idle_connections_past_five_seconds(tmp_path: Path) -> None:
    """Clients (httpx, openai) reuse a kept-alive connection after 5 s idle; uvicorn's default
    closed it at 5 s and such a reuse met a reset. ``gigawatt serve`` keeps it longer: one
    socket, one request, 6 s idle, a second request on the same socket is answered."""
    import socket
    import time

    from inference_support import free_port

    port = free_port()
    args = [PY, "-c", "from gigawatt.cli.main import app; app()", "serve", "--port", str(port)]
    args += ["--db", f"sqlite:///{tmp_path / 'g.db'}", "--backend", "fake"]
    args += ["--state-dir", str(tmp_path / "state"), "--log-level", "warning"]
    env = {**os.environ, "HOME": str(tmp_path), "GIGAWATT_ADMIN_KEY": "k"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                time.sleep(0.1)
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        with sock, sock.makefile("rb") as answers:
            for pause in (0.0, 6.0):
                time.sleep(pause)
                sock.sendall(request)
                status = answers.readline()
                assert status.startswith(b"HTTP/1.1 200"), status
                length = 0
                while (line := answers.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                assert b"ok" in answers.read(length)
    finally:
        proc.terminate()
        proc.wait(20)
