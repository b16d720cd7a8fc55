"""A new hire's first visit, in Debian's chromium driven by Playwright: dashboard, search, a
bill page, then the trace page, whose waterfall must show DNS, connect and server phases with
numbers. Screenshots go to out/screenshots/ (look at them)."""

from __future__ import annotations

import io
import os
import re

import pytest
from demo_support import REPO, chromium_path, service_missing

SHOTS = REPO / "out" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser_page():
    executable = chromium_path()
    if executable is None:
        service_missing("chromium is not installed (Debian package 'chromium', see .ci/run)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("the playwright Python package is not installed")
    # Playwright's sync API runs an event loop in this thread; Django's live server answers from
    # another thread, so the ORM calls in this test are safe despite Django's async guard.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            yield page
        finally:
            browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def live_server(transactional_db):
    """Django's live server for this test only: stopping it here closes its thread's database
    connection before the test database is dropped (the session-wide fixture closes it too late
    for PostgreSQL, which refuses to drop a database in use)."""
    from pytest_django.live_server_helper import LiveServer

    server = LiveServer("127.0.0.1:0")
    yield server
    server.stop()


@pytest.fixture
def demo_data(live_server):
    """Seed and pick the bill to look for before the browser starts: Playwright's sync API
    switches greenlets, and ORM calls made after that open a connection nobody closes."""
    from django.core.management import call_command

    from demo_app.tracker.models import Bill

    call_command("seed_demo", bills=150, legislators=40, stdout=io.StringIO())
    target = Bill.objects.filter(votes__isnull=False).order_by("id").first()
    return {"bills": Bill.objects.count(), "target": target}


@pytest.mark.browser
@pytest.mark.slow
def test_dashboard_search_bill_and_trace(live_server, demo_data, browser_page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser_page
    # 127.0.0.1 is a secure context, so the browser exposes serverTiming directly.
    page.goto(live_server.url + "/")
    assert page.locator(".stat-value").first.inner_text().strip() == str(demo_data["bills"])
    page.screenshot(path=SHOTS / "dashboard.png", full_page=True)

    target = demo_data["target"]
    page.fill("main input[name=q]", target.number)
    page.press("main input[name=q]", "Enter")
    page.wait_for_url(re.compile(r"/bills/\?q="))
    page.screenshot(path=SHOTS / "search.png", full_page=True)
    page.get_by_role("link", name=target.number, exact=True).first.click()
    page.wait_for_url(re.compile(rf"/bills/{target.id}/$"))
    assert target.title in page.locator("h1").inner_text()
    naive = int(page.locator("#query-count").inner_text())
    page.screenshot(path=SHOTS / "bill_naive.png", full_page=True)
    page.get_by_role("link", name="Show the fixed version").click()
    page.wait_for_url(re.compile(r"fixed=1"))
    assert int(page.locator("#query-count").inner_text()) == 3 < naive
    page.screenshot(path=SHOTS / "bill_fixed.png", full_page=True)

    page.get_by_role("link", name="Trace", exact=True).click()
    page.wait_for_selector("body[data-trace-ready=true]", timeout=15_000)
    rows = page.locator("#waterfall .wf-row")
    by_layer: dict[str, list[str]] = {}
    for i in range(rows.count()):
        row = rows.nth(i)
        by_layer.setdefault(row.get_attribute("data-layer"), []).append(
            row.locator(".wf-ms").inner_text()
        )
    db_label = page.locator('#waterfall .wf-row[data-layer="db"]').first.inner_text()
    assert "database (connection set-up and queries)" in db_label  # the live server reconnects
    for layer in ("dns", "connect", "app", "db", "download"):
        assert layer in by_layer, f"no {layer} phase in the waterfall: {by_layer}"
        assert all(re.fullmatch(r"\d+\.\d ms", text) for text in by_layer[layer]), by_layer
    served_by = page.locator("#wf-served-by").inner_text()
    assert re.search(r"pid \d+", served_by)
    assert page.locator("#wf-source").inner_text() == "this page load"
    page.screenshot(path=SHOTS / "trace.png", full_page=True)
