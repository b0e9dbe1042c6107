"""The papers listing and the reading queue at every size: the first page's rows come from rows.json with the
same markup as the pages' rows, a phone gets stacked rows with nothing wider than the screen, and a reader
without JavaScript reaches every paper through the pages. (Filters, sorting and shareable URLs: test_browsing.)"""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import over_mounts, over_mounts_with

# A row as the browser holds it: its attributes and each cell's markup (entities and whitespace as parsed).
ROWS = """rows => rows.map(r => ({
  attrs: Array.from(r.attributes).map(a => [a.name, a.value]),
  cells: Array.from(r.cells).map(c => c.innerHTML.trim()),
}))"""


def loaded(page, path: str):
    """Open a listing and wait until listing.js has built every row (the form shows once it has)."""
    response = page.goto(path, wait_until="load")
    assert response.status == 200, path
    page.wait_for_selector("form.pd-filters:not([hidden])", timeout=15_000)
    page.watch.settle(page)


@pytest.mark.parametrize("path", ["papers/", "zh/papers/", "queue/", "zh/queue/"])
def test_rows_built_from_rows_json_are_the_rows_the_pages_hold(browser, page, base_url, site, path):
    """listing.js builds rows from rows.json; the template writes them into the pages: the same rows, the same
    markup, the same order (a change to one that the other misses fails here)."""
    static = browser.new_context(base_url=base_url, java_script_enabled=False)
    try:
        plain = static.new_page()
        plain.goto(path, wait_until="load")
        written = plain.locator("table.pd-listing tbody tr").evaluate_all(ROWS)
        assert plain.locator("form.pd-filters").is_hidden()
    finally:
        static.close()
    loaded(page, path)
    built = page.locator("table.pd-listing tbody tr").evaluate_all(ROWS)
    rows = json.loads((site / path / "rows.json").read_text(encoding="utf-8"))["rows"]
    assert len(built) == len(rows) == len(written)  # the real site's listings fit on their first page
    assert built == written
    if path.endswith("papers/"):
        assert len(built) == len(list((site / path).glob("*/index.html")))
    assert not page.watch.take()


@over_mounts_with("path", ["papers/", "zh/papers/", "queue/", "zh/queue/"], ["papers/", "zh/queue/"])
def test_a_phone_gets_stacked_rows_and_no_sideways_scroll(browser, base_url, path):
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=base_url,
                                  device_scale_factor=2, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.goto(path, wait_until="load")
        page.wait_for_selector("form.pd-filters:not([hidden])", timeout=15_000)
        widths = page.evaluate("() => [document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]")
        assert widths[0] <= widths[1] == 390, widths
        wrap = page.evaluate("() => { const w = document.querySelector('.pd-table-wrap');"
                             " return [w.scrollWidth, w.clientWidth]; }")
        assert wrap[0] <= wrap[1], wrap  # and the table itself does not scroll inside its wrapper
        # Stacked: the title cell spans the row, the cells under it start on lines below it.
        rows = page.locator("table.pd-listing tbody tr")
        for i in range(min(rows.count(), 3)):
            cells = rows.nth(i).locator("td")
            boxes = [cells.nth(j).bounding_box() for j in range(cells.count())]
            shown = [b for b in boxes if b and b["height"] > 0]
            assert shown[0]["width"] > 300 and all(b["y"] > shown[0]["y"] for b in shown[1:]), boxes
            assert all(b["x"] + b["width"] <= 390 for b in shown), boxes
        # The sortable headings stay within reach as buttons.
        assert page.get_by_role("button", name="Title" if not path.startswith("zh/") else "标题").is_visible()
    finally:
        context.close()


@over_mounts
@pytest.mark.parametrize("prefix", ["", "zh/"], ids=["en", "zh"])
def test_without_javascript_the_listing_pages_reach_every_paper(browser, base_url, site, prefix):
    context = browser.new_context(base_url=base_url, java_script_enabled=False)
    try:
        page = context.new_page()
        url, seen, reached = base_url + prefix + "papers/", [], set()
        while url:
            assert url not in seen
            seen.append(url)
            assert page.goto(url, wait_until="load").status == 200
            assert page.locator("form.pd-filters").count() == 0 or page.locator("form.pd-filters").is_hidden()
            links = page.locator("table.pd-listing tbody tr td:first-child a").evaluate_all("as => as.map(a => a.href)")
            assert links and all(a.startswith(base_url + prefix + "papers/") for a in links), links
            reached |= {a[len(base_url + prefix + "papers/"):].strip("/") for a in links}
            following = page.locator(".pd-pager a[rel=next]")
            url = following.evaluate("a => a.href") if following.count() else None
        pages = {p.parent.name for p in (site / prefix / "papers").glob("*/index.html")} - {"page"}
        assert reached == pages
        # Each paper link leads to its page.
        page.goto(base_url + prefix + "papers/", wait_until="load")
        with page.expect_navigation(wait_until="load"):
            page.locator("table.pd-listing tbody tr td:first-child a").first.click()
        assert page.locator("h1").count() == 1
    finally:
        context.close()
