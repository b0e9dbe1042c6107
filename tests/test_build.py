"""Build stage end to end: both languages' pages from fixture records, atomic swap, determinism."""

import hashlib
import json
import os
import shutil
from pathlib import Path

import bibtexparser
import jinja2
import pytest

from digest.load import load_project
from digest.build import _forked, build_site, mirror_tree
from digest.problems import DigestError
from tests.conftest import REPO, make_project


def html(site: Path, rel: str) -> str:
    return (site / rel).read_text(encoding="utf-8")


def test_both_languages_have_home_listing_tags_collections_and_papers(built_site):
    site = built_site / "site"
    for prefix in ("", "zh/"):
        for rel in ("index.html", "papers/index.html", "tags/index.html", "tags/diffusion/index.html",
                    "collections/fixture-series/index.html", "papers/alpha-video/index.html",
                    "papers/beta-attention/index.html", "glossary/index.html", "404.html"):
            assert (site / prefix / rel).is_file(), prefix + rel
    assert "zebrafinch" in html(site, "papers/alpha-video/index.html")
    assert "斑胸草雀" in html(site, "zh/papers/alpha-video/index.html")
    assert 'lang="zh"' in html(site, "zh/index.html")


def test_language_links_point_to_the_same_page(built_site):
    en = html(built_site / "site", "papers/alpha-video/index.html")
    zh = html(built_site / "site", "zh/papers/alpha-video/index.html")
    assert 'href="../../zh/papers/alpha-video/" hreflang="zh"' in en
    assert 'href="../../../papers/alpha-video/" hreflang="en"' in zh


def test_no_script_from_record_text_reaches_the_html(built_site):
    page = html(built_site / "site", "papers/beta-attention/index.html")
    assert "<script>alert(" not in page
    assert "&lt;script&gt;alert(&#39;summary&#39;)" in page or "&lt;script&gt;alert('summary')" in page
    assert 'href="javascript:' not in page


def test_papers_are_reached_through_listings_not_the_navigation(built_site):
    home = html(built_site / "site", "index.html")
    nav = home[home.index('md-nav--primary'):]
    nav = nav[:nav.index("</nav>")]
    assert "alpha-video" not in nav


def test_math_is_marked_for_mathjax_served_by_the_site(built_site):
    page = html(built_site / "site", "papers/alpha-video/index.html")
    assert '<div class="arithmatex">' in page
    assert (built_site / "site" / "assets" / "mathjax" / "tex-svg.js").is_file()
    assert "cdn" not in page.lower()


def test_demo_figures_metrics_and_claim_status_are_on_the_page(built_site):
    page = html(built_site / "site", "papers/alpha-video/index.html")
    assert (built_site / "site" / "assets" / "demos" / "alpha-video" / "probs.svg").is_file()
    assert "reference_impls.tiny.demo.run" in page and "max row-sum error" in page
    assert "test_rows_sum_to_one" in page and "passed" in page and "failed" in page
    zh = html(built_site / "site", "zh/papers/alpha-video/index.html")
    assert "行和最大误差" in zh and "通过" in zh and "失败" in zh
    assert (built_site / "site" / "code" / "alpha-video" / "index.html").is_file()


def test_run_box_offers_the_downloads_and_says_what_ran_but_no_button(built_site):
    import zipfile

    import nbformat

    for lang, words in (("", ("Download notebook", "Made with NumPy", "Python 3.")),
                        ("zh/", ("下载笔记本", "使用 NumPy", "随机种子"))):
        page = html(built_site / "site", f"{lang}papers/alpha-video/index.html")
        assert all(word in page for word in words)
        assert 'class="pd-run"' in page and "pd-run-button" not in page and "pd-run-token" not in page
        demos = built_site / "site" / lang / "assets" / "demos" / "alpha-video"
        nbformat.validate(nbformat.reads((demos / "alpha-video.ipynb").read_text(encoding="utf-8"), 4))
        assert "tiny/alpha-video.ipynb" in zipfile.ZipFile(demos / "tiny.zip").namelist()
    page = html(built_site / "site", "papers/alpha-video/index.html")
    assert "<code>--rows</code> rows</td>\n<td>8</td>\n<td>2 – 64</td>" in page


