"""What a reader does: switch language and stay on the page, search in both languages, filter and sort the
listing, toggle the colour scheme, copy code, open a figure full size, read math and glossary tooltips, follow a
collection, find the feeds. One real browser, the real site."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET

import pytest

from tests.browser.conftest import ARTIFACTS, over_mounts, over_mounts_with

# Each query and the papers it must find (ids). Chinese queries go to the Chinese index (jieba-segmented).
SEARCHES = {
    "": {"diffusion": {"latte", "freetalker", "consistency-models"},
         "quantization": {"bitnet-a4-8", "flightllm", "llama-factory"},
         "attention": {"latte", "setformer", "mixture-of-transformers"}},
    "zh/": {"扩散": {"latte", "freetalker", "consistency-models"},
            "量化": {"bitnet-a4-8", "flightllm", "llama-factory"},
            "注意力": {"latte", "setformer", "mixture-of-transformers"},
            "长上下文": {"activation-beacon"}},
}
COPY_BUTTON = "button.md-code__button[data-md-type=copy]"  # Material 9.8's copy button (content.code.copy)
READY = {"": "Type to start searching", "zh/": "键入以开始搜索"}  # Material's text once the index is loaded


def visit(page, path: str):
    response = page.goto(path, wait_until="load")
    page.watch.settle(page)
    assert response.status == 200, path
    return response


@over_mounts_with("path", ["papers/latte/", "papers/", "tags/attention/", "collections/reading-series/", "glossary/"],
                  ["papers/latte/", "papers/"])
def test_language_switch_keeps_the_page_both_ways(page, base_url, path):
    for here, there, lang in (("", "zh/", "zh"), ("zh/", "", "en")):
        visit(page, here + path)
        page.locator(".md-header__option .md-select").hover()  # the list opens on hover (or focus)
        with page.expect_navigation(wait_until="load"):
            page.locator(f"a.md-select__link[hreflang={lang}]").click()
        assert page.url == base_url + there + path
        assert page.locator("html").get_attribute("lang") == lang
    page.watch.settle(page)
    assert not page.watch.take()


def search(page, query: str) -> list[str]:
    """Type a query as a person does and return the path of every result page, best first (Material renders them
    ten at a time as the list is scrolled: scroll until all of them are there)."""
    box = page.locator("input.md-search__input")
    box.click()
    box.fill(query)
    # Material searches on key release, and fill() of Chinese text releases no key: press one, as a person would.
    page.keyboard.press("End")
    meta = page.locator(".md-search-result__meta")
    page.wait_for_function("el => /\\d/.test(el.textContent)", arg=meta.element_handle(), timeout=10_000)
    total = int("".join(ch for ch in meta.inner_text() if ch.isdigit()))
    items = page.locator(".md-search-result__list > .md-search-result__item")
    results = page.locator(".md-search__scrollwrap")
    area = results.bounding_box()
    page.mouse.move(area["x"] + area["width"] / 2, area["y"] + area["height"] / 2)
    for _ in range(total):
        count = items.count()
        if count >= total:
            break
        # Material adds four more results each time the list's end comes into view: scroll back a little with the
        # wheel, then to the end, as a reader does.
        page.mouse.wheel(0, -300)
        page.wait_for_timeout(80)
        page.mouse.wheel(0, 100_000)
        try:
            page.wait_for_function("([list, n]) => list.children.length > n", timeout=2_000,
                                   arg=[page.locator(".md-search-result__list").element_handle(), count])
        except Exception:  # noqa: BLE001 - nothing more to load
            break
    paths = page.eval_on_selector_all(".md-search-result__list > .md-search-result__item a.md-search-result__link",
                                      "links => links.map(a => new URL(a.href).pathname)")
    box.fill("")
    return list(dict.fromkeys(paths))  # one entry per page (its sections link to the same path), best first


@over_mounts
@pytest.mark.parametrize("prefix", list(SEARCHES), ids=["en", "zh"])
def test_search_finds_the_expected_papers(page, prefix, mount):
    visit(page, prefix)
    meta = page.locator(".md-search-result__meta")
    page.wait_for_function("([el, text]) => el.textContent.trim() === text",
                           arg=[meta.element_handle(), READY[prefix]], timeout=15_000)
    misses = {}
    for query, expected in SEARCHES[prefix].items():
        found = search(page, query)
        assert all(p.startswith(mount) for p in found), found  # results link inside the site, at any mount point
        found = [p[len(mount):] for p in found]
        papers = [p.split("/")[-2] for p in found if p.startswith(f"{prefix}papers/") and p.count("/") == 2 + bool(prefix)]
        if expected - set(papers):
            misses[query] = (sorted(expected - set(papers)), found)
        # And the reader need not scroll: a paper the query is about is among the first five results.
        elif not any(p.split("/")[-2] in expected for p in found[:5] if p.startswith(f"{prefix}papers/")):
            misses[query + " (first five results)"] = found[:5]
    assert not misses, misses
    assert not page.watch.take()


def listing(page, path: str):
    """Open a listing and wait until listing.js has loaded every row from rows.json (the form then shows)."""
    visit(page, path)
    page.wait_for_selector("form.pd-filters:not([hidden])", timeout=15_000)


def test_listing_filters_and_sorts_in_the_browser(page, base_url, site):
    listing(page, "papers/")
    rows = page.locator("table.pd-listing tbody tr")
    visible = page.locator("table.pd-listing tbody tr:not([hidden])")
    total = rows.count()
    assert total == len(list((site / "papers").glob("*/index.html")))
    expect_tag = rows.evaluate_all("rows => rows.filter(r => r.dataset.tags.split(' ').includes('quantization')).length")
    page.select_option("form.pd-filters select[name=tag]", "quantization")
    assert 0 < visible.count() == expect_tag < total
    assert page.locator(".pd-count").inner_text() == f"{expect_tag} / {total}"
    assert all("quantization" in tags.split() for tags in visible.evaluate_all("rs => rs.map(r => r.dataset.tags)"))
    assert "tag=quantization" in page.url  # the filtered view can be linked to
    page.select_option("select[name=impl]", "yes")
    assert all(impl == "yes" for impl in visible.evaluate_all("rs => rs.map(r => r.dataset.impl)"))
    page.fill("input[name=q]", "zzz-no-such-words")
    assert visible.count() == 0 and page.locator(".pd-empty").is_visible()
    page.locator("form.pd-filters button[type=reset]").click()
    page.wait_for_function("() => document.querySelectorAll('table.pd-listing tbody tr:not([hidden])').length"
                           f" === {total}")
    # A link with filters in its query string opens the listing filtered.
    listing(page, "papers/?venue=ICLR")
    assert 0 < visible.count() < total
    assert set(visible.evaluate_all("rs => rs.map(r => r.dataset.venue)")) == {"ICLR"}
    # Sorting: the title heading is a button; a second click reverses.
    listing(page, "papers/")
    titles = lambda: visible.evaluate_all("rs => rs.map(r => r.dataset.title)")
    page.get_by_role("button", name="Title").click()
    assert page.locator("th[data-sort=title]").get_attribute("aria-sort") == "ascending"
    ascending = titles()
    assert ascending == sorted(ascending, key=str.casefold)
    page.get_by_role("button", name="Title").click()
    assert titles() == ascending[::-1]
    page.get_by_role("button", name="Published").click()
    dates = visible.evaluate_all("rs => rs.map(r => r.dataset.date)")
    assert dates == sorted(dates)
    # Every row's links work without MkDocs rewriting them: explicit directory URLs.
    with page.expect_navigation(wait_until="load"):
        rows.first.locator("td a").first.click()
    assert page.url.startswith(base_url + "papers/") and page.url.endswith("/") and page.url != base_url + "papers/"
    page.watch.settle(page)
    assert not page.watch.take()


def test_chinese_listing_filters_by_tag_with_chinese_labels(page):
    listing(page, "zh/papers/")
    assert page.locator("select[name=tag] option[value=diffusion]").inner_text().startswith("扩散模型")
    page.select_option("select[name=tag]", "diffusion")
    visible = page.locator("table.pd-listing tbody tr:not([hidden])")
    assert visible.count() >= 2
    assert all("diffusion" in t.split() for t in visible.evaluate_all("rs => rs.map(r => r.dataset.tags)"))
    assert not page.watch.take()


def test_paper_page_details_and_a_screenshot_in_both_languages(page, base_url):
    from playwright.sync_api import expect  # here, not at import: without playwright the fixtures skip or fail

    # Without a CJK font the Chinese screenshot is boxes: Debian's fonts-noto-cjk gives Chromium one.
    fonts = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True).stdout
    assert fonts.strip(), "no Chinese font for Chromium: apt-get install fonts-noto-cjk"
    ARTIFACTS.mkdir(exist_ok=True)
    for prefix in ("", "zh/"):
        visit(page, prefix + "papers/latte/")
        # Math: MathJax (served by the site) turned the TeX into SVG, with no error.
        assert page.locator("mjx-container svg").count() > 0
        assert page.locator("mjx-merror").count() == 0
        # Glossary tooltips: terms in the summary carry their translation.
        abbr = page.locator("article abbr[title]").first
        translation = abbr.get_attribute("title").strip()
        assert translation
        abbr.hover()  # Material's content.tooltips shows the title as a tooltip
        expect(page.locator(".md-tooltip2--active")).to_contain_text(translation)
        # Copy buttons on code blocks (the command and the BibTeX entry).
        assert page.locator(COPY_BUTTON).count() >= 2
        # Figures: each image is a link to its full-size SVG, which the site serves.
        figure_link = page.locator("figure.pd-figure a:has(img)").first
        href = figure_link.get_attribute("href")
        assert href.endswith(".svg")
        page.screenshot(path=str(ARTIFACTS / f"paper-latte-{prefix.strip('/') or 'en'}.png"), full_page=True)
        with page.expect_navigation():
            figure_link.click()
        assert page.url.endswith(".svg")
        assert page.evaluate("document.documentElement.tagName.toLowerCase()") == "svg"
    assert not page.watch.take()
    for name in ("paper-latte-en.png", "paper-latte-zh.png"):
        assert (ARTIFACTS / name).stat().st_size > 50_000


def test_copy_button_copies_the_code(browser, base_url):
    context = browser.new_context(base_url=base_url, permissions=["clipboard-read", "clipboard-write"])
    try:
        page = context.new_page()
        page.goto("papers/latte/", wait_until="load")
        block = page.locator(f"div.highlight:has({COPY_BUTTON})").last  # the BibTeX entry
        block.hover()
        block.locator(COPY_BUTTON).click()
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied.startswith("@") and "latte" in copied.lower()
    finally:
        context.close()


def test_colour_scheme_toggle_switches_and_is_remembered(page):
    visit(page, "papers/")
    body = page.locator("body")
    before = body.get_attribute("data-md-color-scheme")
    page.locator("form[data-md-component=palette] label:visible").first.click()
    after = body.get_attribute("data-md-color-scheme")
    assert {before, after} == {"default", "slate"}
    visit(page, "zh/papers/latte/")  # the choice is kept across pages (and languages: same origin)
    assert body.get_attribute("data-md-color-scheme") == after
    assert not page.watch.take()


def test_collection_pages_keep_order_and_papers_link_previous_and_next(page):
    visit(page, "collections/reading-series/")
    titles = page.locator("article table tbody tr td:nth-child(3) a").all_inner_texts()
    assert len(titles) >= 2
    numbers = page.locator("article table tbody tr td:nth-child(1)").all_inner_texts()
    assert numbers == [str(i) for i in range(1, len(numbers) + 1)]
    with page.expect_navigation(wait_until="load"):
        page.locator("article table tbody tr td:nth-child(3) a").nth(1).click()
    section = page.locator("article li", has_text="Previous").first
    assert section.count()
    with page.expect_navigation(wait_until="load"):
        section.get_by_role("link", name=titles[0]).click()
    assert page.locator("h1").first.inner_text().startswith(titles[0][:20])
    page.watch.settle(page)
    assert not page.watch.take()


@over_mounts
def test_feeds_and_data_files_are_served_and_discoverable(page, base_url, site_url):
    for prefix in ("", "zh/"):
        visit(page, prefix + "papers/latte/")
        feed_href = page.locator('link[rel=alternate][type="application/atom+xml"]').evaluate("l => l.href")
        assert feed_href == base_url + prefix + "feed.xml"
        response = page.request.get(feed_href)
        assert response.ok and "xml" in response.headers["content-type"]
        feed = ET.fromstring(response.body())
        entries = feed.findall("{http://www.w3.org/2005/Atom}entry")
        assert entries and feed.get("{http://www.w3.org/XML/1998/namespace}lang") == (prefix.strip("/") or "en")
        # The feed and papers.json name pages by the site's address (where it is published), not where it is served.
        assert feed.find("{http://www.w3.org/2005/Atom}id").text == site_url + prefix
        assert all(e.find("{http://www.w3.org/2005/Atom}id").text.startswith(site_url + prefix + "papers/")
                   for e in entries)
        data = page.request.get(base_url + prefix + "papers.json")
        records = json.loads(data.body())["papers"]
        assert data.ok and len(records) == len(entries)
        assert all(r["page"]["zh"] == f"{site_url}zh/papers/{r['id']}/" for r in records)
        bib = page.request.get(base_url + prefix + "papers.bib")
        assert bib.ok and bib.text().count("@") >= len(entries)
    visit(page, "")
    with page.expect_navigation():
        page.get_by_role("link", name="Atom feed").click()  # the home page links to the feed
    assert page.url == base_url + "feed.xml"
    assert not page.watch.take()
