"""BibTeX out of records (each page's block and the site-wide `papers.bib`), through bibtexparser.

Import (BibTeX -> records) lives in `digest/importer.py`; both use the same field mapping so that
import -> export -> import is the identity.
"""

from __future__ import annotations

import bibtexparser
from bibtexparser.model import Entry, Field

from digest.schema import Paper

LATEX_SPECIALS = {"&": r"\&", "%": r"\%", "#": r"\#"}


def _latex(text: str) -> str:
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in text)


def entry_for(paper: Paper) -> Entry:
    """The BibTeX entry of a record: type and key from `citation`, the rest from the metadata."""
    c = paper.citation
    fields = [
        ("title", "{" + _latex(paper.title.en or paper.title.zh) + "}"),  # inner braces keep the title's case
        ("author", " and ".join(paper.authors)),
        ("year", str(c.year or paper.published.year)),
    ]
    for name in ("journal", "booktitle", "publisher", "volume", "number", "pages"):
        if getattr(c, name):
            fields.append((name, _latex(getattr(c, name))))
    if c.type == "misc" and not (c.journal or c.booktitle) and paper.kind == "article":
        fields.append(("howpublished", _latex(paper.venue)))
    if paper.arxiv:
        fields += [("eprint", paper.arxiv), ("archivePrefix", "arXiv")]
    if paper.doi:
        fields.append(("doi", paper.doi))
    url = paper.links.article or (f"https://arxiv.org/abs/{paper.arxiv}" if paper.arxiv else paper.links.pdf)
    if url:
        fields.append(("url", url))
    return Entry(c.type, c.key, [Field(k, v) for k, v in fields])


def library_text(papers: list[Paper]) -> str:
    """A .bib file of `papers`, in the given order."""
    library = bibtexparser.Library()
    for paper in papers:
        library.add(entry_for(paper))
    return bibtexparser.write_string(library)


def entry_text(paper: Paper) -> str:
    return library_text([paper]).strip() + "\n"