def test_data_files_parse(built_site):
    site = built_site / "site"
    library = bibtexparser.parse_string(html(site, "papers.bib"))
    assert not library.failed_blocks and len(library.entries) == 2
    papers = json.loads(html(site, "papers.json"))["papers"]
    assert {p["id"] for p in papers} == {"alpha-video", "beta-attention"}
    assert "<entry>" in html(site, "zh/feed.xml")


def tree_digest(site: Path) -> dict[str, str]:
    return {p.relative_to(site).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(site.rglob("*")) if p.is_file()}


def test_same_input_builds_the_same_bytes(built_site, tmp_path):
    # A copy of the built project (the session's build is shared by other tests, which read it meanwhile), rebuilt
    # from scratch in another folder: the same bytes, so where a project lies leaves no mark on its site either.
    copy = tmp_path / "copy"
    shutil.copytree(built_site, copy, symlinks=True)
    before = tree_digest(built_site / "site")
    report = build_site(copy, echo=lambda line: None, keep_going=True, clean=True)
    assert all(run.cached for run in report.demos.values())  # nothing changed: no demo re-runs
    assert "render+site" in report.seconds  # a full build, not the reuse of the last site
    assert tree_digest(copy / "site") == before


def test_pages_converted_by_mkdocs_alone_are_the_same_bytes(built_site, tmp_path, monkeypatch):
    """digest/pagecache.py converts pages with one Markdown instance and keeps the results, and makes the chrome
    that pages share once: a clean build in which MkDocs' own Page.render converts every page (a new instance
    each) and Material's templates make every page's chrome writes the same site."""
    from digest.pagecache import ChromeCache, PageConverter

    copy = tmp_path / "copy"
    shutil.copytree(built_site, copy, symlinks=True)
    shutil.rmtree(copy / ".cache" / "html")
    monkeypatch.setattr(PageConverter, "adopt", lambda self, page, config, files: page)  # the forked builds inherit it
    monkeypatch.setattr(ChromeCache, "on_env", lambda self, env, config, files: env)
    build_site(copy, echo=lambda line: None, keep_going=True, clean=True)
    assert not (copy / ".cache" / "html").exists()  # nothing went through the converter
    assert tree_digest(copy / "site") == tree_digest(built_site / "site")


def test_pages_made_from_frames_are_the_pages_the_template_makes(built_site, tmp_path, monkeypatch):
    """PageFrames themes each kind of page once and fills the others in: those pages are the template's own, and a
    template that changes a value before it shows it (here its case, and its length) gets no frame."""
    from digest.pagecache import PageFrames

    made = {"framed": 0, "frames": 0, "refused": 0}
    render, make = PageFrames.render, PageFrames.make

    def counted_render(self, template, context):
        page = render(self, template, context)
        made["framed"] += page is not None
        return page

    def counted_make(self, *args):
        frame, page = make(self, *args)
        made["frames" if frame else "refused"] += 1
        return frame, page

    monkeypatch.setenv("DIGEST_JOBS", "1")  # both languages in this process, where the counts are
    monkeypatch.setattr(PageFrames, "render", counted_render)
    monkeypatch.setattr(PageFrames, "make", counted_make)
    framed = tmp_path / "framed"
    shutil.copytree(built_site, framed, symlinks=True)
    build_site(framed, echo=lambda line: None, keep_going=True, clean=True)
    assert tree_digest(framed / "site") == tree_digest(built_site / "site")
    # Pages filled frames in (the first of each kind was made by the template, and checked), those whose table of
    # contents nests (an implementation's section: Material strips tags from a nesting entry's title for its label)
    # among them.
    assert made["framed"] > made["frames"] > 0 and made["refused"] == 0

    # A template that changes values before it shows them: every frame fails its checks, and every page is the
    # template's own, as in a build without frames.
    changed = tmp_path / "changed"
    shutil.copytree(built_site, changed, symlinks=True)
    main = changed / "overrides" / "main.html"
    main.unlink()  # a copy of the project's, not a link to it
    main.write_text((REPO / "overrides" / "main.html").read_text(encoding="utf-8") +
                    '{% block extrahead %}{% if page %}<meta name="x" content="{{ page.meta.title | upper }} '
                    '{{ page.title | length }}">{% endif %}{% endblock %}\n', encoding="utf-8")
    made.update(framed=0, frames=0, refused=0)
    build_site(changed, echo=lambda line: None, keep_going=True, clean=True)
    assert made["frames"] == 0 and made["refused"] > 0
    with_checks = tree_digest(changed / "site")
    monkeypatch.setattr(PageFrames, "render", lambda self, template, context: None)  # no frames at all
    build_site(changed, echo=lambda line: None, keep_going=True, clean=True)
    assert tree_digest(changed / "site") == with_checks
    assert '<meta name="x" content="ALPHA' in html(changed / "site", "papers/alpha-video/index.html")


