"""The same site from both engines (digest build --engine mkdocs|zensical): the twelve real records built by MkDocs +
Material and by Zensical, Material's successor, give the same pages; figures and math render, the language switch
keeps the page and Chinese search finds 扩散 in Chromium. What Zensical cannot do yet is an xfail naming why (the
README's "Zensical" section lists them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import over_engines
from tests.browser.test_browsing import search, visit

# What Zensical 0.0.73 does not do yet, by test (the README lists the same).
_WORKER = ("Zensical 0.0.73's search UI speaks another worker protocol than Material's (its results are paginated: "
           "it reads `pagination.prev`), while the site's own search worker (digest/search.py's index, which segments "
           "Chinese) answers in Material's; under Zensical the answer throws an uncaught error on the page and search "
           "works only sometimes. Its own index keeps Chinese text unsegmented, so the site does not fall back to it")
ZENSICAL_GAPS = {"chinese_search": _WORKER, "figures_and_math": _WORKER, "language_switch": _WORKER}


def known_gap(request, engine: str, name: str) -> None:
    if engine == "zensical" and name in ZENSICAL_GAPS:
        request.applymarker(pytest.mark.xfail(reason=ZENSICAL_GAPS[name], strict=False))


def pages_and_files(site: Path) -> tuple[set[str], set[str]]:
    pages = {p.parent.relative_to(site).as_posix() for p in site.rglob("index.html")}
    data = {p.relative_to(site).as_posix() for pattern in ("**/feed.xml", "**/feed.json", "**/papers.json",
                                                           "**/papers.bib", "**/sitemap.xml", "**/404.html",
                                                           "**/*.svg", "**/*.zip")
            for p in site.glob(pattern) if "assets/mathjax" not in p.as_posix() and ".icons" not in p.as_posix()}
    return pages, data


def test_both_engines_build_the_same_pages_and_files(build_real):
    mkdocs_pages, mkdocs_files = pages_and_files(build_real("/", "mkdocs").site)
    zensical_pages, zensical_files = pages_and_files(build_real("/", "zensical").site)
    assert len(mkdocs_pages) > 100
    assert zensical_pages == mkdocs_pages, zensical_pages ^ mkdocs_pages
    assert {f for f in mkdocs_files if "assets/demos" in f or "feed" in f or "papers." in f} <= zensical_files


@over_engines
def test_figures_and_math_render(page, engine, request):
    known_gap(request, engine, "figures_and_math")
    for prefix in ("", "zh/"):
        visit(page, prefix + "papers/latte/")
        assert page.locator("mjx-container svg").count() > 0
        assert page.locator("mjx-merror").count() == 0
        figures = page.locator("figure.pd-figure img")
        assert figures.count() > 0
        assert figures.evaluate_all("imgs => imgs.every(i => i.complete && i.naturalWidth > 0)")
    assert not page.watch.take()


# MkDocs' language switch and Chinese search are tests/browser/test_browsing.py's (the same steps, the same pages and
# queries, on the same site): here Zensical's.
zensical_only = pytest.mark.parametrize("engine", ["zensical"], scope="session")


@zensical_only
@pytest.mark.parametrize("path", ["papers/latte/", "tags/attention/"])
def test_language_switch_keeps_the_page(page, base_url, engine, path, request):
    known_gap(request, engine, "language_switch")
    for here, there, lang in (("", "zh/", "zh"), ("zh/", "", "en")):
        visit(page, here + path)
        page.locator(".md-header__option .md-select").hover()
        with page.expect_navigation(wait_until="load"):
            page.locator(f"a.md-select__link[hreflang={lang}]").click()
        assert page.url == base_url + there + path
        assert page.locator("html").get_attribute("lang") == lang
    page.watch.settle(page)
    assert not page.watch.take()


@zensical_only
def test_chinese_search_finds_diffusion(page, engine, request):
    known_gap(request, engine, "chinese_search")
    visit(page, "zh/")
    page.set_default_timeout(5_000)  # when the gap shows, a step waits for what never comes: 5 s, not Playwright's 30
    page.wait_for_timeout(1500)  # the index loads after the page
    found = search(page, "扩散")
    papers = {p.rstrip("/").split("/")[-1] for p in found if "/zh/papers/" in p}
    assert {"latte", "freetalker", "consistency-models"} <= papers, found
