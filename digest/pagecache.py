"""Each page's Markdown converted once: MkDocs' own conversion, kept by content between builds.

MkDocs converts every page of a build afresh, and makes a new Python-Markdown instance with every extension for
each one (a fifth of a page's conversion). Here the conversion is the same as `mkdocs.structure.pages.Page.render`
(the same extensions and MkDocs' own four processors: raw-HTML anchors, anchor links, relative links, title),
with four differences that do not change a byte of output:

- one Python-Markdown instance per build, `reset()` between pages (as `markdown.Markdown.convert` documents for
  converting many documents);
- the result (HTML, table of contents, title, anchors) is kept in `.cache/html/<lang>.pack`, by a hash of the
  page's Markdown, its path, the paths of every file of the site (links are resolved against them), the Markdown
  configuration, this module's code and the versions of the packages that convert. A build that finds a page's
  hash there skips its conversion: a clean build after an earlier one, or after a change to the theme or the
  generator that leaves the Markdown as it was, themes the pages without converting them again;
- the generator's finished HTML blocks (a tag page's table, a listing's, a paper's facts, TL;DR, results, BibTeX
  entry and long Markdown fields) are not parsed: a stand-in block converts in each one's place and the block is
  put back after (`cut_finished_html`);
- a page that is nothing but headings, finished blocks and one-line raw HTML (`skeleton`: a paper page without an
  implementation) is not run through Python-Markdown at all: its headings are written as the table of contents
  extension writes them (`PageConverter.headings`) and the blocks go between them.

Each page is converted when it is themed, not when MkDocs reads it, and its Markdown and HTML are let go (the
Markdown once its key is known, read again if it has to be converted; the HTML once written): MkDocs reads every
page before it themes the first, and so held every page's Markdown and HTML at once (10,000 papers: hundreds of MB
per language). A page's own title and table of contents are all that its template reads of it, and no other
page's template reads its HTML.

A conversion that logs a warning is not kept, so a build that found a broken link fails again the next time.
`tests/test_build.py` checks that a site built from the cache equals one built by MkDocs alone, byte for byte.
"""

from __future__ import annotations

import hashlib
import html
import logging
import pickle
import posixpath
import re
import secrets
import shutil
from pathlib import Path

import markdown
import markdown.extensions.toc as toc_ext
import markupsafe
from mkdocs.structure.pages import (Page, _ExtractAnchorsTreeprocessor, _ExtractTitleTreeprocessor,
                                    _RawHTMLPreprocessor, _RelativePathTreeprocessor)
from mkdocs.structure.toc import get_toc

from digest.files import Pack