def test_the_header_partial_is_materials_but_for_the_wrappers_that_keep_its_stretches():
    """overrides/partials/header.html wraps three stretches of Material's header in ChromeCache look-ups; without
    them it must be Material's file as it is (an upgrade of Material that changes its header fails here)."""
    import re

    import material

    ours = (REPO / "overrides" / "partials" / "header.html").read_text(encoding="utf-8")
    theirs = (Path(material.__file__).parent / "templates" / "partials" / "header.html").read_text(encoding="utf-8")
    opening = r'\{% set (header_\w+) = chrome_kept\("header-\w+"\) if chrome_kept is defined else none %\}' \
              r'\{% if \1 is none %\}\{% set \1 %\}'
    closing = r'\{% endset %\}\{% if chrome_keep is defined %\}\{% set (header_\w+) = chrome_keep\("header-\w+", ' \
              r'\1\) %\}\{% endif %\}\{% endif %\}\{\{ \1 \}\}'
    assert len(re.findall(opening, ours)) == len(re.findall(closing, ours)) == 3
    bare = re.sub(closing, "", re.sub(opening, "", re.sub(r"^\{#- digest:.*?-#\}", "", ours, flags=re.S)))
    assert bare == theirs


def test_finished_html_blocks_convert_as_python_markdown_converts_them(tmp_path):
    """The generator's finished blocks (a tag page's table, a listing's, a paper's results table and BibTeX entry)
    go around Python-Markdown's HTML parser: the page's HTML and its link targets (MkDocs' anchors) are what
    MkDocs' own conversion makes of it, also where a `<` in math before them throws that parser (the page is then
    converted whole)."""
    from mkdocs.config import load_config
    from mkdocs.structure.files import get_files
    from mkdocs.structure.pages import Page

    from digest.markdown_safety import code_block
    from digest.pagecache import PageConverter, cut_finished_html

    docs = tmp_path / "docs"
    docs.mkdir()
    cite = code_block("@misc{k,\n\ttitle = {{A & B's <c>}},\n   \n\tnote = \"q\"\n}\n\n")
    text = ("# Tags: x\n\n<table>\n<thead>\n<tr>\n<th>Title</th>\n</tr>\n</thead>\n<tbody>\n<tr>\n"
            "<td><a href=\"../../papers/a/\">A &amp; B</a></td>\n</tr>\n</tbody>\n</table>\n\nFollow the feed.\n\n"
            "<div class=\"pd-table-wrap\" role=\"region\" tabindex=\"0\">\n<table class=\"pd-listing\" data-rows=\"r.json\">\n"
            "<tbody>\n<tr id=\"gamma-queued\" data-title=\"G\">\n<td>G</td>\n</tr>\n<tr><td><a name='old&amp;anchor'>x</a>"
            "</td></tr>\n</tbody>\n</table>\n</div>\n\n<p class=\"pd-empty\" hidden>None.</p>\n\n## Cite\n\n"
            f"{cite}\n\n## After\n")
    math = "# Paper\n\n## Method\n\n$$\\mathrm{Attn}(b_i) = [K_M;\\,K_{b_{<i}}]^\\top$$\n\n## Results\n\n" + \
        "<table>\n<thead>\n<tr>\n<th>Metric</th>\n</tr>\n</thead>\n<tbody>\n<tr>\n<td>&#60; 9 hours</td>\n</tr>\n" + \
        f"</tbody>\n</table>\n\n## Cite\n\n{cite}\n\n## End\n"
    (docs / "page.md").write_text(text, encoding="utf-8")
    (docs / "paper.md").write_text(math, encoding="utf-8")
    assert len(cut_finished_html(text, "token")[1]) == 3 and len(cut_finished_html(math, "token")[1]) == 2
    config = load_config(config_file=str(REPO / "mkdocs.yml"), docs_dir=str(docs), site_dir=str(tmp_path / "site"))
    files = get_files(config)
    for name, targets in (("page.md", {"gamma-queued", "old&anchor", "after"}), ("paper.md", {"results", "end"})):
        own, ours = (Page(None, files.get_file_from_path(name), config) for _ in range(2))
        own.read_source(config)
        own.render(config, files)
        ours.read_source(config)
        kept = PageConverter(config, None)._convert(ours, files)
        assert kept["content"] == own.content and set(kept["anchors"]) == own.present_anchor_ids >= targets, name
        assert "<p><table>" not in kept["content"] and cite in kept["content"]


