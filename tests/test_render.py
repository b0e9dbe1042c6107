import re
from html.parser import HTMLParser

import pytest

"""Render stage: pages per language, fallbacks, and record text that cannot inject HTML."""

from digest.load import load_project
from digest.markdown_safety import fence, record_html, safe_markdown
from digest.render import Renderer
from tests.conftest import REPO


def pages(project, lang):
    loaded, _ = load_project(project)
    return Renderer(loaded, lang, REPO / "templates").pages()


def test_every_page_kind_is_rendered_in_both_languages(project):
    for lang in ("en", "zh"):
        out = pages(project, lang)
        for name in ("index.md", "papers/index.md", "papers/alpha-video.md", "papers/beta-attention.md",
                     "tags/index.md", "tags/diffusion.md", "collections/index.md",
                     "collections/fixture-series.md", "glossary.md"):
            assert name in out, (lang, name)
    assert "Alpha 视频:测试用论文" in pages(project, "zh")["papers/alpha-video.md"]


def test_missing_translation_shows_a_visible_notice(project):
    zh = pages(project, "zh")["papers/beta-attention.md"]
    assert "这一部分还没有中文文本" in zh
    assert "One idea." in zh


def test_script_in_title_and_summary_is_text_not_markup(project):
    page = pages(project, "en")["papers/beta-attention.md"]
    page = re.sub(r"````*text\n@.*?````*", "", page, flags=re.S)  # the BibTeX code block shows text literally
    assert "<script>" not in page
    assert "&lt;script" in page
    assert "javascript:" not in page


def test_safe_markdown_keeps_code_and_math_and_defuses_html():
    out = safe_markdown("a <b>bold</b> `x<y` $a<b$ [l](JavaScript:alert(1)) <https://example.org>")
    assert "<b>" not in out and "&lt;b>" in out
    assert "`x<y`" in out and "$a<b$" in out
    assert "javascript" not in out.lower()
    assert "[https://example.org](https://example.org)" in out


def test_record_html_keeps_code_and_math_and_defuses_html():
    out = record_html("a <b>bold</b> `x<y` $a<b$ [l](JavaScript:alert(1)) <https://example.org>\n\n$$\\href{javascript:x}{y}$$"
                      "\n\nforged \ue0007\ue001 slot")
    assert out.startswith('<div class="pd-md">\n<p>') and out.endswith("</p>\n</div>")
    assert "<b>" not in out and "&lt;b&gt;bold" in out
    assert "<code>x&lt;y</code>" in out and '<span class="arithmatex">\\(a&lt;b\\)</span>' in out
    assert "javascript" not in out.lower() and '<a href="#blocked-' in out
    assert '<a href="https://example.org">https://example.org</a>' in out
    assert '<div class="arithmatex">\\[\\href{#blocked-' in out and "forged 7 slot" in out
    assert record_html("") == ""


@pytest.mark.parametrize("text, terms, expected", [
    # an escaped dollar opens no formula; code hides a dollar; display math inside a paragraph is inline
    ("costs \\$5 and $x$; `a$b` then $$y$$ inline", None,
     '<p>costs $5 and <span class="arithmatex">\\(x\\)</span>; <code>a$b</code> then '
     '<span class="arithmatex">\\[y\\]</span> inline</p>'),
    # display math alone in its paragraph is a block; inline math alone stays in its paragraph
    ("$$\\sum_i x_i$$\n\ntext $a$\n\n$b$", None,
     '<div class="arithmatex">\\[\\sum_i x_i\\]</div>\n<p>text <span class="arithmatex">\\(a\\)</span></p>\n'
     '<p><span class="arithmatex">\\(b\\)</span></p>'),
    # a term is a whole word: not after or before a letter or hyphen; any case; the longer term first
    ("pre-attention, attention-based, xattention, Attention! and the KV cache", {"attention": "注意力", "KV cache": "键值缓存"},
     '<p>pre-attention, attention-based, xattention, <abbr title="注意力">Attention</abbr>! and the '
     '<abbr title="键值缓存">KV cache</abbr></p>'),
    # no tooltip in a heading or a link; a `#` inside a line is no heading
    ("# attention\n\nsee [attention](x.md) a # attention token", {"attention": "注意力", "token": "词元"},
     '<h1>attention</h1>\n<p>see <a href="../x/">attention</a> a # <abbr title="注意力">attention</abbr> '
     '<abbr title="词元">token</abbr></p>'),
    # line breaks between Chinese characters go, one after another; others stay
    ("一\n二\n三 a\n四", None, "<p>一二三 a\n四</p>"),
])
def test_record_html_edge_cases(text, terms, expected):
    """Edges of the patterns that find code, math, headings, links, terms and Chinese line breaks."""
    assert record_html(text, terms, wrap=False) == expected + "\n"


