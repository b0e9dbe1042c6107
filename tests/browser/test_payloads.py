"""A record with a payload in every text field (tests/conftest.py PAYLOAD): Chromium loads every page of both
languages, and searches for it, and no script of the payload runs."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest

from tests.browser.conftest import Watch, _Handler


@pytest.fixture(scope="module")
def payload_url(payload_site):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_Handler, directory=str(payload_site)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


def test_no_payload_script_runs_on_any_page_or_in_search(browser, payload_site, payload_url):
    paths = sorted(p.parent.relative_to(payload_site).as_posix() + "/" for p in payload_site.rglob("index.html"))
    paths = [p.removeprefix("./") for p in paths]
    assert any(p.startswith("zh/") for p in paths) and "papers/alpha-video/" in paths
    ran: list[str] = []
    context = browser.new_context(base_url=payload_url)
    try:
        watch = Watch(payload_url)
        watch.attach(context)
        page = context.new_page()
        page.on("dialog", lambda dialog: (ran.append(f"dialog: {dialog.message}"), dialog.dismiss()))
        for path in paths:
            page.goto(payload_url + path, wait_until="load")
            watch.settle(page)
            page.hover("h1")  # tooltips and title attributes, as a reader's pointer meets them
            if page.evaluate("() => window.__pwned !== undefined"):
                ran.append(path)
        for prefix in ("", "zh/"):
            page.goto(payload_url + prefix, wait_until="load")
            watch.settle(page)
            page.locator("input.md-search__input").click()
            page.locator("input.md-search__input").fill("PAYLOAD")
            page.keyboard.press("End")
            page.wait_for_selector(".md-search-result__item", timeout=10_000)
            assert "PAYLOAD" in page.locator(".md-search-result__list").inner_text()
            if page.evaluate("() => window.__pwned !== undefined"):
                ran.append(f"{prefix}search")
    finally:
        context.close()
    assert ran == []
