"""`digest serve` in Chromium: the open page reloads itself after an edit, in both languages, and a failed
rebuild shows its problems over the last good page. The fixture project keeps the builds small."""

from __future__ import annotations

import threading
import urllib.request

from playwright.sync_api import expect

from digest.serve import serve
from tests.browser.conftest import ARTIFACTS
from tests.conftest import make_project
from tests.test_serve import free_port, wait_for

WAIT_MS = 180_000  # a bound for a loaded machine, not a timing claim (bench/build.py measures the latency)


def test_serve_reloads_the_open_page_after_an_edit_and_shows_a_failed_build(browser, tmp_path):
    root = make_project(tmp_path)
    port, stop, lines = free_port(), threading.Event(), []
    thread = threading.Thread(target=serve, args=(root, port, lines.append, lambda problems: None),
                              kwargs={"stop": stop}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}/"
    record = root / "content" / "papers" / "alpha-video.yaml"
    context = browser.new_context()
    page = context.new_page()
    try:
        assert wait_for(lambda: urllib.request.urlopen(base, timeout=5).status == 200, 180), lines
        listing = context.new_page()  # another open page: it reloads with the full build that follows
        for prefix, old, new in (("", "zebrafinch", "hummingbird"), ("zh/", "斑胸草雀", "蜂鸟")):
            page.goto(f"{base}{prefix}papers/alpha-video/", wait_until="load")
            listing.goto(f"{base}{prefix}papers/", wait_until="load")
            expect(page.locator("article")).to_contain_text(old)
            for open_page in (page, listing):  # lives as long as this document: gone after a reload
                open_page.evaluate("window.pdBeforeEdit = true")
            record.write_text(record.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
            expect(page.locator("article")).to_contain_text(new, timeout=WAIT_MS)
            assert page.evaluate("window.pdBeforeEdit === undefined"), "the text changed without a reload?"
            listing.wait_for_function("window.pdBeforeEdit === undefined", timeout=WAIT_MS)
        record.write_text(record.read_text(encoding="utf-8").replace("published:", "published: [", 1),
                          encoding="utf-8")
        problems = page.locator(".pd-serve-problems")
        expect(problems).to_contain_text("content/papers/alpha-video.yaml:", timeout=WAIT_MS)
        expect(page.locator("article")).to_contain_text("蜂鸟")  # the last good page stays
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "serve-failed-build.png"))
    finally:
        context.close()
        stop.set()
        thread.join(10)
