"""Record text cannot carry script: Markdown fields keep their formatting, plain fields show Markdown as typed,
and a build with a payload in every text field has no active content in any output, in both languages."""

import html
import json
import re
from pathlib import Path

from digest.markdown_safety import code_span, finalize, plain_text, safe_markdown
from tests.conftest import PAYLOAD, active_content


def test_plain_text_shows_markdown_and_html_as_typed():
    text = plain_text("[x](javascript:alert(1)) <b>*a* _b_ {: onclick=x} $y$ a|b\n# h")
    assert html.unescape(text) == "[x](javascript:alert(1)) <b>*a* _b_ {: onclick=x} $y$ a|b # h"
    assert not re.search(r"[\[\]()<>*_{}$|#]", text.replace("&#", ""))


def test_a_url_stays_a_url_that_cannot_end_early():
    assert finalize("https://example.org/a_b?q=1&r=2") == "https://example.org/a_b?q=1&amp;r=2"
    assert finalize("https://x.org/a)[y](javascript:z)") == "https://x.org/a%29%5By%5D%28javascript:z%29"


def test_code_spans_cannot_be_closed_early():
    assert code_span("a`b") == "``a`b``"


def test_markdown_fields_defuse_disguised_script_links_and_attribute_lists():
    out = safe_markdown("[a](java\tscript:x) [b]( JAVASCRIPT:x) [c](<javascript:x>) [d]: vbscript:x "
                        "[e](JaVa&#115;cript:x) para {: onclick=\"x\" } $\\href{javascript:x}{m}$ **kept**")
    assert "javascript:" not in out.lower().replace("\t", "") and "vbscript:" not in out
    assert "&amp;#115;" in out and "&#123;: onclick" in out and "\\href{#blocked-" in out and "**kept**" in out


def test_no_page_of_the_payload_site_has_active_content(payload_site: Path):
    pages = sorted(payload_site.rglob("*.html"))
    assert len([p for p in pages if p.is_relative_to(payload_site / "zh")]) > 5
    found = {p.relative_to(payload_site).as_posix(): active_content(p.read_text(encoding="utf-8")) for p in pages}
    assert {k: v for k, v in found.items() if v} == {}
    paper = (payload_site / "papers" / "alpha-video" / "index.html").read_text(encoding="utf-8")
    assert paper.count("PAYLOAD") > 10


def test_plain_fields_show_the_payload_as_typed_in_both_languages(payload_site: Path):
    for lang in ("", "zh/"):
        page = (payload_site / lang / "papers" / "alpha-video" / "index.html").read_text(encoding="utf-8")
        heading = re.search(r"<h1[^>]*>(.*?)<a class=\"headerlink\"", page, re.S).group(1)
        assert html.unescape(heading).strip() == PAYLOAD.replace("\t", "    ")
        cells = [html.unescape(c) for c in re.findall(r"<td>(PAYLOAD.*?)</td>", page, re.S)]
        assert PAYLOAD.replace("\t", "    ") in cells  # the result's benchmark, metric and setting


def test_exports_hold_no_markup(payload_site: Path):
    # The search indexes hold record text as data (Material shows it escaped): tests/browser/test_payloads.py
    # searches for the payload in Chromium.
    for rel in ("papers.json", "feed.xml", "zh/feed.xml"):
        text = (payload_site / rel).read_text(encoding="utf-8")
        assert "PAYLOAD" in text and "<script>window" not in text and "<img src=x" not in text, rel
    data = json.loads((payload_site / "papers.json").read_text(encoding="utf-8"))
    assert data["papers"][-1]["title"]["en"] == PAYLOAD or any(p["title"]["en"] == PAYLOAD for p in data["papers"])
