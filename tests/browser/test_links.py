"""Every internal link of the built site (both languages) reaches a page, and every anchor an element of it.
Read from the files of the session's real site: no browser needed, every page and link in a second or two."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

ORIGIN = "http://site.test/"


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("id", "name"):
            if attrs.get(name):
                self.ids.add(attrs[name])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])


def _target(site: Path, url: str) -> Path:
    path = site / unquote(urlsplit(url).path).lstrip("/")
    return path / "index.html" if path.is_dir() or url.split("#")[0].endswith("/") else path


def test_no_internal_link_or_anchor_is_broken(site: Path):
    pages: dict[Path, _Page] = {}
    for file in sorted(site.rglob("*.html")):
        parsed = _Page()
        parsed.feed(file.read_text(encoding="utf-8"))
        pages[file] = parsed
    assert any("zh" in f.relative_to(site).parts for f in pages)
    broken, checked = [], 0
    for file, parsed in pages.items():
        rel = file.relative_to(site).as_posix()
        page_url = ORIGIN + (rel.removesuffix("index.html") if rel.endswith("index.html") else rel)
        for href in parsed.links:
            url = urljoin(page_url, href)
            if not url.startswith(ORIGIN) or re.match(r"^[a-z]+:", href) and not href.startswith("http"):
                continue
            checked += 1
            target = _target(site, url)
            fragment = unquote(urlsplit(url).fragment)
            if not target.is_file():
                broken.append(f"{rel}: {href} -> no {target.relative_to(site)}")
            elif fragment and target.suffix == ".html" and fragment not in pages[target].ids:
                broken.append(f"{rel}: {href} -> no #{fragment} in {target.relative_to(site)}")
    print(f"\n{checked} internal links on {len(pages)} pages")
    assert checked > 100 and not broken, "\n".join(sorted(set(broken))[:50])
