"""Render stage: typed records -> Markdown pages for one language, through the Jinja templates in `templates/`.

Autoescaping is on, so record text reaches a page as text; Markdown fields pass through `safe_markdown`, which
keeps formatting but neutralises HTML, and a paper's long ones (`html`) become finished HTML (`record_html`). Links
between pages are relative `.md` links that MkDocs checks.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import jinja2
import yaml
from markupsafe import Markup

from digest import bibtex
from digest.compiled import TemplateCache
from digest.load import Loader, Project
from digest.markdown_safety import (Interface, code_block, code_span, fence, finalize, plain_text, record_html,
                                    record_list_html, safe_markdown)
from digest.schema import Paper, Text, TextList
from digest.translations import stale_translations
from digest.validate import TODO

LANG_NAMES = {"en": "English", "zh": "简体中文"}
# Rows per page of a listing's HTML: the first page and the pages after it are what a reader without JavaScript
# follows; with JavaScript the first page loads every row from the listing's rows.json and filters them in place.
LISTING_PAGE_ROWS = 100
GENERATOR_CACHE = Path(".cache") / "jinja"  # the generator's compiled templates (digest/compiled.py)


@dataclass
class Neighbours:
    """A paper's place in one collection: previous and next paper ids (or None)."""

    collection: str
    position: int
    size: int
    label: Text | None
    previous: str | None
    next: str | None


def collection_neighbours(project: Project, paper_id: str, pages: dict | None = None) -> list[Neighbours]:
    """Where a paper stands in each collection; previous/next skip entries that have no page (queued, drafts).
    `pages`: project.digested, when the caller has it already."""
    out, pages = [], project.digested if pages is None else pages
    for coll_id, coll in sorted(project.collections.items()):
        ids = [e.paper for e in coll.papers]
        if paper_id in ids:
            i = ids.index(paper_id)
            before = [p for p in ids[:i] if p in pages]
            after = [p for p in ids[i + 1:] if p in pages]
            out.append(Neighbours(coll_id, i + 1, len(ids), coll.papers[i].label,
                                  before[-1] if before else None, after[0] if after else None))
    return out


def interface_strings(templates: Path) -> dict:
    """templates/strings.yaml, both languages; parsed once per version of the file (digest serve renders pages
    after every edit, and parsing it is a third of that)."""
    path = templates / "strings.yaml"
    return _parse_strings(path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _parse_strings(path: Path, mtime_ns: int) -> dict:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)  # libyaml's safe loader: a tenth of the time


def _trusted(strings):
    """Interface strings from templates/strings.yaml, marked safe: they are written by the maintainers."""
    if isinstance(strings, dict):
        return {k: _trusted(v) for k, v in strings.items()}
    if isinstance(strings, list):
        return [_trusted(v) for v in strings]
    return Interface(strings) if isinstance(strings, str) else strings


def venue_name(venue: str) -> str:
    """The venue without its year or note ("ICLR 2025 (as ...)" -> "ICLR"), so a filter gathers every year."""
    words = [w for w in venue.split(" (")[0].split() if not (w.isdigit() and len(w) == 4)]
    return " ".join(words) or venue


def listing_page_path(folder: str, page: int) -> str:
    """Where page `page` (from 1) of a listing lives: papers/index.md, papers/page/2.md, ..."""
    return f"{folder}/index.md" if page == 1 else f"{folder}/page/{page}.md"


def by_date(papers) -> list[Paper]:
    """Newest first (a year-only date sorts before the months of its year), then by id for stable output."""
    return sorted(papers, key=lambda p: (p.published, p.id), reverse=True)


def by_tag(papers) -> dict[str, list[Paper]]:
    """{tag: the papers that carry it, in the order given}, in one pass over the papers (a pass per tag, for the
    tag pages, their counts and their feeds, took seconds at 10,000 papers)."""
    out: dict[str, list[Paper]] = {}
    for paper in papers:
        for tag in dict.fromkeys(paper.tags):
            out.setdefault(tag, []).append(paper)
    return out


