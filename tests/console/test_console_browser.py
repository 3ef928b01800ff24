"""The console in a real browser against a real server, on SQLite and PostgreSQL.

One flow per database: a wrong key is refused; the admin signs in, sees the fleet, creates a
tenant and issues its key in the console; the tenant signs in with the keyboard, submits a job
from the jobs page and watches it run and finish (live log tail), cancels another, sees its
usage (and exports it as CSV), and cannot open another tenant's job; the admin sees a busy
fleet (GPUs coloured by tier, a queued job), closes the period, opens the invoice (CSV export)
and revokes the tenant's key: the API then refuses it and the tenant's open console returns to
the sign-in form. Every request the browser makes to a host other than this
server is blocked and recorded: the test asserts there were none (the console works offline).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from e2e_support import ADMIN_KEY as ADMIN

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LONG = 30_000  # ms: jobs start within a control-loop tick, but CI machines are slow


def _open(browser: Any, base: str, width: int = 1280, height: int = 800) -> tuple[Any, Any, dict]:
    """A fresh browser context (own sessionStorage) whose off-host requests are blocked."""
    seen: dict[str, list[str]] = {"blocked": [], "errors": []}
    context = browser.new_context(viewport={"width": width, "height": height})
    host = urlparse(base).netloc

    def guard(route: Any) -> None:
        url = route.request.url
        parsed = urlparse(url)
        if parsed.scheme in ("http", "https", "ws", "wss") and parsed.netloc != host:
            seen["blocked"].append(url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", guard)
    page = context.new_page()
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    return context, page, seen


def _sign_in(page: Any, base: str, key: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base}/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("whoami")).to_be_visible()


def _sign_in_refused(page: Any, base: str, key: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base}/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That key was not accepted.")


def _nav(page: Any, name: str) -> None:
    page.get_by_role("navigation", name="Console sections").get_by_role("link", name=name).click()


def test_console_flow(served: Any, browser: Any, shots: Any, upstream: str) -> None:
    from playwright.sync_api import expect

    server, admin_api = served
    base = server.url
    # Another tenant with a job the first tenant must not see.
    _, other_api, _ = admin_api.tenant("globex")
    secret = other_api.submit([sys.executable, "-c", "pass"], name="globex-secret")

    # Admin: fleet, then a tenant and its key from the console.
    ctx, page, seen = _open(browser, base)
    _sign_in_refused(page, base, "gw_not_a_key")
    _sign_in(page, base, ADMIN)
    expect(page.get_by_test_id("whoami")).to_have_text("admin")
    expect(page.get_by_role("heading", name="Fleet", exact=True)).to_be_visible()
    expect(page.get_by_test_id("gpus-allocated")).to_have_text("0 / 16")
    expect(page.get_by_text("Site e2e")).to_be_visible()
    _nav(page, "Tenants & keys")
    page.get_by_label("Tenant name").fill("acme")
    page.get_by_role("button", name="Create tenant").click()
    expect(page.get_by_text(re.compile(r"Tenant acme created"))).to_be_visible()
    page.get_by_role("button", name="Issue key for acme").click()
    key = page.get_by_test_id("new-key").inner_text().strip()
    assert len(key) > 20
    shots(page, "tenants")
    page.get_by_role("button", name="Sign out").click()

    # Tenant: signs in with the keyboard only (focus starts in the key field; Enter submits),
    # submits a job, watches it run and finish, cancels another.
    expect(page.get_by_label("API key")).to_be_focused()
    page.keyboard.type(key)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("whoami")).to_be_visible()
    expect(page.get_by_test_id("whoami")).to_contain_text("tenant")
    _nav(page, "Jobs")
    page.get_by_label("Name", exact=True).fill("hello")
    script = "import time; print('started', flush=True); time.sleep(2); print('finished')"
    page.get_by_label("Command").fill(f'{sys.executable} -c "{script}"')
    page.get_by_role("button", name="Submit job").click()
    expect(page.get_by_role("heading", name="Job hello")).to_be_visible()
    expect(page.locator(".badge.s-running").first).to_be_visible(timeout=LONG)
    expect(page.get_by_test_id("log")).to_contain_text("started", timeout=LONG)
    shots(page, "job-running")
    expect(page.locator("dd .badge").first).to_have_text("succeeded", timeout=LONG)
    expect(page.get_by_test_id("log")).to_contain_text("finished", timeout=LONG)
    # placement: the node and GPU index the attempt ran on
    expect(page.get_by_role("cell", name=re.compile(r"^e2e\/h100-\d+: GPUs \d$"))).to_be_visible()
    shots(page, "job")
    job_id = page.url.rsplit("/", 1)[-1]

    _nav(page, "Jobs")
    page.get_by_label("Name", exact=True).fill("long")
    page.get_by_label("Command").fill(f'{sys.executable} -c "import time; time.sleep(120)"')
    page.get_by_role("button", name="Submit job").click()
    expect(page.locator(".badge.s-running").first).to_be_visible(timeout=LONG)
    page.get_by_role("button", name="Cancel job").click()
    expect(page.locator("dd .badge").first).to_have_text("cancelled", timeout=LONG)

    # The tenant sees its own jobs only, and no page opens another tenant's job.
    _nav(page, "Jobs")
    expect(page.get_by_role("link", name=re.compile(r"^hello"))).to_be_visible()
    filters = page.get_by_role("search", name="Filter jobs")
    filters.get_by_label("Tier").select_option("spot")  # no spot job
    expect(page.get_by_role("link", name=re.compile(r"^hello"))).to_have_count(0)
    filters.get_by_label("Tier").select_option("")
    filters.get_by_label("Status").select_option("succeeded")
    expect(page.get_by_role("link", name=re.compile(r"^hello"))).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"^long"))).to_have_count(0)
    filters.get_by_label("Status").select_option("")
    shots(page, "jobs")
    assert secret["id"] not in page.inner_text("main")
    page.goto(f"{base}/#/jobs/{secret['id']}")
    expect(page.get_by_test_id("not-found")).to_be_visible()
    assert "globex-secret" not in page.inner_text("main")

    # Its usage appears.
    _nav(page, "Usage & invoices")
    expect(page.get_by_role("link", name=job_id).first).to_be_visible(timeout=LONG)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export usage as CSV").click()
    csv = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert csv[0].startswith("kind,id,tenant_id,job_id,")
    assert any(job_id in line for line in csv[1:]) and secret["id"] not in "".join(csv)
    page.get_by_role("button", name="Sign out").click()

    # Admin: a busy fleet (three tiers running, one job queued), seen live on the fleet page.
    _sign_in(page, base, ADMIN)
    _, own_api, _ = admin_api.tenant("research", kind="internal")
    sleep = [sys.executable, "-c", "import time; time.sleep(300)"]
    busy = [
        own_api.submit(sleep, name="pretrain", gpus=8, tier="internal"),
        other_api.submit(sleep, name="batch", gpus=3, tier="spot"),
        other_api.submit(sleep, name="serve", gpus=2, tier="on_demand"),
    ]
    for job in busy:
        admin_api.wait_status(job["id"], "running")
    waiting = other_api.submit(sleep, name="big", gpus=8, tier="on_demand")
    expect(page.get_by_test_id("gpus-allocated")).to_have_text("13 / 16", timeout=LONG)
    expect(page.get_by_test_id("jobs-queued")).to_have_text("1")
    expect(page.locator(".gpu.t-internal")).to_have_count(8)
    expect(page.locator(".gpu.t-spot")).to_have_count(3)
    shots(page, "fleet")
    for job in [*busy, waiting]:
        admin_api.post(f"/v1/jobs/{job['id']}/cancel")

    # Admin: close the period, open the invoice, revoke the tenant's key.
    _nav(page, "Usage & invoices")
    page.get_by_role("button", name="Close period").click()
    expect(page.get_by_test_id("close-result")).to_contain_text("closed")
    invoice = page.locator("a[href^='#/invoices/']").first
    expect(invoice).to_be_visible()
    shots(page, "usage")
    invoice.click()
    expect(page.get_by_test_id("invoice-total")).to_have_text(re.compile(r"^\$\d"))
    expect(page.get_by_role("cell", name=re.compile("GPU", re.I)).first).to_be_visible()
    shots(page, "invoice")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export lines as CSV").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "kind,description,gpu_type,tier,model,quantity,unit,amount_usd"
    assert len(lines) >= 2
    _nav(page, "What is it worth")
    expect(page.get_by_test_id("gw-revenue")).to_have_text(re.compile(r"^\$.+/yr$"))
    shots(page, "worth")
    # Inference: a model on sale through the fake upstream, three requests with acme's key.
    model = {
        "id": "small",
        "upstream_url": upstream,
        "price_per_million_input_tokens": "1.50",
        "price_per_million_output_tokens": "4.00",
    }
    admin_api.post("/v1/models", model, expect=201)
    for _ in range(3):
        r = httpx.post(
            f"{base}/v1/completions",
            json={"model": "small", "prompt": "a b c d", "max_tokens": 4},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
    _nav(page, "Inference")
    expect(page.get_by_role("heading", name="Inference", exact=True)).to_be_visible()
    by_model = page.get_by_role("region", name="Spend by model")
    requests = by_model.get_by_role("row", name=re.compile("^small")).get_by_role("cell").nth(1)
    expect(requests).to_have_text("3")
    models = page.get_by_role("region", name="Models")
    expect(models.get_by_role("cell", name="small", exact=True)).to_be_visible()
    shots(page, "inference")
    # The tenant stays signed in elsewhere while the admin revokes its key.
    tenant_ctx, tenant_page, seen_tenant = _open(browser, base)
    _sign_in(tenant_page, base, key)
    _nav(page, "Tenants & keys")
    page.once("dialog", lambda d: d.accept())
    page.locator("tr", has_text="acme").get_by_role(
        "button", name=re.compile("^Revoke key")
    ).click()
    expect(page.get_by_text(re.compile(r"Key .+ revoked"))).to_be_visible()
    refused = httpx.get(f"{base}/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 401, refused.text
    expect(tenant_page.get_by_role("alert")).to_contain_text("Your key was refused", timeout=LONG)
    expect(tenant_page.get_by_label("API key")).to_be_visible()
    tenant_ctx.close()

    # Swagger UI from this server, and a phone-sized window.
    page.goto(f"{base}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Gigawatt", timeout=LONG)
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    shots(page, "docs")
    ctx.close()
    phone, small, seen_small = _open(browser, base, 390, 844)
    _sign_in(small, base, ADMIN)
    expect(small.get_by_test_id("gpus-allocated")).to_be_visible()
    width = small.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the fleet page scrolls sideways at phone width ({width}px)"
    shots(small, "fleet-phone")
    phone.close()

    for record in (seen, seen_small, seen_tenant):
        assert record["blocked"] == [], record  # nothing fetched from another host
        assert record["errors"] == [], record  # no uncaught error in any page