def test_a_paper_page_of_headings_and_finished_blocks_converts_without_python_markdown(tmp_path):
    """A paper page without an implementation is headings, finished blocks and its subtitle: the converter writes
    the headings itself (ids, permalinks, table of contents, title, anchors) instead of running Python-Markdown,
    and the result is what MkDocs' own conversion makes of the page, for every real record in both languages,
    a title of character references and a page whose headings repeat. A heading that is not plain text (an
    underscore) is converted by Python-Markdown, with the same result."""
    from mkdocs.config import load_config
    from mkdocs.structure.files import get_files
    from mkdocs.structure.pages import Page
    from mkdocs.structure.toc import get_toc

    from digest.pagecache import PageConverter, cut_finished_html, skeleton, stand_in
    from digest.render import Renderer

    loaded, _ = load_project(REPO)
    loaded.collections = {}  # a collection's neighbours are a Markdown list of links: such a page converts whole
    paper = loaded.papers["latte"]
    variants = {pid: p.model_copy(update={"impl": None, "claims": []}) for pid, p in loaded.papers.items()}
    variants["entities"] = paper.model_copy(update={"id": "entities", "impl": None, "claims": [], "title": paper.title
                                                    .model_copy(update={"en": "A <b> & \"quoted\" (x) [y] 'z'"})})
    variants["under_score"] = paper.model_copy(update={"id": "under_score", "impl": None, "claims": [],
                                                       "title": paper.title.model_copy(update={"en": "snake_case"})})
    for lang in ("en", "zh"):
        docs = tmp_path / lang
        (docs / "papers").mkdir(parents=True)
        renderer = Renderer(loaded, lang, REPO / "templates")
        for pid, variant in variants.items():
            page = renderer.paper_page(variant)
            if pid == "latte":  # its headings twice: the ids of the second ones get _1
                page = page.replace("## ", "## Summary\n\n## ", 3)
            (docs / "papers" / f"{pid}.md").write_text(page, encoding="utf-8")
        config = load_config(config_file=str(REPO / "mkdocs.yml"), docs_dir=str(docs), site_dir=str(tmp_path / "s"))
        files = get_files(config)
        converter, written = PageConverter(config, None), 0
        for pid in variants:
            own, ours = (Page(None, files.get_file_from_path(f"papers/{pid}.md"), config) for _ in range(2))
            own.read_source(config)
            own.render(config, files)
            ours.read_source(config)
            text, blocks = cut_finished_html(ours.markdown, converter.token)
            chunks = skeleton(text, [stand_in(block, converter.token, i) for i, block in enumerate(blocks)])
            written += chunks is not None and converter.headings([c for c in chunks if c[0] == "#"]) is not None
            kept = converter._convert(ours, files)

            def toc(items):
                return [(a.id, a.title, a.level, toc(a.children)) for a in items]
            assert kept["content"] == own.content, (lang, pid)
            assert toc(get_toc(kept["toc_tokens"])) == toc(own.toc) and kept["title"] == own._title_from_render
            assert set(kept["anchors"]) == own.present_anchor_ids
            assert kept["links_to_anchors"] == {f.src_uri: links for f, links in own.links_to_anchors.items()}
        assert written == len(variants) - (1 if lang == "en" else 0)  # all but the underscore (en only)