class Renderer:
    """Renders every page of one language: `iter_pages()` one at a time, `pages()` as {relative .md path: text}."""

    def __init__(self, project: Project, lang: str, templates: Path, demos: dict | None = None,
                 bibtex_entries: dict[str, str] | None = None, reuse: dict[str, str] | None = None):
        """`reuse`: {page path: key} of paper pages rendered before and still on disk (see `page_keys`); a page
        whose inputs hash to the same key is not rendered again (`iter_pages` gives None for its text)."""
        self.project, self.lang, self.demos = project, lang, demos or {}
        self.reuse, self.page_keys = reuse or {}, {}
        self._demo_keys: dict[tuple[str, str], str] = {}
        self.digested = project.digested
        self.inputs_key = _inputs_key(project, lang, templates)
        # Each record's BibTeX block, rendered once for both languages when the caller passes them.
        entries = bibtex_entries or {}
        strings = interface_strings(templates)
        self.t = _trusted(strings[lang])  # interface strings may hold Markdown; record text may not
        other = "zh" if lang == "en" else "en"
        self.terms = {t.en if lang == "en" else t.zh: (t.zh if lang == "en" else t.en)
                      for t in project.glossary.terms}
        # Compiled templates are kept between builds (by source and environment: digest/compiled.py) in .cache/.
        compiled = project.root / GENERATOR_CACHE
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates), autoescape=True,
                                      undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                      keep_trailing_newline=True, finalize=finalize,
                                      bytecode_cache=TemplateCache(compiled))
        self._rows: dict[tuple[str, str], Markup] = {}
        self.env.filters.update(tr=self.tr, md=self.md, html=self.html, cell=self.cell, tojson=self.tojson,
                                indent4=self.indent4, join=self.join, code=code_span, written=self.written,
                                written_title=self.written_title, venue_name=venue_name)
        run_keys = ("run", "running", "run_local", "run_took", "run_failed", "run_diff", "published", "this_run",
                    "metric", "passed", "failed", "not_run")
        # The Run box's strings, for the script that `digest serve` enables (a str: autoescaped in the attribute).
        self.env.globals["run_strings"] = json.dumps({k: self.t[k] for k in run_keys}, ensure_ascii=False)
        self.env.globals.update(t=self.t, lang=self.lang, other=other, project=project, tr=self.tr,
                                has=self.has, fence=lambda text, l="": Markup(fence(text, l)), code_block=code_block,
                                lang_names=LANG_NAMES, bibtex=lambda p: entries.get(p.id) or bibtex.entry_text(p), demos=self.demos,
                                neighbours=lambda pid: collection_neighbours(project, pid, self.digested),
                                lagging=self.lagging, table_row=self.table_row, queue_page=self.queue_page)
        # Which page of the reading queue lists each record (a collection links a queued paper to its row).
        queue = by_date(project.queue.values())
        self.queue_pages = {p.id: 1 + i // LISTING_PAGE_ROWS for i, p in enumerate(queue)}

    def table_row(self, paper: Paper, up: str) -> Markup:
        """A paper's row (HTML) in the tables of tag pages, made once per paper and page depth."""
        key = (paper.id, up)
        if key not in self._rows:
            self._rows[key] = self.env.get_template("_macros.j2").module.paper_row(paper, up)
        return self._rows[key]

    def queue_page(self, paper_id: str) -> str:
        """The reading queue's page (a path under the docs folder) that lists `paper_id`."""
        return Markup(listing_page_path("queue", self.queue_pages.get(paper_id, 1)))

    def lagging(self, paper: Paper) -> list[str]:
        """The fields of `paper` whose text in this language is a translation its source has moved on from."""
        return [item.field for item in stale_translations(self.project, paper.id) if item.target == self.lang]

    # ---- filters: record text in this language, made safe for Markdown -------------------------------------
    @staticmethod
    def written(value):
        """A draft's value, or "" where it still holds the scaffold's TODO (a list keeps its written items)."""
        if isinstance(value, (list, tuple)):
            return [v for v in value if not TODO.search(v)]
        return "" if value is None or TODO.search(str(value)) else value

    def written_title(self, paper: Paper) -> str:
        """The title in this language, else the other's, skipping a TODO; a draft with neither shows its id."""
        for lang in (self.lang, "zh" if self.lang == "en" else "en"):
            text = getattr(paper.title, lang)
            if text and not TODO.search(text):
                return text
        return paper.id

    def tr(self, text: Text | TextList | None):
        return "" if text is None else text.get(self.lang)

    def has(self, text: Text | TextList | None) -> bool:
        return text is not None and text.has(self.lang)

    def md(self, value, glossary: bool = False) -> Markup:
        text = self.tr(value) if isinstance(value, (Text, TextList)) else value
        return Markup(safe_markdown(text, self.terms if glossary else None))

    def html(self, value, glossary: bool = False, wrap: bool = True) -> Markup:
        """A Markdown field (a text, or a list as one list) as finished HTML (`record_html`): a block of its own,
        or (not `wrap`) the HTML alone, to go into a finished block of the template's."""
        text = self.tr(value) if isinstance(value, (Text, TextList)) else value
        if isinstance(text, list):
            return record_list_html(text)
        return record_html(text, self.terms if glossary else None, wrap=wrap)

    @staticmethod
    def cell(value) -> Markup:
        """Text for a Markdown table cell: plain text (pipes and line breaks included); trusted Markup passes."""
        return value if isinstance(value, Markup) else Markup(plain_text(value if value is not None else ""))

    @staticmethod
    def join(items, separator: str = "", attribute: str | None = None) -> Markup:
        """Jinja's `join`, each item finalized as plain text (Jinja's own would only HTML-escape them)."""
        items = [getattr(i, attribute) for i in items] if attribute else items
        return Markup(finalize(separator)).join(finalize(i) if isinstance(i, str) else i for i in items)

    @staticmethod
    def tojson(value) -> Markup:
        return Markup(json.dumps(value, ensure_ascii=False).replace("<", "\\u003c"))

    @staticmethod
    def indent4(text) -> Markup:
        return Markup("\n".join(("    " + line) if line.strip() else "" for line in str(text).splitlines()))

    # ---- pages --------------------------------------------------------------------------------------------
    def render(self, template: str, **context) -> str:
        return self.env.get_template(template).render(**context)

    def sorted_papers(self) -> list[Paper]:
        """The digested papers, the only ones with pages, newest first."""
        return by_date(self.project.digested.values())

    def paper_page(self, paper: Paper) -> str:
        return self.render("paper.md.j2", paper=paper, root="../")

    def listing(self, folder: str, papers: list[Paper], queue: bool) -> Iterator[tuple[str, str | None]]:
        """A listing's pages of LISTING_PAGE_ROWS rows each (None: current on disk, see `keyed`), and its
        rows.json (every row, for listing.js)."""
        chunks = [papers[i:i + LISTING_PAGE_ROWS] for i in range(0, len(papers), LISTING_PAGE_ROWS)] or [[]]
        filters = self.listing_filters(papers)
        for n, rows in enumerate(chunks, 1):
            # Page 1's filters count over every paper; each page shows its own rows.
            inputs = [folder, str(n), str(len(chunks)), str(queue)] + [self.row_key(p) for p in rows] + (
                [json.dumps(filters, sort_keys=True)] if n == 1 else [])
            yield self.keyed(listing_page_path(folder, n), inputs, lambda: self.render(
                "listing.md.j2", filters=filters, rows=rows, page=n, pages=len(chunks), queue=queue))
        # rows.json holds what the rows show: kept by the same keys (a second at 10,000 papers made it again).
        yield self.keyed(f"{folder}/rows.json", [str(queue)] + [self.row_key(p) for p in papers],
                         lambda: self.listing_rows(papers, queue))

    def listing_filters(self, papers: list[Paper]) -> dict:
        """All that a listing's first page reads of the papers besides its own rows: its filters' choices and
        counts, and the numbers in its introduction. (So an edit that changes no count leaves page 1 as it is,
        unless the paper is one of its rows.)"""
        venues: Counter = Counter()
        tag_counts: Counter = Counter()
        for p in papers:
            if self.written(p.venue):
                venues[venue_name(p.venue)] += 1
            tag_counts.update(p.tags)
        return {"venues": dict(venues), "tag_counts": dict(tag_counts),
                "years": sorted({p.published.year for p in papers}, reverse=True), "total": len(papers),
                "n_impl": sum(1 for p in papers if p.impl), "n_queued": sum(1 for p in papers if p.status == "queued")}

    def keyed(self, rel: str, inputs: list[str], make: Callable[[], str]) -> tuple[str, str | None]:
        """(rel, the page's text), or (rel, None) when the page on disk (`reuse`) was made from the same
        `inputs`: the papers' rows' keys (`row_key`) and the page's place in its list, besides what every page
        shares (templates, strings, tags, glossary, generator: `inputs_key`)."""
        key = hashlib.sha256("\0".join([self.inputs_key, rel, *inputs]).encode()).hexdigest()
        self.page_keys[rel] = key
        return rel, None if self.reuse.get(rel) == key else make()

    def row_key(self, paper: Paper) -> str:
        """A hash of what a paper's row in a listing or a tag's table is made from: the record but its prose
        (`ROW_UNSHOWN`) and its demo's outcome (once per paper and build). So an edit of a paper's summary makes its
        page again and leaves the listing's and its tags' pages as they are."""
        return self._record_key(paper, row=True)

    def _record_key(self, paper: Paper, row: bool = False) -> str:
        """A hash of the record (but its prose, `ROW_UNSHOWN`, for a `row`) and of its demo's outcome."""
        digest = self.project.digests(paper)[row]
        run = self.demos.get(paper.id)
        if run is None:
            return digest
        key = self._demo_keys.get((digest, paper.id))
        if key is None:  # once per paper and build: a demo's outcome is long
            key = self._demo_keys[digest, paper.id] = hashlib.sha256(
                (digest + repr(dataclasses.replace(run, cached=False))).encode()).hexdigest()
        return key

    def listing_rows(self, papers: list[Paper], queue: bool) -> str:
        """Every row of a listing as JSON, with the words its cells need: listing.js builds the same rows as the
        template from it (a compact fraction of the rows' HTML)."""
        t, rows = self.t, []
        for p in papers:
            row = {"id": p.id, "date": p.published.isoformat(), "venue": venue_name(p.venue) if self.written(p.venue) else ""}
            if queue:
                authors = self.written(p.authors)
                links = [[str(t["arxiv"]), "https://arxiv.org/abs/" + p.arxiv]] if p.arxiv else []
                links += [[str(t[label]), getattr(p.links, key)] for key, label in
                          [("pdf", "pdf"), ("code", "code"), ("project", "project"), ("openreview", "openreview"),
                           ("article", "article_link")] if getattr(p.links, key)]
                links += [["DOI", "https://doi.org/" + p.doi]] if p.doi else []
                row.update(title=self.written_title(p), venue_text=self.written(p.venue), state=p.status, links=links,
                           authors=", ".join(authors[:3]) + (f" {t['et_al']}" if len(authors) > 3 else ""))
            else:
                demo = self.demos.get(p.id)
                row.update(title=self.tr(p.title), venue_text=p.venue, tags=list(p.tags),
                           impl="yes" if p.impl else "no", code=bool(p.impl and demo))
                if p.impl and demo and p.claims:
                    row["claims"] = str(t["claims_passing"].format(k=demo.claims_passed, n=len(p.claims)))
            rows.append(row)
        words = {key: str(t[key]) for key in ("implemented", "no_impl", "state_queued", "state_draft")}
        data = {"rows": rows, "words": words,
                "tags": {tag_id: self.tr(tag) for tag_id, tag in sorted(self.project.tags.items())}}
        text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        # No record text reads as markup if the file is ever sniffed as HTML.
        return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e") + "\n"

    def paper_page_key(self, paper: Paper) -> str:
        """A hash of everything a paper's page is made from: the templates, generator, glossary and tags (one key
        per Renderer), the whole record and its demo's outputs, its BibTeX and its neighbours in collections."""
        h = hashlib.sha256(self.inputs_key.encode())
        h.update(self._record_key(paper).encode())
        h.update(self.env.globals["bibtex"](paper).encode())
        for n in collection_neighbours(self.project, paper.id, self.digested):
            coll = self.project.collections[n.collection]
            h.update(repr((n, coll.title, [(i, self.project.papers[i].title) for i in (n.previous, n.next) if i]))
                     .encode())
        return h.hexdigest()

    def pages(self) -> dict[str, str | None]:
        return dict(self.iter_pages())

    def iter_pages(self) -> Iterator[tuple[str, str | None]]:
        """Each page and data file as (relative path, text), made when asked for: a language's pages at 10,000
        papers are hundreds of MB of text, which the build writes one by one instead of holding. The text is None
        for a paper page that `reuse` says is current on disk."""
        project = self.project
        papers = self.sorted_papers()
        queue = by_date(project.queue.values())
        tagged_by = by_tag(papers)
        tag_counts = {tag: len(tagged_by.get(tag, ())) for tag in project.tags}
        # The latest additions: most recently added first (as the feed), newest published first among papers added
        # together (`papers` comes newest published first and the sort is stable); by date alone if any lacks one.
        latest = papers if any(p.added is None for p in papers) else sorted(papers, key=lambda p: p.added,
                                                                              reverse=True)
        yield "index.md", self.render("home.md.j2", papers=papers, root="", tag_counts=tag_counts, queue=queue,
                                      latest=latest[:6], n_impl=sum(1 for p in papers if p.impl))
        yield from self.listing("papers", papers, queue=False)
        yield from self.listing("queue", queue, queue=True)
        for paper in papers:
            rel, key = f"papers/{paper.id}.md", self.paper_page_key(paper)
            self.page_keys[rel] = key
            yield rel, None if self.reuse.get(rel) == key else self.paper_page(paper)
            if paper.impl is not None and paper.id in self.demos:
                yield f"code/{paper.id}.md", self.render("source.md.j2", paper=paper, root="../",
                                                         demo=self.demos[paper.id])
        yield "tags/index.md", self.render("tags.md.j2", tag_counts=tag_counts, root="../")
        for tag_id, tag in sorted(project.tags.items()):
            tagged = tagged_by.get(tag_id, [])
            # LISTING_PAGE_ROWS to a page, like the papers listing (a tag of 583 papers was a 344 KB page).
            chunks = [tagged[i:i + LISTING_PAGE_ROWS] for i in range(0, len(tagged), LISTING_PAGE_ROWS)]
            for n, rows in enumerate(chunks, 1):
                # The description names the tag's first three papers and counts them all: the template gets just
                # these, so the key holds all it reads.
                first = tagged[:3]
                inputs = [str(n), str(len(chunks)), str(len(tagged))] + [self.row_key(p) for p in first + rows]
                yield self.keyed(f"tags/{tag_id}.md" if n == 1 else f"tags/{tag_id}/page/{n}.md", inputs,
                                 lambda: self.render("tag.md.j2", tag_id=tag_id, tag=tag, first=first,
                                                     total=len(tagged), rows=rows, page=n, pages=len(chunks),
                                                     root="../" if n == 1 else "../../../"))
        yield "collections/index.md", self.render("collections.md.j2", root="../")
        for coll_id, coll in sorted(project.collections.items()):
            yield f"collections/{coll_id}.md", self.render("collection.md.j2", coll_id=coll_id, coll=coll,
                                                           root="../")
        yield "glossary.md", self.render("glossary.md.j2", root="")


def _inputs_key(project: Project, lang: str, templates: Path) -> str:
    """A hash of what every paper page shares: the language, the templates and interface strings, the generator's
    code and the version of cmark-gfm that converts the records' text (record_html), the glossary and the tag
    vocabulary."""
    h = hashlib.sha256(lang.encode() + importlib.metadata.version("cmarkgfm").encode())
    folders = [templates, Path(__file__).parent]
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and "assets" not in path.relative_to(folder).parts:
                h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(repr(project.glossary).encode())
    h.update(repr(sorted(project.tags.items())).encode())
    return h.hexdigest()
