"""Accessibility of every console page, checked by axe-core in headless Chromium.

axe-core (npm ``axe-core``, MPL-2.0) is a test-only file in ``tests/console/vendor/``, pinned
by SHA-256 below; it is injected into the page under test (the context bypasses the console's
Content-Security-Policy for that script alone) and run with the WCAG 2 A and AA rules,
colour contrast included, at 1280x800 and at phone width. Any violation fails the test.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import pytest
from e2e_support import ADMIN_KEY as ADMIN

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
AXE_VERSION = "4.14.1"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def test_axe_file_is_the_pinned_version() -> None:
    data = AXE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == AXE_SHA256
    assert f"axe v{AXE_VERSION}" in data[:200].decode("ascii", "replace")


def _violations(page: Any) -> list[str]:
    result = page.evaluate("rules => axe.run(document, rules)", RULES)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:4]}"
        for v in result["violations"]
    ]


def _check_pages(
    browser: Any, base: str, routes: list[str], width: int, height: int
) -> dict[str, list[str]]:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
    page = context.new_page()
    page.goto(f"{base}/")
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    expect(page.get_by_label("API key")).to_be_visible()
    found = {"sign-in": _violations(page)}
    page.get_by_label("API key").fill(ADMIN)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("whoami")).to_be_visible()
    for route in routes:
        page.goto(f"{base}/#/{route}")
        expect(page.locator("#status")).to_contain_text("updated")
        page.wait_for_timeout(300)
        found[route] = _violations(page)
    context.close()
    return {f"{width}x{height} {k}": v for k, v in found.items() if v}


def test_every_page_passes_axe(served: Any, browser: Any) -> None:
    server, admin = served
    _, acme, _ = admin.tenant("acme")
    job = acme.submit([sys.executable, "-c", "print('ok')"], name="a11y", tier="on_demand")
    acme.wait_status(job["id"], "succeeded")
    invoice = admin.post("/v1/invoices/close", {})["invoices"][0]
    routes = [
        "fleet",
        "jobs",
        f"jobs/{job['id']}",
        "usage",
        f"invoices/{invoice['id']}",
        "inference",
        "tenants",
        "worth",
    ]
    found: dict[str, list[str]] = {}
    for width, height in ((1280, 800), (390, 844)):  # desktop and phone
        found.update(_check_pages(browser, server.url, routes, width, height))
    assert found == {}
