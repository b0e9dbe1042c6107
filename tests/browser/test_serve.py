"""`digest serve` in Chromium: the open page reloads itself after an edit, in both languages, and a failed
rebuild shows its problems over the last good page. The fixture project keeps the builds small."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

from playwright.sync_api import expect

from digest.serve import CHANGES_PATH, serve
from tests.browser.conftest import ARTIFACTS
from tests.conftest import make_project
from tests.test_serve import free_port, wait_for

WAIT_MS = 180_000  # a bound for a loaded machine, not a timing claim (bench/build.py measures the latency)


def version(base: str) -> int:
    """serve's current version (a `since` of -1 is answered at once)."""
    with urllib.request.urlopen(f"{base}{CHANGES_PATH[1:]}?since=-1", timeout=30) as response:
        return json.load(response)["version"]


def settle(base: str, pages, at_least: int) -> None:
    """Until serve has published `at_least` versions and every page has loaded the newest one and is not about
    to reload: the next step's navigation then races no reload."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        now = version(base)
        if now >= at_least:
            for page in pages:
                page.wait_for_function(f"""(() => {{ const s = window.digestServe;
                    return s && s.version >= {now} && !s.reloading && document.readyState === "complete"; }})()""",
                                       timeout=WAIT_MS)
            if version(base) == now:
                return
        time.sleep(0.1)
    raise AssertionError(f"serve did not settle at version {at_least}")


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
            before = version(base)
            for open_page in (page, listing):  # lives as long as this document: gone after a reload
                open_page.evaluate("window.pdBeforeEdit = true")
            record.write_text(record.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
            expect(page.locator("article")).to_contain_text(new, timeout=WAIT_MS)
            # Waited for, not evaluated once: the full build's reload may land meanwhile (no context to evaluate in).
            for open_page in (page, listing):
                open_page.wait_for_function("window.pdBeforeEdit === undefined", timeout=WAIT_MS)
            # The paper's pages, the listing's rows, then the full build that reloads every open page.
            settle(base, (page, listing), at_least=before + 3)
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