def test_cite_block_is_what_the_code_fence_it_replaces_became(tmp_path):
    """`code_block` (finished HTML) equals Python-Markdown + SuperFences + Pygments' conversion of the fence it
    replaced, for BibTeX with tabs, quotes, markup characters, lines of spaces and line breaks at both ends."""
    import markdown
    from mkdocs.config import load_config

    from digest.markdown_safety import code_block, fence

    config = load_config(config_file=str(REPO / "mkdocs.yml"), docs_dir=str(tmp_path))  # a fresh clone has no build/
    md = markdown.Markdown(extensions=config["markdown_extensions"], extension_configs=config["mdx_configs"])
    for text in ["@misc{k,\n\ttitle = {{A & B's <c> \"d\"}},\n\tyear = {2024}\n}\n",
                 "\n\n@a{b,\n  \n\tx = {\ty}\r\n}  \n\n", "plain", "a\r\rb\t\tc"]:
        assert code_block(text) == md.reset().convert(fence(text, "text")), repr(text)


def test_a_clean_build_with_the_conversions_kept_converts_nothing_and_is_the_same(built_site, tmp_path, monkeypatch):
    from digest.files import Pack
    from digest.pagecache import PageConverter

    copy = tmp_path / "copy"
    shutil.copytree(built_site, copy, symlinks=True)
    packs = [copy / ".cache" / "html" / f"{lang}.pack" for lang in ("en", "zh")]
    kept = [sorted(Pack(pack).index) for pack in packs]
    assert all(len(keys) >= 8 for keys in kept), kept  # each language's pages
    stale = Pack(packs[0])
    stale.put("0" * 64, b"", "papers/gone.md")  # a conversion no page of this build uses
    stale.save(set(stale.index))
    old_layout = copy / ".cache" / "html" / "zh" / "ab"  # a file per conversion, as builds kept them before
    old_layout.mkdir(parents=True)
    (old_layout / ("ab" * 32)).write_bytes(b"old")

    def convert(self, page, files):
        raise AssertionError(f"{page.file.src_uri} converted again")

    monkeypatch.setattr(PageConverter, "_convert", convert)
    # nor is the theme walked for its static files: both languages read the list the last build kept
    listed = jinja2.Environment.list_templates

    def list_templates(self, extensions=None, filter_func=None):
        assert getattr(filter_func, "__qualname__", "") != "Files.add_files_from_theme.<locals>.filter", \
            "the theme's files were listed again"
        return listed(self, extensions, filter_func)

    monkeypatch.setattr(jinja2.Environment, "list_templates", list_templates)
    build_site(copy, echo=lambda line: None, keep_going=True, clean=True)
    assert tree_digest(copy / "site") == tree_digest(built_site / "site")
    # every conversion used is kept, the unused one is gone
    assert [sorted(Pack(pack).index) for pack in packs] == kept
    assert sorted(p.name for p in (copy / ".cache" / "html").iterdir()) == ["en.pack", "zh.pack"]  # the old gone


def test_an_unchanged_project_keeps_its_site_and_a_changed_one_rebuilds(tmp_path):
    root = make_project(tmp_path)
    build_site(root, echo=lambda line: None)
    lines = []
    report = build_site(root, echo=lines.append)
    assert "unchanged" in report.seconds and "render+site" not in report.seconds, lines
    assert set(report.pages) == {"en", "zh"} and report.pages["en"] > 0
    record = root / "content" / "papers" / "alpha-video.yaml"
    record.write_text(record.read_text(encoding="utf-8").replace("zebrafinch", "hummingbird"), encoding="utf-8")
    report = build_site(root, echo=lambda line: None)
    assert "render+site" in report.seconds
    assert "hummingbird" in html(root / "site", "papers/alpha-video/index.html")


