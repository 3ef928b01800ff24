"""Schemathesis over the whole OpenAPI document, inference included, against a real server.

Bounded (a few examples per operation, coverage, fuzzing and stateful phases), as the admin and
as a tenant: no 5xx, every response conforms to its documented schema, status code and content
type. The fake backend runs the jobs the fuzzer submits (random commands are never executed).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from e2e_support import ADMIN_KEY, Client, Server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHECKS = (
    "not_a_server_error,response_schema_conformance,status_code_conformance,"
    "content_type_conformance"
)


def _schemathesis(url: str, key: str, seed: int, cwd: Path) -> subprocess.CompletedProcess[str]:
    cli = Path(sys.executable).with_name("schemathesis")
    args = [
        str(cli), "run", f"{url}/openapi.json",
        "-H", f"Authorization: Bearer {key}",
        "-c", CHECKS,
        "-n", "8",
        "--phases", "coverage,fuzzing,stateful",
        "--seed", str(seed),
        "--request-timeout", "20",
    ]  # fmt: skip
    return subprocess.run(args, capture_output=True, text=True, timeout=600, check=False, cwd=cwd)


def test_the_whole_api_holds_its_schema_and_never_5xx(
    start_server: Callable[..., tuple[Server, Client]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIGAWATT_BACKEND", "fake")
    server, admin = start_server()
    _, _, tenant_key = admin.tenant("fuzz-tenant")
    for key, seed in ((ADMIN_KEY, 1), (tenant_key, 2)):
        result = _schemathesis(server.url, key, seed, server.workdir)
        summary = result.stdout[-3000:]
        assert result.returncode == 0, summary
        assert "generated" in summary and " passed" in summary, summary
        assert "failed" not in summary.split("Test cases:")[-1], summary
