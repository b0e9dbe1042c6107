"""BibTeX out of records (each page's block and the site-wide `papers.bib`), through bibtexparser.

Import (BibTeX -> records) lives in `digest/importer.py`; both use the same field mapping so that
import -> export -> import is the identity. The one `url` of an entry carries the record's first link among
article, openreview, pdf (unless it is arXiv's own), project and code, else the arXiv abstract page: the arXiv
id already travels in `eprint`, so `url` keeps the link nothing else carries.
"""

from __future__ import annotations

import bibtexparser
from bibtexparser import middlewares
from bibtexparser.model import Entry, Field

from digest.problems import DigestError
from digest.schema import Paper

LATEX_SPECIALS = {"&": r"\&", "%": r"\%", "#": r"\#"}
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def _latex(text: str) -> str:
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in text)


def entry_for(paper: Paper) -> Entry:
    """The BibTeX entry of a record: type and key from `citation`, the rest from the metadata."""
    c = paper.citation
    fields = [
        ("title", "{" + _latex(paper.title.en or paper.title.zh) + "}"),  # inner braces keep the title's case
        ("author", " and ".join(_author(name) for name in paper.authors)),
        ("year", str(c.year or paper.published.year)),
    ]
    # The month is the published date's (when it has one), unless `year` is another year's.
    date = paper.published
    month = None if c.year or date.month is None else \
        Field("month", MONTHS[date.month - 1], enclosing="no-enclosing")
    for name in ("journal", "booktitle", "publisher", "volume", "number", "pages"):
        if getattr(c, name):
            fields.append((name, _latex(getattr(c, name))))
    # A misc entry names its venue in howpublished, unless the eprint fields already say "arXiv".
    if c.type == "misc" and not (c.journal or c.booktitle) and paper.venue and "TODO" not in paper.venue \
            and not (paper.arxiv and paper.venue == "arXiv"):
        fields.append(("howpublished", _latex(paper.venue)))
    if paper.arxiv:
        fields += [("eprint", paper.arxiv), ("archivePrefix", "arXiv")]
    if paper.doi:
        fields.append(("doi", paper.doi))
    if url := entry_url(paper):
        fields.append(("url", url))
    out = [Field(k, v) for k, v in fields]
    return Entry(c.type, c.key, out[:3] + [month] + out[3:] if month else out)


def entry_url(paper: Paper) -> str | None:
    """The link the entry's `url` carries (see the module docstring for the order)."""
    links = paper.links
    arxiv_pdf = links.pdf is not None and links.pdf.startswith("https://arxiv.org/")
    for link in (links.article, links.openreview, None if arxiv_pdf else links.pdf, links.project, links.code):
        if link:
            return link
    return f"https://arxiv.org/abs/{paper.arxiv}" if paper.arxiv else links.pdf


def _author(name: str) -> str:
    """One author for the `and`-separated list: braced when it holds a comma or a word `and`."""
    return "{" + name + "}" if "," in name or " and " in f" {name} " else name


def library_text(papers: list[Paper]) -> str:
    """A .bib file of `papers`, in the given order."""
    library = bibtexparser.Library()
    for paper in papers:
        try:
            library.add(entry_for(paper))
        except Exception as exc:  # noqa: BLE001 - bibtexparser's message speaks of its API, not of the record
            raise DigestError(f"BibTeX of `{paper.id}` (key `{paper.citation.key}`) could not be written: "
                              f"{type(exc).__name__}; `digest check` finds duplicate keys first, so this is a "
                              "bug: please report it with the record") from None
    # The library is made here and dropped after: written in place (bibtexparser deep-copies every block
    # otherwise, and says so on stderr above a few thousand entries).
    return bibtexparser.write_string(library, unparse_stack=middlewares.default_unparse_stack(
        allow_inplace_modification=True))


def entry_text(paper: Paper) -> str:
    return library_text([paper]).strip() + "\n"


def library_of(entries: list[str]) -> str:
    """The .bib file of papers whose `entry_text`s are `entries`, in that order: what `library_text` writes
    (bibtexparser puts a blank line between blocks), without making each entry again."""
    return "\n\n".join(entries)