def test_a_build_after_edits_reuses_unchanged_pages_and_equals_a_clean_build(tmp_path, monkeypatch):
    """A record edited and one added, that one removed, then the edit undone: each build converts only the pages
    whose Markdown changed (MkDocs' dirty build over hard links of the last site; from the second on, the site
    before it, kept by the last build and brought in line by the paths that build changed: `link_last_site`,
    without comparing the trees), and its site is byte-identical to a clean build's of the same project."""
    import digest.build

    link_afresh = digest.build.mirror_tree

    def mirror_tree(src, dst, *args):
        if dst.exists():
            raise AssertionError("the trees were compared: the last build's changes were not used")
        link_afresh(src, dst, *args)  # the first dirty build links the last site into new folders

    (tmp_path / "project").mkdir()
    root = make_project(tmp_path / "project")
    papers = root / "content" / "papers"
    build_site(root, echo=lambda line: None)
    source = (papers / "alpha-video.yaml").read_text(encoding="utf-8")
    (papers / "alpha-video.yaml").write_text(source.replace("zebrafinch", "hummingbird"), encoding="utf-8")
    (papers / "gamma-video.yaml").write_text(
        source.replace("alpha-video", "gamma-video").replace("lovelace2024alpha", "lovelace2024gamma")
        .replace("2401.00001", "2401.00003"), encoding="utf-8")
    for step in ("edit and add", "remove", "undo the edit"):
        if step == "remove":
            (papers / "gamma-video.yaml").unlink()
        if step == "undo the edit":
            (papers / "alpha-video.yaml").write_text(source, encoding="utf-8")
        assert (root / ".site.old").is_dir() == (step != "edit and add")  # kept by a dirty build only
        lines: list[str] = []
        theme_pages = {rel: (root / "site" / rel).stat().st_ino for rel in ("404.html", "sitemap.xml", "zh/404.html")}
        with monkeypatch.context() as patch:
            patch.setattr(digest.build, "mirror_tree", mirror_tree)
            report = build_site(root, echo=lines.append)
        assert report.dirty, lines
        # The 404 page and the sitemaps (navigation, every page's address) are made again when a page was added or
        # removed, and kept when only a paper's page changed.
        kept = {rel: (root / "site" / rel).stat().st_ino for rel in theme_pages}
        assert (kept == theme_pages) == (step == "undo the edit"), step
        after_edits = tree_digest(root / "site")
        assert ("papers/gamma-video/index.html" in after_edits) == (step == "edit and add")
        copy = tmp_path / step.replace(" ", "-")
        shutil.copytree(root, copy, ignore=shutil.ignore_patterns("site", ".site.old", "build", ".cache"))
        report = build_site(copy, echo=lambda line: None)
        assert not report.dirty
        clean = tree_digest(copy / "site")
        assert sorted(after_edits) == sorted(clean), step
        assert [rel for rel in clean if after_edits[rel] != clean[rel]] == [], step
        assert ("hummingbird" in html(root / "site", "papers/alpha-video/index.html")) == (step != "undo the edit")


def test_mirror_tree_links_each_file_of_the_source_and_nothing_else(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    for rel, text in {"same.html": "a", "changed.html": "new", "sub/deep/page.html": "p", "was-a-folder": "f",
                      "zh/index.html": "z"}.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    dst.mkdir()
    os.link(src / "same.html", dst / "same.html")
    (dst / "changed.html").write_text("old")  # another inode
    (dst / "gone.html").write_text("g")
    (dst / "gone-folder" / "x").mkdir(parents=True)
    (dst / "was-a-folder").mkdir()
    (dst / "sub").write_text("a file where the source has a folder")
    mirror_tree(src, dst)
    files = lambda root: sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())  # noqa: E731
    assert files(dst) == files(src)
    assert sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_dir()) == \
        sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_dir())
    for rel in files(src):
        assert (dst / rel).stat().st_ino == (src / rel).stat().st_ino, rel
    assert (src / "changed.html").read_text() == "new" and (src / "same.html").read_text() == "a"