class Tree(HTMLParser):
    """HTML as its tags (attributes sorted) and texts (white space runs as one space): what a browser shows."""

    def __init__(self, source: str):
        super().__init__(convert_charrefs=True)
        self.items: list[tuple] = []
        self.feed(source)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.items.append(("<", tag, sorted((k, v or "") for k, v in attrs)))

    def handle_endtag(self, tag):
        self.items.append((">", tag))

    def handle_data(self, data):
        text = re.sub(r"\s+", " ", data)
        if self.items and self.items[-1][0] == "text":
            self.items[-1] = ("text", self.items[-1][1] + text)
        elif text.strip():
            self.items.append(("text", text))

    def normal(self) -> list[tuple]:
        return [("text", item[1].strip()) if item[0] == "text" else item for item in self.items if item != ("text", " ")]


def test_every_long_field_of_the_real_records_reads_as_python_markdown_made_it():
    """The long Markdown fields and the TL;DR's admonition (CommonMark through cmark-gfm, finished HTML) show what
    Python-Markdown with the site's extensions made of them before (the same elements, attributes and text), for
    every such field of every real record in both languages, glossary tooltips included."""
    import markdown
    from mkdocs.config import load_config

    loaded, _ = load_project(REPO)
    config = load_config(config_file=str(REPO / "mkdocs.yml"), docs_dir=str(REPO / "pages" / "en"))
    md = markdown.Markdown(extensions=config["markdown_extensions"], extension_configs=config["mdx_configs"])
    compared = 0
    for lang in ("en", "zh"):
        renderer = Renderer(loaded, lang, REPO / "templates")
        for paper in loaded.papers.values():
            values = [(paper.summary, True), (paper.method, False), (paper.limitations, False)]
            values += [(paper.impl.shows, False), (paper.impl.deviations, False)] if paper.impl else []
            for value, glossary in values:
                if value is None:
                    continue
                ours = renderer.html(value, glossary)
                before = md.reset().convert(renderer.md(value, glossary))
                assert Tree(ours).normal()[1:-1] == Tree(before).normal(), (lang, paper.id, before[:80])
                compared += 1
            if paper.tldr is not None and paper.tldr.has(lang):  # the admonition around it, finished too
                ours = re.search(r'\n\n(<div class="admonition abstract">\n.*?\n</div>)\n\n', renderer.paper_page(paper),
                                 re.S).group(1)
                before = md.reset().convert(f'!!! abstract "{renderer.t["tldr"]}"\n    ' + str(renderer.md(paper.tldr)))
                assert Tree(ours).normal() == Tree(before).normal(), (lang, paper.id)
                compared += 1
            if paper.contributions:
                before = md.reset().convert("\n".join("- " + renderer.md(item) for item in renderer.tr(paper.contributions)))
                assert Tree(renderer.html(paper.contributions)).normal()[1:-1] == Tree(before).normal()
                compared += 1
    assert compared >= 12 * 2 * 5


def test_glossary_terms_get_a_tooltip_once(project):
    page = pages(project, "en")["papers/alpha-video.md"]
    assert page.count('<abbr title="潜在扩散">latent diffusion</abbr>') == 1


def test_fence_cannot_be_closed_by_its_content():
    block = fence("title = {```}\n```\n<script>", "bibtex")
    assert block.startswith("````bibtex\n") and block.endswith("\n````")


def test_collection_keeps_the_source_order_and_neighbours(project):
    coll = pages(project, "en")["collections/fixture-series.md"]
    assert coll.index("beta-attention.md") < coll.index("alpha-video.md")
    alpha = pages(project, "en")["papers/alpha-video.md"]
    assert "Previous: [Beta" in alpha and "(2 of 2)" in alpha


