"""The console's HTTP side: pages and assets from this origin only, offline Swagger UI at
``/docs``, the vendored files' pinned checksums, and ``GET /v1/worth`` on metered usage."""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

from api_support import ADMIN_KEY, T0, Api, api_fleet

from gigawatt.api import create_app
from gigawatt.backends.fake import FakeBackend
from gigawatt.console.vendor import STATIC_DIR, VENDORED
from gigawatt.console.worth import Measurement, value_measurement
from gigawatt.core.clock import ManualClock
from gigawatt.services.control import ControlLoop
from gigawatt.services.platform import open_platform
from gigawatt.services.settings import Settings

#: Hosts named in code only as XML namespaces or comments, never fetched.
NAMESPACE = re.compile(r"https?://www\.w3\.org/")


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    clock = ManualClock(T0)
    backend = FakeBackend(clock)
    settings = Settings(
        database_url=db_url, grace_s=1.0, admin_key=ADMIN_KEY, run_control_loop=False
    )
    platform = open_platform(settings, backend, fleet=api_fleet(), clock=clock)
    with TestClient(create_app(platform)) as client:
        yield Api(client, platform, clock, backend, ControlLoop(platform, "console-test"))
    platform.engine.dispose()


class _Refs(HTMLParser):
    """Every src/href of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]


def _refs(html: str) -> list[str]:
    parser = _Refs()
    parser.feed(html)
    return parser.refs


def _same_origin_assets(api: Api, page: str) -> list[str]:
    r = api.client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    refs = [u for u in _refs(r.text) if not u.startswith("#")]
    assert refs
    for url in refs:
        assert url.startswith("/") and not url.startswith("//"), f"{page} loads {url}"
    return refs


def test_console_page_and_every_module_come_from_this_server(api: Api) -> None:
    refs = _same_origin_assets(api, "/")
    assert "/assets/js/app.js" in refs and "/docs" in refs
    # Follow the ES module graph: every import is relative and served.
    todo, seen = ["/assets/js/app.js"], set()
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        r = api.client.get(url)
        assert r.status_code == 200, url
        assert "javascript" in r.headers["content-type"], (url, r.headers["content-type"])
        for spec in re.findall(r'^import .* from "([^"]+)";', r.text, re.M):
            assert spec.startswith("."), f"{url} imports {spec} (not a relative module)"
            base = url.rsplit("/", 1)[0]
            parts: list[str] = []
            for part in f"{base}/{spec}".split("/"):
                if part == "..":
                    parts.pop()
                elif part != ".":
                    parts.append(part)
            todo.append("/".join(parts))
    assert len(seen) >= 10  # app, api, dom, charts and the views
    for url in refs:
        if url.startswith("/assets/"):
            r = api.client.get(url)
            assert r.status_code == 200, url
            assert r.headers["cache-control"] == "no-cache"  # revalidated after an upgrade


def test_no_asset_names_another_host() -> None:
    for path in STATIC_DIR.rglob("*"):
        if path.suffix not in (".js", ".css", ".html", ".svg") or "vendor" in path.parts:
            continue
        text = NAMESPACE.sub("", path.read_text(encoding="utf-8"))
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text), path


def test_docs_work_offline(api: Api) -> None:
    refs = _same_origin_assets(api, "/docs")
    assert any(u.endswith("swagger-ui-bundle.js") for u in refs)
    assert any(u.endswith("swagger-ui.css") for u in refs)
    for url in refs:
        r = api.client.get(url)
        assert r.status_code == 200 and len(r.content) > 100, url
    page = api.client.get("/docs").text
    assert "cdn." not in page and "unpkg" not in page
    spec = api.client.get("/openapi.json").json()
    assert spec["info"]["title"] == "Gigawatt"
    # Swagger UI's Authorize button sends the key as a bearer header.
    assert spec["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert spec["security"] == [{"apiKey": []}]
    assert api.client.get("/redoc").status_code == 404  # the CDN-only page is gone


def test_vendored_files_match_the_pinned_checksums() -> None:
    for package in VENDORED:
        for name, digest in package.files:
            data = (package.directory / name).read_bytes()
            assert hashlib.sha256(data).hexdigest() == digest, (package.name, package.version, name)


def test_unknown_asset_is_a_json_404(api: Api) -> None:
    r = api.client.get("/assets/js/nope.js")
    assert r.status_code == 404
    assert r.json()["error"]["code"]


def _run(api: Api, headers: dict[str, str], hours: float, **fields: Any) -> dict[str, Any]:
    job = api.submit(headers, **fields)
    api.tick()
    api.clock.advance(hours * 3600)
    api.backend.finish(job["id"], 1)
    api.tick()
    done: dict[str, Any] = api.client.get(f"/v1/jobs/{job['id']}", headers=headers).json()
    assert done["status"] == "succeeded", done
    return done


def test_worth_values_metered_usage(api: Api) -> None:
    _, acme = api.tenant("acme")
    _, own = api.tenant("research", kind="internal")
    _run(api, acme, 1.0, gpus=2, tier="on_demand")
    _run(api, own, 0.5, gpus=4, tier="internal")
    api.clock.advance(600)
    r = api.client.get("/v1/worth", params={"window_h": 2}, headers=api.admin)
    assert r.status_code == 200, r.text
    w = r.json()
    m = w["measured"]
    assert m["gpus"] == 16 and m["capacity_gpu_hours"] == pytest.approx(32)
    assert m["gpu_hours_by_tier"]["on_demand"] == pytest.approx(2.0, rel=1e-3)
    assert m["gpu_hours_by_tier"]["internal"] == pytest.approx(2.0, rel=1e-3)
    assert m["utilization"] == pytest.approx(4 / 32, rel=1e-3)
    assert m["internal_share"] == pytest.approx(0.5, rel=1e-3)
    assert m["tier_mix"] == {"on_demand": 1.0}
    prices = {
        (p["gpu_type"], p["tier"]): float(p["price_per_gpu_hour"])
        for p in api.client.get("/v1/prices", headers=api.admin).json()
    }
    assert m["tier_prices"]["on_demand"] == pytest.approx(prices[("H100", "on_demand")], rel=1e-3)
    metered = float(m["metered_revenue_usd"])
    assert metered > 0
    assert m["annualised_metered_revenue_usd"] == pytest.approx(metered * 8760 / 2, rel=1e-6)
    assert w["fleet"]["gpus"] == 16
    assert w["fleet"]["revenue_usd"] > 0
    assert w["gigawatt"]["gpus"] > 100_000
    # Same policy, same prices: revenue per GPU is the same on a gigawatt.
    per_gpu = w["fleet"]["revenue_usd"] / w["fleet"]["gpus"]
    assert w["gigawatt"]["revenue_usd"] / w["gigawatt"]["gpus"] == pytest.approx(per_gpu, rel=1e-6)
    # The sell-or-keep split for this fleet: the best NPV is at least every frontier point's.
    keep = w["sell_or_keep"]
    assert [p["internal_share"] for p in keep["frontier"]] == pytest.approx(
        [i / 10 for i in range(11)]
    )
    assert 0 <= keep["optimal_internal_share"] <= 1
    assert all(keep["npv_usd"] >= p["npv_usd"] - 1e-6 * abs(p["npv_usd"]) for p in keep["frontier"])
    # A narrower window that misses the jobs measures nothing.
    api.clock.advance(3 * 3600)
    idle = api.client.get("/v1/worth", params={"window_h": 1}, headers=api.admin).json()
    assert idle["measured"]["utilization"] == 0 and idle["fleet"]["revenue_usd"] == 0


def test_worth_is_admin_only_and_checks_its_window(api: Api) -> None:
    _, acme = api.tenant("acme")
    assert api.client.get("/v1/worth", headers=acme).status_code == 403
    assert api.client.get("/v1/worth").status_code == 401
    for bad in ("0", "-1", "abc", "1e9", "nan"):
        r = api.client.get("/v1/worth", params={"window_h": bad}, headers=api.admin)
        assert r.status_code == 422, (bad, r.text)
        assert set(r.json()["error"]) == {"code", "message"}


def test_value_of_an_empty_fleet_is_only_the_measurement() -> None:
    m = Measurement(since=0.0, until=3600.0, gpus_by_type={}, kw_per_gpu={})
    doc = value_measurement(m)
    assert doc["fleet"] is None and doc["gigawatt"] is None
    assert doc["measured"]["utilization"] == 0.0