def test_a_failed_dirty_build_leaves_the_last_good_site_byte_for_byte(tmp_path):
    """The dirty build works in hard links of the last site: a build that fails after MkDocs wrote its pages
    (a link in a collection's introduction, which MkDocs checks as it converts the page, to a page that does not
    exist fails the strict build at the end) must not have written into them."""
    root = make_project(tmp_path)
    build_site(root, echo=lambda line: None)
    record = root / "content" / "papers" / "alpha-video.yaml"
    text = record.read_text(encoding="utf-8")
    record.write_text(text.replace("zebrafinch", "hummingbird"), encoding="utf-8")
    assert build_site(root, echo=lambda line: None).dirty  # it keeps the site before it (.site.old) as links
    before = tree_digest(root / "site")
    series = root / "content" / "collections" / "fixture-series.yaml"
    series.write_text(series.read_text(encoding="utf-8").replace("Two fixture papers.", "Two [fixture](nowhere.md) papers."),
                      encoding="utf-8")
    with pytest.raises(DigestError):
        build_site(root, echo=lambda line: None)
    assert tree_digest(root / "site") == before
    with pytest.raises(DigestError):  # a conversion that warned was not kept: it warns, and fails, again
        build_site(root, echo=lambda line: None, clean=True)
    assert tree_digest(root / "site") == before