def test_a_line_break_inside_chinese_text_adds_no_space():
    assert safe_markdown("确定性\n轨迹。\n\n- 一\n- 二") == "确定性轨迹。\n\n- 一\n- 二"


# ---- the reading queue -------------------------------------------------------------------------------------------

QUEUED = """\
id: gamma-queued
status: queued
title: {en: "Gamma: A Queued Paper"}
authors: [Grace Hopper, Ada Lovelace, Alan Turing, Edsger Dijkstra]
published: 2019-06
arxiv: "1906.00001"
tags: [diffusion]
citation: {type: misc, key: hopper2019gamma}
"""


def with_queued(project):
    (project / "content" / "papers" / "gamma-queued.yaml").write_text(QUEUED, encoding="utf-8")
    series = project / "content" / "collections" / "fixture-series.yaml"
    series.write_text(series.read_text(encoding="utf-8") + "  - {paper: gamma-queued}\n", encoding="utf-8")
    return project


def test_a_queued_record_is_listed_only_on_the_reading_queue(project):
    with_queued(project)
    for lang, queue_title, state in (("en", "# Reading queue", "queued"), ("zh", "# 待读", "待读")):
        out = pages(project, lang)
        assert "papers/gamma-queued.md" not in out
        mentions = sorted(name for name, text in out.items() if "Gamma: A Queued Paper" in text)
        assert mentions == ["collections/fixture-series.md", "queue/index.md", "queue/rows.json"], (lang, mentions)
        queue = out["queue/index.md"]
        assert queue_title in queue and "search: {exclude: true}" in queue
        row = re.search(r'<tr id="gamma-queued".*?</tr>', queue, flags=re.S).group(0)
        assert 'data-date="2019-06"' in row and '<time datetime="2019-06">2019-06</time>' in row
        assert f"<td>{state}</td>" in row and 'href="https://arxiv.org/abs/1906.00001"' in row
        assert "Grace Hopper, Ada Lovelace, Alan Turing" in row and "Edsger" not in row
        assert 'data-tags' not in row and "diffusion" not in row  # tags are a digest writer's choice
        assert "queue/index.md#gamma-queued" in out["collections/fixture-series.md"]
        assert "queue/index.md" in out["index.md"]
    assert "1 more on the [reading queue](queue/index.md)." in pages(project, "en")["index.md"]
    assert "另有 1 篇在[待读列表](queue/index.md)中。" in pages(project, "zh")["index.md"]


def test_exports_leave_the_queue_out_of_the_digests(project):
    from digest.exports import atom_feed, feeds, json_feed, papers_json
    import json

    loaded, _ = load_project(with_queued(project))
    text = "".join(papers_json(loaded, {}, "https://example.org/"))
    data = json.loads(text)
    # Written a record at a time, one to a line (keys sorted), markup characters escaped.
    lines = text.splitlines()
    assert lines[0] == '{"papers":[' and lines[3] == '],' and lines[4] == '"queue":[' and lines[6] == "]}"
    for line, record in zip(lines[1:3] + lines[5:6], data["papers"] + data["queue"]):
        assert line.rstrip(",") == json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")) \
            .replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    assert [p["id"] for p in data["papers"]] == ["alpha-video", "beta-attention"]
    assert data["queue"] == [{"id": "gamma-queued", "kind": "paper", "status": "queued", "authors":
                              ["Grace Hopper", "Ada Lovelace", "Alan Turing", "Edsger Dijkstra"],
                              "title": {"en": "Gamma: A Queued Paper"}, "published": "2019-06",
                              "arxiv": "1906.00001", "links": {}}]
    for feed in feeds(loaded, "en", "https://example.org/").values():  # the site's feed and each tag's
        assert "gamma" not in atom_feed(feed, "https://example.org/")
        assert "gamma" not in json_feed(feed, "https://example.org/")


