"""The Run box in Chromium: against `digest serve`, Run with a changed knob streams the demo's progress and then
replaces the page's figures and metrics; on the static site there is no Run button.

`digest serve` runs over the fixture project (its tiny demo is the fastest there is: the build stays short);
the static check is on the real site."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request

import pytest

from digest.serve import serve
from tests.browser.conftest import Watch
from tests.conftest import make_project

PAPER = "alpha-video"  # the fixture paper whose demo is reference_impls/tiny


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`digest serve` over the fixture project with its tiny implementation: the base URL."""
    root = make_project(tmp_path_factory.mktemp("served"), with_impl=True)
    port, stop = free_port(), threading.Event()
    thread = threading.Thread(target=serve, args=(root, port, lambda line: None, lambda problems: None),
                              kwargs={"interval": 2.0, "stop": stop}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + f"papers/{PAPER}/", timeout=5) as response:
                if b"pd-run-token" in response.read():
                    break
        except OSError:
            time.sleep(0.5)
    yield url
    stop.set()
    thread.join(20)


def test_run_streams_progress_and_replaces_figures_and_metrics(sync_playwright, browser, served):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=served)
    watch = Watch(served)
    watch.attach(context)
    page = context.new_page()
    page.goto(f"papers/{PAPER}/", wait_until="load")
    button = page.locator(".pd-run-button")
    assert button.is_visible()
    before_metrics = page.locator(".pd-metrics tbody tr td:nth-child(2)").all_text_contents()
    before_src = page.locator(".pd-figure img").first.get_attribute("src")
    rows = page.locator('.pd-run input[name="ROWS"]')
    assert rows.input_value() == "8"
    rows.fill("5")
    button.click()
    # Progress arrives while the demo still runs (streamed, not buffered until the end).
    page.wait_for_function("""() => {
        const log = document.querySelector('.pd-run-log');
        return log && /\\[1\\/2\\] sampling logits/.test(log.textContent) && !document.querySelector('.pd-run-took');
    }""", timeout=120_000)
    page.wait_for_selector(".pd-run-took", timeout=180_000)
    after_src = page.locator(".pd-figure img").first.get_attribute("src")
    assert "/__digest__/runs/" in after_src and after_src != before_src
    assert page.evaluate("() => [...document.querySelectorAll('.pd-figure img')].every(i => i.complete "
                         "&& i.naturalWidth > 0)")
    after_metrics = page.locator(".pd-metrics tbody tr td:nth-child(2)").all_text_contents()
    assert len(after_metrics) == len(before_metrics) and after_metrics != before_metrics and "5" in after_metrics
    assert page.locator(".pd-run-diff tbody tr").count() == len(before_metrics)
    assert not page.locator(".pd-run-error").count()
    page.locator(".pd-run").screenshot(path=str(_artifacts() / "run-box-after-run.png"))
    assert watch.take() == []
    context.close()


def test_the_static_site_has_no_run_button(page, base_url):
    page.goto("papers/setformer/", wait_until="load")
    assert page.locator(".pd-run").count() == 1  # the knobs and the environment of the figures are shown
    assert "NumPy" in page.locator(".pd-run").inner_text()
    assert page.locator(".pd-run-button, .pd-run input, meta[name=pd-run-token]").count() == 0
    assert page.locator("a[href$='.ipynb']").count() == 1


def _artifacts():
    from tests.browser.conftest import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
