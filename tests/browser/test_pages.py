"""Every page of the built site, both languages, in a real browser: it loads with no console error, no failed
request, no request to another host and no broken image; it has its description, canonical link and feed link;
and every link on it leads to a file the site has. The sitemaps give each page's language versions (hreflang)."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urljoin

from tests.browser.conftest import over_mounts, site_path

# One script per page, run after it has settled: everything the checks need in one round trip.
INSPECT = """() => ({
  lang: document.documentElement.lang,
  description: (document.querySelector('meta[name="description"]') || {}).content || "",
  canonical: (document.querySelector('link[rel="canonical"]') || {}).href || "",
  hreflang: Array.from(document.querySelectorAll('link[rel="alternate"][hreflang]'), l => [l.hreflang, l.href]),
  feed: (document.querySelector('link[rel="alternate"][type="application/atom+xml"]') || {}).href || "",
  broken: Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
  links: Array.from(document.querySelectorAll("a[href]"), a => a.href),
  mathErrors: document.querySelectorAll("mjx-merror, .MathJax_Error").length,
  title: document.title,
})"""


def all_pages(site: Path) -> list[str]:
    """Every page of both languages (English at the root, Chinese under zh/) as a URL path."""
    return sorted(p.parent.relative_to(site).as_posix() + "/" if p.parent != site else ""
                  for p in site.rglob("index.html"))


@over_mounts
def test_every_page_loads_cleanly_with_its_metadata_and_working_links(page, site, base_url, site_url):
    paths = all_pages(site)
    assert len([p for p in paths if p.startswith("zh/")]) == len([p for p in paths if not p.startswith("zh/")])
    problems, checked_links, sizes = [], set(), {}
    start = time.perf_counter()
    for path in paths:
        url = base_url + path
        response = page.goto(url, wait_until="load")
        page.watch.settle(page)
        info = page.evaluate(INSPECT)
        sizes[path] = (site / path / "index.html").stat().st_size
        problems += [f"{path}: {p}" for p in page.watch.take()]
        if response is None or response.status != 200:
            problems.append(f"{path}: status {response and response.status}")
        want_lang = "zh" if path.startswith("zh/") else "en"
        if info["lang"] != want_lang:
            problems.append(f"{path}: <html lang={info['lang']!r}>, expected {want_lang}")
        if not info["description"].strip():
            problems.append(f"{path}: no meta description")
        if info["canonical"] != site_url + path:
            problems.append(f"{path}: canonical {info['canonical']!r}")
        if info["hreflang"]:  # they are in the sitemaps: see test_sitemaps_give_every_page_its_language_versions
            problems.append(f"{path}: <link hreflang> in the head makes Material fetch <page>/sitemap.xml")
        if not info["feed"].endswith(("zh/feed.xml" if want_lang == "zh" else "/feed.xml")):
            problems.append(f"{path}: feed link {info['feed']!r}")
        if info["broken"]:
            problems.append(f"{path}: broken images {info['broken']}")
        if info["mathErrors"]:
            problems.append(f"{path}: {info['mathErrors']} MathJax errors")
        for link in info["links"]:
            target = site_path(site, link.split("#")[0], base_url)
            if target is not None and target not in checked_links:
                checked_links.add(target)
                if not target.is_file():
                    problems.append(f"{path}: link to a missing page {link}")
    seconds = time.perf_counter() - start
    largest = max(sizes, key=sizes.get)
    print(f"\n{len(paths)} pages in {seconds:.1f} s ({seconds / len(paths) * 1000:.0f} ms each); "
          f"{len(checked_links)} distinct same-site link targets; HTML sizes: median "
          f"{sorted(sizes.values())[len(sizes) // 2] / 1024:.0f} KB, largest {largest} {sizes[largest] / 1024:.0f} KB")
    assert not problems, "\n".join(problems)
    assert len(paths) >= 20


@over_mounts
def test_a_missing_page_gets_the_404_page_in_its_language(page, base_url):
    for path, heading, home in (("papers/no-such-paper/", "Page not found", ""),
                                ("zh/papers/no-such-paper/", "找不到这个页面", "zh/")):
        response = page.goto(base_url + path, wait_until="load")
        page.watch.settle(page)
        assert response.status == 404
        assert heading in page.locator("h1").inner_text()
        # The 404 page's links are absolute (from the site's address), so they work at any depth and sub-path;
        # its styles and scripts too (no failed request below), and its language switch leads to the other home.
        other = "" if path.startswith("zh/") else "zh/"
        assert page.locator("a.md-select__link[hreflang=%s]" % ("en" if other == "" else "zh")).evaluate(
            "a => a.href") == base_url + other
        with page.expect_navigation(wait_until="load"):
            page.get_by_role("link", name="回到首页" if path.startswith("zh/") else "Go to the home page").click()
        assert page.url == urljoin(base_url, home)
        page.watch.settle(page)
        problems = page.watch.take()
        # The only failures are the missing page itself (its 404 status, reported twice by Chromium).
        assert all(path in p or "status of 404" in p for p in problems), problems


@over_mounts
def test_sitemaps_give_every_page_its_language_versions(site, site_url):
    """hreflang lives in the sitemaps (see overrides/sitemap.xml for why not in <head>): every page of each language
    is listed with its own URL, its counterpart in the other language (a page that exists) and x-default."""
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9", "x": "http://www.w3.org/1999/xhtml"}
    for prefix in ("", "zh/"):
        urls = ET.parse(site / prefix / "sitemap.xml").getroot().findall("s:url", ns)
        listed = set()
        for url in urls:
            loc = url.find("s:loc", ns).text
            alternates = {link.get("hreflang"): link.get("href") for link in url.findall("x:link", ns)}
            assert set(alternates) == {"en", "zh", "x-default"}, loc
            assert alternates["zh" if prefix else "en"] == loc
            assert alternates["x-default"] == alternates["en"]
            for lang, href in alternates.items():
                assert href.startswith(site_url), f"{loc}: {lang} -> {href}"
                assert (site / href[len(site_url):] / "index.html").is_file(), f"{loc}: {lang} -> {href}"
            listed.add(loc[len(site_url):])
        pages = {p for p in all_pages(site) if p.startswith("zh/") == bool(prefix)}
        assert pages == listed, pages ^ listed