def test_a_papers_facts_are_the_html_python_markdown_made_of_their_markdown(project, tmp_path):
    """The facts block (authors, date, venue, outside links, tags) is finished HTML: for a paper with links, one
    without any (two paragraphs then) and an article with a DOI holding `&` and `<`, it equals Python-Markdown's
    conversion (the site's extensions) of the Markdown block it replaced, tag links as MkDocs resolves them."""
    import markdown
    from mkdocs.config import load_config

    from digest.markdown_safety import finalize

    loaded, _ = load_project(project)
    paper = loaded.papers["alpha-video"]
    no_links = paper.links.model_copy(update=dict.fromkeys(("pdf", "code", "project", "openreview", "article")))
    variants = [paper, paper.model_copy(update={"arxiv": None, "doi": None, "links": no_links}),
                paper.model_copy(update={"kind": "article", "arxiv": None, "doi": "10.1000/a&b<c>",
                                         "links": no_links.model_copy(update={"article": "https://x.org/a?b=1&c=2"})})]
    config = load_config(config_file=str(REPO / "mkdocs.yml"), docs_dir=str(tmp_path))  # a fresh clone has no build/
    md = markdown.Markdown(extensions=config["markdown_extensions"], extension_configs=config["mdx_configs"])
    for lang in ("en", "zh"):
        renderer = Renderer(loaded, lang, REPO / "templates")
        t = renderer.t
        w_arxiv, w_authors, w_published, w_venue, w_article = (t[k] for k in ("arxiv", "authors", "published",
                                                                              "venue", "article"))
        for p in variants:
            block = re.search(r'\n\n(<div class="pd-meta">\n<p>.*?</p>\n</div>)\n\n', renderer.paper_page(p), re.S)
            links = [(f"{w_arxiv} {p.arxiv}", f"https://arxiv.org/abs/{p.arxiv}")] if p.arxiv else []
            links += [(t[label], getattr(p.links, key)) for key, label in (("pdf", "pdf"), ("code", "code"), (
                "project", "project"), ("openreview", "openreview"), ("article", "article_link")) if getattr(p.links, key)]
            links += [(f"DOI {p.doi}", f"https://doi.org/{p.doi}")] if p.doi else []
            # templates/paper.md.j2's Markdown block before it was finished HTML
            before = (f'<div class="pd-meta" markdown>\n\n**{w_authors}:** {", ".join(map(finalize, p.authors))}<br>\n'
                      f"**{w_published}:** {p.published.isoformat()} · **{w_venue}:** {finalize(p.venue)}"
                      + (f" ({w_article})" if p.kind == "article" else "") + "\n"
                      + " ".join(f"[{finalize(label)}]({finalize(url)}){{ .md-button }}" for label, url in links) + "\n"
                      + " ".join(f"[{finalize(renderer.tr(loaded.tags[tag]))}](../../tags/{tag}/){{ .pd-tag }}"
                                 for tag in p.tags) + "\n\n</div>")
            assert block and block.group(1) == md.reset().convert(before), (lang, p.kind, links)
        assert "</p>\n<p>" in renderer.paper_page(variants[1])


def test_a_link_into_the_site_leads_where_mkdocs_would_lead_it():
    """Links of a paper's text are to `.md` pages from the papers folder; on the paper's page (papers/<id>/) they
    lead to the pages' folders, as MkDocs writes them."""
    out = record_html("[a](beta.md#m) [b](../tags/x.md) [c](index.md) [d](../index.md) [e](https://e.org/y.md) [f](#z)")
    assert all(f'href="{url}"' in out for url in ("../beta/#m", "../../tags/x/", "../", "../../",
                                                   "https://e.org/y.md", "#z")), out


def test_converting_the_records_text_frees_what_cmark_allocated():
    """cmarkgfm's own conversion with extensions keeps each syntax tree and its HTML (15 KB a call): the converter
    frees both, gives the same HTML, and 3,000 conversions of a long field leave the process's memory as it was."""
    import os

    import cmarkgfm
    from cmarkgfm.cmark import Options

    from digest.markdown_safety import _cmark, commonmark_html

    def resident_mb() -> float:
        with open(f"/proc/{os.getpid()}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    loaded, _ = load_project(REPO)
    text = loaded.papers["bitnet-a4-8"].method.en  # with a table
    assert _cmark() is not None and "<table>" in commonmark_html(text)
    assert commonmark_html(text) == cmarkgfm.markdown_to_html_with_extensions(
        text, options=Options.CMARK_OPT_UNSAFE, extensions=["table"])
    for _ in range(300):
        commonmark_html(text)
    before = resident_mb()
    for _ in range(3000):
        commonmark_html(text)
    assert resident_mb() - before < 5  # cmarkgfm's own function: about 45 MB more
