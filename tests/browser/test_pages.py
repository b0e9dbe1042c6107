"""Every page of the built site, both languages. Read from its file, each has its language, description, canonical
link and feed link, and every link and image on it leads to a file the site has. In a real browser, the pages
with text of their own and the first page of each templated kind (tags, source files) load with no console error,
no failed request, no request to another host, no broken image and no MathJax error, and the same checks hold on
the DOM. The sitemaps give each page's language versions (hreflang).

Under a sub-path the site is the root's site with its address swapped (checked file by file, without a browser),
so the browser opens one page of each kind there."""

from __future__ import annotations

import gzip
import re
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from tests.browser.conftest import over_mounts, over_mounts_with, site_path

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


def one_of_each_kind(paths: list[str]) -> list[str]:
    """The first page of each kind (language, section and depth: the home page, a listing, a paper page, a tag,
    ...), each kind being one template with the same address-dependent parts."""
    kinds: dict[tuple, str] = {}
    for path in paths:
        parts = path.removeprefix("zh/").strip("/").split("/")
        kinds.setdefault((path.startswith("zh/"), parts[0], len(parts)), path)
    return sorted(kinds.values())


class PageFacts(HTMLParser):
    """What INSPECT reads from the DOM, read from a page's HTML file instead (URLs resolved against the page's
    address as the browser resolves them): for the pages the browser does not open."""

    def __init__(self, page_url: str):
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.info = {"lang": "", "description": "", "canonical": "", "hreflang": [], "feed": "", "links": [],
                     "images": []}

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        info, url = self.info, lambda value: urljoin(self.page_url, value)
        if tag == "html":
            info["lang"] = a.get("lang", "")
        elif tag == "meta" and a.get("name") == "description" and not info["description"]:
            info["description"] = a.get("content", "")
        elif tag == "link" and a.get("rel") == "canonical" and not info["canonical"]:
            info["canonical"] = url(a.get("href", ""))
        elif tag == "link" and a.get("rel") == "alternate" and "hreflang" in a:
            info["hreflang"].append([a["hreflang"], url(a.get("href", ""))])
        elif tag == "link" and a.get("rel") == "alternate" and a.get("type") == "application/atom+xml":
            info["feed"] = info["feed"] or url(a.get("href", ""))
        elif tag == "a" and "href" in a:
            info["links"].append(url(a["href"]))
        elif tag == "img" and a.get("src"):
            info["images"].append(url(a["src"]))


def page_problems(path: str, info: dict, site: Path, site_url: str, base_url: str, checked_links: set) -> list[str]:
    """What is wrong with the page at `path` by what INSPECT (or PageFacts) found on it: its language, description,
    canonical and feed links, hreflang kept out of the head, and links to files the site lacks."""
    problems = []
    want_lang = "zh" if path.startswith("zh/") else "en"
    if info["lang"] != want_lang:
        problems.append(f"<html lang={info['lang']!r}>, expected {want_lang}")
    if not info["description"].strip():
        problems.append("no meta description")
    if info["canonical"] != site_url + path:
        problems.append(f"canonical {info['canonical']!r}")
    if info["hreflang"]:  # they are in the sitemaps: see test_sitemaps_give_every_page_its_language_versions
        problems.append("<link hreflang> in the head makes Material fetch <page>/sitemap.xml")
    if not info["feed"].endswith(("zh/feed.xml" if want_lang == "zh" else "/feed.xml")):
        problems.append(f"feed link {info['feed']!r}")
    for link in info["links"] + info.get("images", []):
        target = site_path(site, link.split("#")[0], base_url)
        if target is not None and target not in checked_links:
            checked_links.add(target)
            if not target.is_file():
                problems.append(f"link to a missing file {link}")
    return [f"{path}: {p}" for p in problems]


# Kinds of page that are one template over generated content: a tag's list of papers, an implementation's source
# file. The browser opens the first of each (a console error or failed request there is the template's, and would
# show on that page); every page of every kind gets the file checks (test_every_page_has_its_metadata...).
TEMPLATED = ("tags", "code")


def section(path: str) -> str:
    """The first part of a page's path within its language: "papers", "tags", "code", ... ("" for a home)."""
    return path.removeprefix("zh/").split("/")[0]


def opened_at_root(paths: list[str]) -> list[str]:
    """The pages the browser opens at the root: each page with text of its own (the homes, listings, papers,
    collections, glossary, queue and guide) and the first page of each templated kind."""
    own = [p for p in paths if section(p) not in TEMPLATED]
    return sorted(own + one_of_each_kind([p for p in paths if section(p) in TEMPLATED]))