class _Warnings(logging.Handler):
    """Counts the warnings MkDocs logs while a page converts (a broken link, a missing image)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


class PageConverter:
    """Converts the pages of one build (one language's site), through the conversions kept in `pack` (a file)."""

    def __init__(self, config, pack: Path | None):
        import mkdocs
        import pygments
        import pymdownx

        self.config = config
        self.pack = Pack(pack) if pack is not None else None
        if pack is not None and pack.with_suffix("").is_dir():  # a file per conversion, as builds kept them before
            shutil.rmtree(pack.with_suffix(""), ignore_errors=True)
        self.md: markdown.Markdown | None = None
        # Marks a finished HTML block's stand-in while the page converts (`cut_finished_html`): new for each
        # build, so no record can write it.
        self.token = f"pdfinished{secrets.token_hex(8)}x"
        self.files_key: tuple[object, str] | None = None  # (the Files it was made from, their paths' hash)
        # What a conversion depends on besides the page and the site's files.
        self.base = hashlib.sha256(repr((
            Path(__file__).read_bytes(), mkdocs.__version__, markdown.__version__, pymdownx.__version__,
            pygments.__version__,
            list(config["markdown_extensions"]), sorted(config["mdx_configs"].items()),
            config["use_directory_urls"], repr(config["validation"]))).encode()).hexdigest()

    def adopt(self, page, config, files):
        """MkDocs' `pre_page` event: the page converts through this converter."""
        page.__class__ = CachedPage
        page.converter = self
        return page

    def fill(self, context, page, config, nav):
        """MkDocs' `page_context` event (just before the page is themed): the page is converted now."""
        files = getattr(page, "deferred", None)
        if files is not None:
            page.deferred = None
            self.convert(page, files, config)
            page.content = config.plugins.on_page_content(page.content, page=page, config=config, files=files)
        return context

    @staticmethod
    def release(output, page, config):
        """MkDocs' `post_page` event, last: the page's HTML is written next and no longer needed."""
        if isinstance(page, CachedPage):
            page.content = None
        return output

    def key(self, page: Page, files) -> str:
        if self.files_key is None or self.files_key[0] is not files:
            every = "\n".join(sorted(f.src_uri for f in files))
            self.files_key = files, hashlib.sha256(every.encode()).hexdigest()
        return hashlib.sha256(f"{self.base}\0{self.files_key[1]}\0{page.file.src_uri}\0{page.markdown}"
                              .encode()).hexdigest()

    def convert(self, page: CachedPage, files, config) -> None:
        """`Page.render`'s work, from the cache when the page's key is there. The page's Markdown was let go
        when it was read (`CachedPage.render`), and is read again if it has to be converted."""
        key = page.key
        kept = self.pack.get(key) if self.pack is not None else None
        if kept is not None:
            try:
                self._restore(page, files, pickle.loads(kept))
                return
            except Exception:  # noqa: BLE001 - from another version: convert
                pass
        warnings = _Warnings()
        logging.getLogger("mkdocs").addHandler(warnings)
        try:
            page.read_source(config)  # as MkDocs read it (`_populate_page`), with the same events after
            page.markdown = config.plugins.on_page_markdown(page.markdown, page=page, config=config, files=files)
            # Kept under the key of what was converted (a file saved since MkDocs read it has another).
            key = self.key(page, files)
            kept = self._convert(page, files)
        finally:
            logging.getLogger("mkdocs").removeHandler(warnings)
            page.markdown = ""
        self._restore(page, files, kept)
        if self.pack is not None and not warnings.count:
            self.pack.put(key, pickle.dumps(kept, protocol=pickle.HIGHEST_PROTOCOL), page.file.src_uri)

    def _convert(self, page: Page, files) -> dict:
        """Page.render (mkdocs 1.6), with one Markdown instance reset between pages."""
        text, blocks = cut_finished_html(page.markdown, self.token)
        stand_ins = [stand_in(block, self.token, i) for i, block in enumerate(blocks)]
        chunks = skeleton(text, stand_ins)
        converted = self.headings([c for c in chunks if c.startswith("#")]) if chunks is not None else None
        if converted is not None:
            converted, flat = converted
            # Headings, finished blocks and one-line raw HTML only (a paper page without an implementation): no
            # Python-Markdown at all. Each block is a line of its own, and Python-Markdown ends a raw HTML block
            # with an empty line when another block follows.
            lines, content = iter(converted), ""
            for i, chunk in enumerate(chunks):
                content += next(lines) if chunk.startswith("#") else chunk
                content += "" if i == len(chunks) - 1 else "\n" if chunk.startswith("#") else "\n\n"
            raw = [chunk for chunk in chunks if not chunk.startswith("#") and chunk not in stand_ins]
            first = chunks[0].partition(" ")[2].strip() if chunks[0].startswith("# ") else None
            return {
                "content": self._put_back(content, blocks, stand_ins),
                "toc_tokens": toc_ext.nest_toc_tokens([dict(token) for token in flat]),
                "title": " ".join(first.split()) if first is not None else None,  # MkDocs': a first h1's text
                "anchors": {token["id"] for token in flat} | html_ids(blocks + raw),
                # The permalinks, which MkDocs notes as links to this page's anchors.
                "links_to_anchors": {page.file.src_uri: {t["id"]: f"#{t['id']}" for t in flat}} if flat else {},
            }
        content, found = self._run(page, files, text)
        lines = f"\n{content}\n"
        if not all(f"\n{s}\n" in lines for s in stand_ins):
            # A stand-in that did not come out as a block of its own: Python-Markdown's raw-HTML scan was thrown
            # by something before it (a `<` in math: `$K_{b_{<i}}$`), which the whole block survives. The page
            # is converted again whole, as MkDocs converts it.
            (content, found), blocks = self._run(page, files, page.markdown), []
        raw_html, anchors, relative, title = found
        return {
            "content": self._put_back(content, blocks, stand_ins),
            "toc_tokens": getattr(self.md, "toc_tokens", []),
            "title": title.title,
            "anchors": anchors.present_anchor_ids | raw_html.present_anchor_ids | html_ids(blocks),
            # Links into other pages' anchors, checked after the build (validation.anchors), by the target's path.
            "links_to_anchors": {target.src_uri: links for target, links in relative.links_to_anchors.items()},
        }

    @staticmethod
    def _put_back(content: str, blocks: list[str], stand_ins: list[str]) -> str:
        for stand, block in zip(stand_ins, blocks):  # where Python-Markdown put the stand-in, as raw HTML
            content = content.replace(stand, block, 1)
        return content

    def headings(self, headings: list[str]) -> tuple[list[str], list[dict]] | None:
        """The HTML of a page's headings, a line each, as the table of contents extension makes them (an id from
        the text, unique on the page, and a permalink), and its tokens for them, in order and not yet nested;
        None if a heading's text is not plain (`PLAIN_HEADING`) or the extension is configured otherwise. The
        generator's headings are plain: finalize made every character that Markdown reads as syntax a character
        reference, which Python-Markdown leaves as it is (tests/test_build.py compares the two)."""
        if self.config["mdx_configs"].get("toc") != {"permalink": True}:
            return None
        used: set[str] = set()
        counters: dict[str, int] = {}
        out, flat = [], []
        for heading in headings:
            hashes, _, text = heading.partition(" ")
            text = text.strip()
            if not PLAIN_HEADING.fullmatch(text):
                return None
            anchor = toc_ext.unique(toc_ext.slugify(html.unescape(text), "-"), used, counters)
            level = len(hashes)
            out.append(f'<h{level} id="{anchor}">{text}<a class="headerlink" href="#{anchor}" '
                       f'title="Permanent link">&para;</a></h{level}>')
            flat.append({"level": level, "id": anchor, "name": toc_ext.strip_tags(text), "html": text,
                         "data-toc-label": ""})
        return out, flat

    def _run(self, page: Page, files, text: str) -> tuple[str, tuple]:
        """Python-Markdown over `text` with MkDocs' four processors (raw-HTML anchors, anchors, relative links,
        title); the HTML and the processors, which hold what they found."""
        if self.md is None:
            self.md = markdown.Markdown(extensions=self.config["markdown_extensions"],
                                        extension_configs=self.config["mdx_configs"] or {})
        md = self.md.reset()
        raw_html = _RawHTMLPreprocessor()
        raw_html._register(md)
        anchors = _ExtractAnchorsTreeprocessor(page.file, files, self.config)
        anchors._register(md)
        relative = _RelativePathTreeprocessor(page.file, files, self.config)
        relative._register(md)
        title = _ExtractTitleTreeprocessor()
        title._register(md)
        return md.convert(text), (raw_html, anchors, relative, title)

    def _restore(self, page: Page, files, kept: dict) -> None:
        page.content = kept["content"]
        page.toc = get_toc(kept["toc_tokens"])
        page._title_from_render = kept["title"]
        page.present_anchor_ids = set(kept["anchors"])
        if logging.getLogger("mkdocs.structure.pages").getEffectiveLevel() > logging.DEBUG:
            page.links_to_anchors = {files.get_file_from_path(uri): links
                                     for uri, links in kept["links_to_anchors"].items()}

    def save(self, whole: bool) -> None:
        """After the build: the pack keeps what this build converted. `whole`: the build looked up every page, so
        what it did not use goes; else a page's older conversions go once they outweigh the rest."""
        if self.pack is not None:
            self.pack.save(self.pack.used if whole else self.pack.used | self.pack.newest(), whenever=whole)


# The generator's finished HTML blocks: a tag page's table (templates/_macros.j2 `paper_table`), a listing's
# (templates/listing.md.j2), a paper's facts, TL;DR, results table, BibTeX entry and long Markdown fields
# (templates/paper.md.j2, markdown_safety.code_block and record_html), each a block of its own between blank lines.
# Record text in them is escaped, so none can end one early.
_FINISHED = re.compile(r"(?<=\n\n)(?:<table>\n<thead>\n.*?\n</table>"
                       r"|<div class=\"pd-md\">\n.*?\n</div>"
                       r"|<div class=\"admonition abstract\">\n<p class=\"admonition-title\">[^\n]*</p>\n.*?\n</div>"
                       r"|<div class=\"pd-table-wrap\"[^\n]*>\n<table [^\n]*>\n.*?\n</table>\n</div>"
                       r"|<div class=\"highlight\"><pre><span></span><code>.*?</code></pre></div>"
                       r"|<div class=\"pd-meta\">\n<p>.*?</p>\n</div>)(?=\n\n)", re.S)
_TAG = re.compile(r"<([A-Za-z][A-Za-z0-9]*)([^<>]*)>")
_ID_OR_NAME = re.compile(r"""\s(id|name)=(?:"([^"]*)"|'([^']*)')""")


# A heading's text that Python-Markdown passes through as it is: no character it reads as syntax (the generator's
# are character references: markdown_safety.finalize), nor one its serializer escapes; single spaces.
PLAIN_HEADING = re.compile(r"(?:[^\\`*_{}\[\]()#!|<>&\"'$~\s]|&#\d+;| (?! ))+")
# What a page may hold, besides finished blocks' stand-ins, for its headings to be converted alone (`skeleton`):
# ATX headings and one-line raw HTML blocks that Python-Markdown passes through as they are (a paper's subtitle).
_SKELETON_CHUNK = re.compile(r"#{1,6} [^\n]*|<p class=\"pd-subtitle\" lang=\"(?:en|zh)\">[^<>\n]*</p>")


def skeleton(text: str, stand_ins: list[str]) -> list[str] | None:
    """The page's blocks, when each is a heading, one of `stand_ins` or a subtitle: converted, such a page is each
    block on a line of its own, which only the headings change."""
    chunks = [chunk.strip("\n") for chunk in text.split("\n\n") if chunk.strip("\n")]
    known = set(stand_ins)
    if chunks and all(chunk in known or _SKELETON_CHUNK.fullmatch(chunk) for chunk in chunks):
        return chunks
    return None


def cut_finished_html(markdown_text: str, token: str) -> tuple[str, list[str]]:
    """The page with each of the generator's finished HTML blocks replaced by a stand-in (`stand_in`), and the
    blocks. Python-Markdown passes such a block through as it is, but parses it first (html.parser, twice with
    MkDocs' scan for anchors): a tag page's table of 583 rows took 56 ms, most of a tag page's conversion."""
    blocks: list[str] = []

    def cut(match: re.Match) -> str:
        blocks.append(match.group())
        return stand_in(match.group(), token, len(blocks) - 1)

    return _FINISHED.sub(cut, markdown_text), blocks


def stand_in(block: str, token: str, n: int) -> str:
    """A small raw HTML block of the same element in the place of `block`: Python-Markdown treats it as it
    treats the block (the line breaks it puts around raw HTML depend on what follows the block, not on what is
    in it), and nothing else on the page can contain it."""
    element = "table" if block.startswith("<table>") else "div"
    return f"<{element}>{token}{n}</{element}>"


def html_ids(blocks: list[str]) -> set[str]:
    """What MkDocs' scan of raw HTML finds in `blocks` as link targets: every `id`, and `name` of an `<a>`."""
    found = set()
    for block in blocks:
        if "id=" not in block and "name=" not in block:  # most: a record's text, a table, a BibTeX entry
            continue
        for tag in _TAG.finditer(block):
            for attribute, double, single in _ID_OR_NAME.findall(tag.group(2)):
                if attribute == "id" or tag.group(1).lower() == "a":
                    found.add(html.unescape(double or single))
    return found


class CachedPage(Page):
    """A page that converts through its build's PageConverter (set by `PageConverter.adopt`)."""

    converter: PageConverter

    deferred = None  # the site's files, while the page waits to be converted (PageConverter.fill)
    key = ""  # its conversion's key (PageConverter.key)

    def render(self, config, files) -> None:
        """Only the key of the conversion now; its Markdown is let go until the page is themed (MkDocs reads
        every page before it themes the first: 10,000 papers' Markdown is 150 MB per language). `markdown`
        stays a string, empty, for the properties that ask whether the page has been read (`title`)."""
        if self.markdown is None:
            raise RuntimeError("`markdown` field hasn't been set (via `read_source`)")
        self.key = self.converter.key(self, files)
        self.content, self.deferred, self.markdown = "", files, ""


# overrides/main.html's `squeeze` macro: its `replace` filters, in order.
SQUEEZE = (("\n                ", "\n"), ("\n        ", "\n"), ("\n    ", "\n"), ("\n  ", "\n"), ("\n ", "\n"),
           ("\n\n", "\n"), ("\n\n", "\n"), ("\n\n", "\n"), ("\n\n", "\n"))


class ChromeCache:
    """Parts of Material's page chrome made once per build (overrides/main.html `chrome_kept`, `keep`): the
    styles, scripts, fonts, tabs, footer and configuration blocks, the navigation sidebar of a page that is not
    in the navigation, the header's stretches around the page's title and language links
    (overrides/partials/header.html), and the icons the header and navigation draw from a file.

    Such a block reads the configuration, the navigation's active items, the page's neighbours and `hide`, and
    links made relative to the page by MkDocs' `url` filter. A relative link depends on the page's folder depth
    (`base_url`) and its parent folder (papers/a/ and papers/b/ both reach papers/ as ../), as long as no link
    points inside the page's own folder, which the chrome does not do: its links lead to the site's sections,
    assets and feeds. So pages that agree on those share one rendering: every paper page at 1,000 papers,
    every tag's first page. `tests/test_build.py` checks that a build without it writes the same bytes."""

    def __init__(self):
        self.kept: dict[tuple, object] = {}
        self.last: tuple | None = None  # (page, base_url, its key but the block's name): the page being themed
        self.frames = PageFrames(self)

    def on_env(self, env, config, files):
        """MkDocs' `env` event: the templates get `chrome_kept` and `chrome_keep`."""
        import jinja2

        @jinja2.pass_context
        def chrome_kept(context, name: str, shared: bool = False):
            key = (name,) if shared else self.page_key(context, name)
            return None if key is None else self.kept.get(key)

        @jinja2.pass_context
        def chrome_keep(context, name: str, html, shared: bool = False):
            key = (name,) if shared else self.page_key(context, name)
            if key is not None:
                self.kept[key] = html
            return html

        icons: dict[str, str] = {}  # name: the icon's inline SVG, as overrides/main.html's `icons` includes it

        def chrome_squeeze(html: str, base_url: str, icon_names: list[str]) -> str:
            """overrides/main.html's `icons(squeeze(html))` in Python (the theme's templates are not autoescaped:
            its `replace` filters are str.replace)."""
            for old, new in SQUEEZE:
                html = html.replace(old, new)
            if base_url[:1] != ".":
                return html
            for name in icon_names:
                if name not in icons:
                    icons[name] = env.get_template(f".icons/material/{name}.svg").render().strip()
                html = html.replace(icons[name], f'<svg viewBox="0 0 24 24"><use href="{base_url}/assets/icons.svg#'
                                                 f'{name}"/></svg>')
            return html

        env.globals.update(chrome_kept=chrome_kept, chrome_keep=chrome_keep, chrome_squeeze=chrome_squeeze)
        env.template_class = self.frames.template_class(env.template_class)
        return env

    def page_key(self, context, name: str) -> tuple | None:
        page, nav = context.get("page"), context.get("nav")
        if page is None or nav is None or not isinstance(page.url, str):
            return None
        if name == "nav" and page in nav.pages:  # the navigation marks its own page and holds its contents
            return None
        base_url = context.get("base_url")
        if self.last is None or self.last[0] is not page or self.last[1] != base_url:  # once per page, not per block
            hide = page.meta.get("hide") if page.meta else None
            neighbours = tuple((p.url, p.title) if p is not None else None
                               for p in (page.previous_page, page.next_page))
            self.last = page, base_url, (base_url, posixpath.dirname(page.url.rstrip("/")), _active(nav.items),
                                         neighbours, repr(hide))
        return (name, *self.last[2])


def _active(items) -> tuple:
    """The active items of a navigation (titles, nested)."""
    return tuple((item.title, _active(getattr(item, "children", None) or ()))
                 for item in items if getattr(item, "active", False))


class _StandIn:
    """A page as the page template sees it, with some of its values replaced (`PageFrames`); the rest are the
    page's own."""

    def __init__(self, page: Page, values: dict):
        self.__dict__.update(values)
        self._page = page

    def __getattr__(self, name: str):
        return getattr(self._page, name)


_STAND_IN = re.compile("(\ue000[^\ue000\ue001]*\ue001)")
MARKED = "aA&<>\"' "  # in a stand-in: what escaping, tag stripping, quoting or a change of case would change
BREAKS = "\n  \n"  # in the content's stand-in: what squeezing whitespace would change


class PageFrames:
    """Each page of a kind themed once: the page template's output for pages that agree on everything it branches
    on is the same text around the same few values, so it is made once, with a stand-in in each value's place,
    and every other such page is that text with its own values put in (a tenth of the template's time).

    The values a page's template shows are its title, description, address, canonical address, content and table
    of contents (each entry's title and anchor): each has a slot. The frame's key holds everything else the
    templates read of a page: the chrome's key (ChromeCache: folder depth and parent folder, the navigation's
    active items, the neighbours), the front matter's keys and its `search` setting, the table of contents'
    shape, whether the content has its own `<h1>`, the canonical address's presence and the ancestors. A page
    with anything more (an edit link, other front matter: values with no slot), a value that would branch a
    template (an empty one) or that a template would not copy as it is (a line break outside the content: the
    chrome's whitespace is squeezed) goes through the template.

    A frame is made, and checked, on the first page of its key. It is the template's text with stand-ins full of
    characters that a filter would change (`&<>"'`, upper and lower case, a line break in the content), and
    each stand-in in it must be a value shown as it is, or with its tags stripped and escaped (`SHOWN`: Material's
    label of a table of contents' entry that holds others); one shown any other way means no frame. Filled with
    plain stand-ins, the frame must give the template's text made with those; filled with the page's own values,
    the page as the template makes it. Otherwise pages of that key go through the template. A page in the
    navigation (the navigation marks it) always does. `tests/test_build.py` checks that a build without frames
    writes the same bytes, and that a template which changes a value gets no frame."""

    TEMPLATE = "main.html"

    def __init__(self, chrome: ChromeCache):
        self.chrome = chrome
        self.frames: dict[tuple, list | None] = {}  # key: text and slots (value, shown how), alternately

    def template_class(self, base):
        frames = self

        class FramedTemplate(base):
            def render(self, *args, **kwargs) -> str:
                if self.name == frames.TEMPLATE:
                    context = dict(*args, **kwargs)
                    made = frames.render(self, context)
                    if made is not None:
                        return made
                    return super().render(context)
                return super().render(*args, **kwargs)

            def render_itself(self, context: dict) -> str:
                """The template's own rendering, without frames."""
                return super().render(context)

        return FramedTemplate

    def render(self, template, context: dict) -> str | None:
        """The page's HTML from its frame, or None: the template makes it."""
        page, nav = context.get("page"), context.get("nav")
        # Only pages whose every value the templates show is a slot or in the key: none in the navigation (it marks
        # them), no edit link, no front matter but the title, the description and `search` (the code pages').
        if not isinstance(page, Page) or nav is None or page.edit_url is not None or \
                not set(page.meta) <= {"title", "description", "search"} or page in nav.pages:
            return None
        values = self.values(page)
        if values is None:
            return None
        chrome = self.chrome.page_key(context, "frame")
        shape = _toc_shape(page.toc)
        if chrome is None or shape is None:
            return None
        key = (chrome, tuple(sorted(page.meta)), repr(page.meta.get("search")), shape, "<h1" in page.content,
               page.canonical_url is None, page.is_homepage, page.title is None,
               tuple(item.title for item in page.ancestors))
        if key not in self.frames:  # the first page of a key: made by the template, and checked against its frame
            self.frames[key], made = self.make(template, context, page, values)
            return made
        frame = self.frames[key]
        return None if frame is None else _fill(frame, values)

    @staticmethod
    def values(page: Page) -> dict[str, str] | None:
        """{slot name: value} of what the template shows of `page`, or None when one cannot go into a frame."""
        segment = page.url.rstrip("/").rpartition("/")[2]
        if not page.url.endswith("/") or not segment:
            return None
        values = {"U": segment, "X<h1" if "<h1" in page.content else "X": page.content}
        for name, value in (("T", page.title), ("C", page.canonical_url), ("M", page.meta.get("title")),
                            ("D", page.meta.get("description"))):
            if value is not None:
                values[name] = value
        for i, item in enumerate(_toc_items(page.toc)):
            values[f"t{i}"], values[f"u{i}"] = item.title, item.id
        for name, value in values.items():
            if not isinstance(value, str) or not value or "\ue000" in value or "\ue001" in value or \
                    (name[0] != "X" and ("\n" in value or value != value.strip())):
                return None
        return values

    def make(self, template, context: dict, page: Page, values: dict[str, str]) -> tuple[list | None, str]:
        """The frame of `page`'s key (text and slots, alternately; None if it fails a check), and the page as the
        template makes it."""
        from mkdocs.structure.toc import AnchorLink, TableOfContents

        def stand_in(mark: str) -> str:
            def standing(name: str) -> str:
                return _standing(name, mark)

            def link(item, n):
                copy = AnchorLink(standing(f"t{n[0]}"), standing(f"u{n[0]}"), item.level)
                n[0] += 1
                copy.children = [link(child, n) for child in item.children]
                return copy

            counter = [0]
            toc = TableOfContents([link(item, counter) for item in page.toc])
            meta = dict(page.meta)
            for name, field in (("M", "title"), ("D", "description")):
                if name in values:
                    meta[field] = standing(name)
            folder = page.url.rstrip("/").rpartition("/")[0]
            stand = _StandIn(page, {
                "url": f"{folder}/{standing('U')}/" if folder else f"{standing('U')}/",
                "title": standing("T") if "T" in values else None,
                "canonical_url": standing("C") if "C" in values else None,
                "content": standing("X<h1" if "X<h1" in values else "X"), "toc": toc, "meta": meta})
            return template.render_itself({**context, "page": stand})

        made = template.render_itself(context)
        try:
            plain, marked = stand_in(""), stand_in(MARKED)
        except Exception:  # noqa: BLE001 - a template that cannot take a stand-in: its pages are made by it
            return None, made
        # The frame is the marked text, each stand-in in it a slot: which value, shown how (`SHOWN`). A stand-in
        # shown any other way (escaped, squeezed, cut) is no slot: no frame.
        shown = {show(_standing(name, MARKED)): (name, how) for name in values for how, show in SHOWN.items()}
        frame: list = _STAND_IN.split(marked)
        for i in range(1, len(frame), 2):
            frame[i] = shown.get(frame[i])
            if frame[i] is None:
                return None, made
        if _fill(frame, {name: _standing(name, "") for name in values}) != plain or _fill(frame, values) != made:
            return None, made
        return frame, made


def _standing(name: str, mark: str) -> str:
    """The stand-in of a slot; `mark` (with line breaks in the content's) for the check that values are copied."""
    return f"\ue000{name}{mark}{BREAKS if mark and name[0] == 'X' else ''}\ue001"


def _stripped(text: str) -> str:
    """Jinja's `striptags | e` of a text."""
    return str(markupsafe.escape(markupsafe.Markup(text).striptags()))


# How the templates show a value: as it is, or with its tags stripped and escaped (Material's label of a table of
# contents' entry that holds others, partials/toc-item.html).
SHOWN = {"": lambda text: text, "striptags|e": _stripped}


def _fill(frame: list, values: dict[str, str]) -> str:
    """A frame's text with the values in their slots, each shown as its slot says."""
    out = frame[:]
    for i in range(1, len(out), 2):
        name, how = out[i]
        out[i] = values[name] if not how else SHOWN[how](values[name])
    return "".join(out)


def _toc_items(toc) -> list:
    """The entries of a table of contents, depth first, in order."""
    out = []
    for item in toc:
        out.append(item)
        out += _toc_items(item.children)
    return out


def _toc_shape(toc) -> tuple | None:
    """The levels and nesting of a table of contents (what its template branches on), or None for an entry with
    more than a title (Material's `typeset`)."""
    shape = []
    for item in toc:
        if getattr(item, "typeset", None) is not None:
            return None
        children = _toc_shape(item.children)
        if children is None:
            return None
        shape.append((item.level, children))
    return tuple(shape)