def test_a_failed_build_leaves_the_last_good_site(built_site, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(built_site, root, symlinks=True)  # a built project (the session's is shared: change a copy)
    before = tree_digest(root / "site")
    (root / "pages" / "en" / "add-a-paper.md").write_text("[broken](missing-page.md)\n", encoding="utf-8")
    with pytest.raises(DigestError, match="MkDocs build of en failed"):
        build_site(root, echo=lambda line: None)
    assert tree_digest(root / "site") == before
    assert not (root / ".site.tmp").exists()


def test_a_failing_demo_stops_the_build_unless_keep_going(tmp_path):
    root = make_project(tmp_path, with_impl=True)
    (root / "reference_impls" / "tiny" / "MODE").write_text("fail")
    with pytest.raises(DigestError, match="demo of `alpha-video` failed") as info:
        build_site(root, echo=lambda line: None)
    assert "the tiny demo was told to fail" in str(info.value)
    assert not (root / "site").exists()
    build_site(root, echo=lambda line: None, keep_going=True)
    assert "The demo failed in the last build" in html(root / "site", "papers/alpha-video/index.html")
    assert "上次构建时演示运行失败" in html(root / "site", "zh/papers/alpha-video/index.html")


def test_site_url_comes_from_the_option_else_the_environment_else_mkdocs_yml(project, monkeypatch):
    from digest.build import SITE_URL_ENV, resolve_site_url, site_settings

    monkeypatch.delenv(SITE_URL_ENV, raising=False)
    assert resolve_site_url(project) == "http://localhost:8000/"
    monkeypatch.setenv(SITE_URL_ENV, "https://group.github.io/repo")
    assert resolve_site_url(project) == "https://group.github.io/repo/"
    assert resolve_site_url(project, "https://example.org/papers/") == "https://example.org/papers/"
    # The language links of 404 pages are absolute from the site's path; the preferences' scope is the site's.
    zh = site_settings(project, "zh", "https://example.org/papers/")
    assert zh["site_url"] == "https://example.org/papers/zh/"
    assert [a["link"] for a in zh["extra"]["alternate"]] == ["/papers/", "/papers/zh/"]
    assert zh["extra"]["scope"] == "/papers/"
    with pytest.raises(DigestError) as error:
        resolve_site_url(project, "example.org/papers")
    assert "--site-url" in str(error.value) and "https://" in str(error.value)


def test_cli_build_refuses_a_site_url_that_is_not_an_address(project):
    from click.testing import CliRunner

    from digest.cli import main

    result = CliRunner().invoke(main, ["build", "--root", str(project), "--site-url", "/papers/"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert not (project / "site").exists()


def test_a_second_build_while_one_runs_stops_with_a_message_and_touches_nothing(project):
    import subprocess
    import sys

    from digest.build import build_lock

    with build_lock(project.resolve()):
        result = subprocess.run([sys.executable, "-m", "digest.cli", "build"], cwd=project, capture_output=True,
                                text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"another build of this project is running (pid {os.getpid()}, started " in result.stderr
    assert not (project / "site").exists() and not (project / "build").exists()


def test_a_lock_left_by_a_dead_build_does_not_block_the_next(project):
    from digest.build import LOCK, build_lock

    (project / LOCK).parent.mkdir(parents=True)
    (project / LOCK).write_text("pid 999999, started 03:00:00\n")  # its process is gone: the kernel holds no lock
    with build_lock(project):
        assert (project / LOCK).read_text().startswith(f"pid {os.getpid()}, ")


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                if entry.isdigit() and int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry))
        except (OSError, IndexError, ValueError):
            pass
    return out


def test_a_terminated_build_stops_its_workers_and_leaves_the_last_site(tmp_path):
    """SIGTERM (a cancelled CI job, a process manager stopping `digest serve`) stops a build as Ctrl-C does: its
    language workers end with it instead of writing on into the project, its unfinished trees are removed and
    site/ is the last good one."""
    import signal
    import subprocess
    import sys
    import time

    sys.path.insert(0, str(REPO / "bench"))
    from corpus import make_project as clones  # records as long as the real ones: a build that takes a while

    root = tmp_path / "project"
    root.mkdir()
    clones(root, 40)
    build = [sys.executable, "-m", "digest.cli", "build", "--root", str(root)]
    subprocess.run(build, check=True, capture_output=True)
    before = tree_digest(root / "site")
    for folder in (".cache", "build"):  # the next build converts every page again
        shutil.rmtree(root / folder)
    proc = subprocess.Popen(build + ["--clean"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (root / ".site.tmp.zh").is_dir():  # the language workers are running
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    time.sleep(0.2)
    workers = _children(proc.pid)
    assert workers, "no language workers"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "Traceback" not in err, err
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{pid}") for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in workers), "a worker outlived the build"
    assert not (root / ".site.tmp").exists() and not (root / ".site.tmp.zh").exists()
    assert tree_digest(root / "site") == before


def test_the_language_processes_give_results_in_order_and_a_death_or_an_exception_is_reported():
    """_forked runs the two language builds: results in the languages' order; a worker's exception is raised in the
    build's process; a worker killed before it answers (out of memory) is a DigestError naming its language and
    exit code, not a build that waits for ever (as with multiprocessing.Pool, whose lost worker hung a build)."""
    import signal
    import time

    def slow_first(lang):
        if lang == "en":
            time.sleep(0.3)  # the other language answers first
        return f"built {lang}"

    assert _forked(slow_first, ("en", "zh")) == ["built en", "built zh"]

    def raises(lang):
        if lang == "zh":
            raise ValueError(f"no pages for {lang}")
        return lang

    with pytest.raises(ValueError, match="no pages for zh"):
        _forked(raises, ("en", "zh"))

    def killed(lang):
        if lang == "zh":
            os.kill(os.getpid(), signal.SIGKILL)
        return lang

    with pytest.raises(DigestError, match=r"the zh build process ended without a result \(exit code -9"):
        _forked(killed, ("en", "zh"))


def test_quick_canonical_urls_are_mkdocs_own():
    """`quick_canonical_url` joins strings only where MkDocs' `urljoin` gives the same address and path."""
    from types import SimpleNamespace

    from mkdocs.structure.pages import Page

    from digest.build import quick_canonical_url

    quick = quick_canonical_url(Page._set_canonical_url)
    urls = ["", "papers/latte/", "zh/papers/latte/", "404.html", "tags/attention/page/2/", "a/./b/", "../x/",
            "a/../b/", "/abs/", "http://other/x/", "q?x=1", "f#frag", "x:y", ".", "..", "a%20b/", "论文/",
            "a//b/", "./"]
    bases = ["http://localhost:8000/", "https://example.org/digest", "https://example.org/a/../b/",
             "https://example.org/?q=1/", "ftp://example.org/", "", None, "https://example.org/zh/"]
    for base in bases:
        for url in urls:
            ours, theirs = SimpleNamespace(url=url), SimpleNamespace(url=url)
            quick(ours, base)
            Page._set_canonical_url(theirs, base)
            assert (ours.canonical_url, ours.abs_url) == (theirs.canonical_url, theirs.abs_url), (base, url)