def test_every_page_has_its_metadata_and_working_links(site, base_url, site_url):
    """Every page of both languages, read from its file: language, description, canonical and feed links, and
    every link and image leads to a file the site has."""
    paths = all_pages(site)
    assert len(paths) >= 100 and sum(section(p) in TEMPLATED for p in paths) >= 60
    problems, checked_links = [], set()
    for path in paths:
        facts = PageFacts(base_url + path)
        facts.feed((site / path / "index.html").read_text(encoding="utf-8"))
        problems += page_problems(path, facts.info, site, site_url, base_url, checked_links)
    assert len(checked_links) > 150
    assert not problems, "\n".join(problems)


SHARDS = 2  # the browser's pages at the root, in parts that the two xdist workers share


@over_mounts_with("shard", at_root=list(range(SHARDS)), under_sub_path=[0])
def test_pages_load_cleanly_in_the_browser_with_their_metadata_and_working_links(page, site, base_url, site_url,
                                                                                  mount, shard):
    paths = all_pages(site)
    assert len([p for p in paths if p.startswith("zh/")]) == len([p for p in paths if not p.startswith("zh/")])
    if mount != "/":  # the same pages as at the root but for the address: test_the_sub_path_site_is_the_root_site...
        paths = one_of_each_kind(paths)
        assert {"", "zh/", "papers/", "zh/papers/"} <= set(paths) and any(p.startswith("code/") for p in paths)
        assert len(paths) >= 20
    else:  # every SHARDS-th page from `shard` on: each part a mix of kinds and languages
        paths = opened_at_root(paths)
        assert {"", "zh/", "papers/latte/", "zh/papers/latte/", "glossary/"} <= set(paths) and len(paths) >= 40
        paths = paths[shard::SHARDS]
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
        if info["broken"]:
            problems.append(f"{path}: broken images {info['broken']}")
        if info["mathErrors"]:
            problems.append(f"{path}: {info['mathErrors']} MathJax errors")
        problems += page_problems(path, info, site, site_url, base_url, checked_links)
    seconds = time.perf_counter() - start
    largest = max(sizes, key=sizes.get)
    print(f"\n{len(paths)} pages in {seconds:.1f} s ({seconds / len(paths) * 1000:.0f} ms each); "
          f"{len(checked_links)} distinct same-site link targets; HTML sizes: median "
          f"{sorted(sizes.values())[len(sizes) // 2] / 1024:.0f} KB, largest {largest} {sizes[largest] / 1024:.0f} KB")
    assert not problems, "\n".join(problems)


def swap_address(data: bytes, old_url: str, new_url: str) -> bytes:
    """A root build's file as built for another address: the address wherever it is written, and the base path
    Material keeps its storage under (`__md_scope`)."""
    old_path, new_path = urlsplit(old_url).path, urlsplit(new_url).path
    return data.replace(old_url.encode(), new_url.encode()).replace(
        f'new URL("{old_path}",location)'.encode(), f'new URL("{new_path}",location)'.encode())


def test_the_sub_path_site_is_the_root_site_at_another_address(build_real):
    """Every file of the site built for https://example.org/papers/ is the root build's file with the address
    swapped (gzip files compared unpacked), so what the browser checks on every page at the root holds under the
    sub-path too, but for what depends on the address: the walk above opens one page of each kind there. No file
    refers to a root-absolute path ("/x", which the swap would leave as it is: outside the mount point, or a link
    that assumes the site at the root). The 404 pages, whose links are absolute by design, are opened at both
    mounts by test_a_missing_page_gets_the_404_page_in_its_language."""
    root, sub = build_real("/"), build_real("/papers/")
    assert urlsplit(sub.site_url).path == "/papers/" and root.site_url != sub.site_url
    files = sorted(p.relative_to(root.site).as_posix() for p in root.site.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(sub.site).as_posix() for p in sub.site.rglob("*") if p.is_file())
    differ, absolute, compared = [], [], 0
    for rel in files:
        if rel.endswith("404.html"):
            continue
        mine, theirs = (root.site / rel).read_bytes(), (sub.site / rel).read_bytes()
        if rel.endswith(".gz"):
            mine, theirs = gzip.decompress(mine), gzip.decompress(theirs)
        compared += 1
        if swap_address(mine, root.site_url, sub.site_url) != theirs:
            differ.append(rel)
        if rel.endswith((".html", ".css", ".js", ".json", ".xml")):
            absolute += [f"{rel}: {m.group(0)}" for m in ROOT_ABSOLUTE.finditer(theirs.decode("utf-8"))]
    assert compared > 300 and any(rel.endswith(".gz") for rel in files)
    assert not differ, f"{len(differ)} files differ beyond the address: {differ[:20]}"
    assert not absolute, "\n".join(absolute[:30])


# A reference to a root-absolute path: an attribute or a CSS url() starting with one slash.
ROOT_ABSOLUTE = re.compile(r"""\b(?:href|src|action|srcset|poster|data)=["']?/(?!/)|url\(\s*["']?/(?!/)""")


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
